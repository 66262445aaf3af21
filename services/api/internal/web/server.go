// Package web is the API service's HTTP surface. For now it serves the
// system health report, the catalog redirect used by alert emails and the
// unsubscribe endpoints those emails link to; the full web app builds on it.
package web

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/rs/zerolog"

	"github.com/pickmyclass/pickmyclass/pkg/breaker"
	"github.com/pickmyclass/pickmyclass/pkg/stream"
)

// Store is the part of the database the web layer uses.
type Store interface {
	Ping(ctx context.Context) error
	MarkUnsubscribed(ctx context.Context, userID int64) error
}

// Monitor reads the pipeline's shared state for the health report.
type Monitor interface {
	Ping(ctx context.Context) error
	Breaker(ctx context.Context) (breaker.Snapshot, error)
	Queue(ctx context.Context) (stream.Stats, error)
	Heartbeat(ctx context.Context) (Heartbeat, error)
}

// Heartbeat is the scheduler's record of its last enqueue run.
type Heartbeat struct {
	Cycle       string    `json:"cycle"`
	CompletedAt time.Time `json:"completed_at"`
	Enqueued    int       `json:"enqueued"`
}

// Verifier checks signed unsubscribe tokens.
type Verifier interface {
	Verify(token, purpose string, now time.Time) (int64, error)
}

// Deps are what the server needs.
type Deps struct {
	Log               zerolog.Logger
	Store             Store
	Monitor           Monitor
	Tokens            Verifier
	SchedulerInterval time.Duration
	// TrustedProxies lists CIDRs (comma-separated) whose X-Forwarded-For is
	// believed; empty trusts none, so a client cannot spoof its address.
	TrustedProxies string
	Now            func() time.Time
}

// NewServer returns the HTTP handler of the API service.
func NewServer(d Deps) (*echo.Echo, error) {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	extractor, err := ipExtractor(d.TrustedProxies)
	if err != nil {
		return nil, err
	}
	e.IPExtractor = extractor
	e.HTTPErrorHandler = errorHandler(d.Log)
	e.Use(middleware.RequestID())
	e.Use(requestLogger(d.Log))
	e.Use(middleware.Recover())
	e.Use(middleware.BodyLimit("64K"))
	e.Use(middleware.SecureWithConfig(middleware.SecureConfig{
		XSSProtection: "0", ContentTypeNosniff: "nosniff", XFrameOptions: "DENY",
		ReferrerPolicy:        "strict-origin-when-cross-origin",
		ContentSecurityPolicy: "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
	}))

	h := &handlers{Deps: d}
	e.GET("/api/monitoring/health", h.health)
	e.GET("/go/asu", h.goASU)
	e.GET("/unsubscribe", h.unsubscribePage)
	e.POST("/unsubscribe", h.unsubscribe)
	e.POST("/api/unsubscribe", h.unsubscribe)
	return e, nil
}

func ipExtractor(trusted string) (echo.IPExtractor, error) {
	if strings.TrimSpace(trusted) == "" {
		return echo.ExtractIPDirect(), nil
	}
	var opts []echo.TrustOption
	for _, c := range strings.Split(trusted, ",") {
		_, n, err := net.ParseCIDR(strings.TrimSpace(c))
		if err != nil {
			return nil, errors.New("API_TRUSTED_PROXIES: " + err.Error())
		}
		opts = append(opts, echo.TrustIPRange(n))
	}
	opts = append(opts, echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false))
	return echo.ExtractIPFromXFFHeader(opts...), nil
}

func requestLogger(log zerolog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			id := c.Response().Header().Get(echo.HeaderXRequestID)
			l := log.With().Str("request_id", id).Logger()
			c.SetRequest(c.Request().WithContext(l.WithContext(c.Request().Context())))
			err := next(c)
			if err != nil {
				c.Error(err)
			}
			l.Info().Str("method", c.Request().Method).Str("path", c.Path()).Int("status", c.Response().Status).
				Dur("took", time.Since(start)).Str("ip", c.RealIP()).Msg("request")
			return nil
		}
	}
}

// errorHandler is the one place errors become responses: JSON for /api/*
// and clients asking for JSON, plain text otherwise. Unknown errors are
// logged and answered with a generic 500.
func errorHandler(log zerolog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		status, msg := http.StatusInternalServerError, "internal server error"
		var he *echo.HTTPError
		if errors.As(err, &he) {
			status = he.Code
			if m, ok := he.Message.(string); ok {
				msg = m
			} else {
				msg = http.StatusText(status)
			}
		} else {
			zerolog.Ctx(c.Request().Context()).Error().Err(err).Msg("request failed")
		}
		if strings.HasPrefix(c.Request().URL.Path, "/api/") || strings.Contains(c.Request().Header.Get("Accept"), "application/json") {
			_ = c.JSON(status, map[string]any{"error": msg, "details": []any{}})
			return
		}
		_ = c.String(status, msg)
	}
}
