// Package web is the API service's HTTP surface: the server-rendered web app
// (accounts, dashboard, settings, admin), the JSON API behind it, the live
// updates stream, the links in alert emails, the mail provider's webhooks
// and the system health report.
package web

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"

	"github.com/pickmyclass/pickmyclass/pkg/breaker"
	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/channel"
	"github.com/pickmyclass/pickmyclass/pkg/check"
	"github.com/pickmyclass/pickmyclass/pkg/notify"
	"github.com/pickmyclass/pickmyclass/pkg/store"
	"github.com/pickmyclass/pickmyclass/pkg/stream"
)

// Monitor reads the pipeline's shared state for the health report and the
// admin overview.
type Monitor interface {
	Ping(ctx context.Context) error
	Breaker(ctx context.Context) (breaker.Snapshot, error)
	Queue(ctx context.Context) (stream.Stats, error)
	Heartbeat(ctx context.Context) (check.Heartbeat, error)
}

// Tokens signs and checks the stateless unsubscribe tokens.
type Tokens interface {
	Sign(userID int64, purpose string, expires time.Time) string
	Verify(token, purpose string, now time.Time) (int64, error)
}

// Catalog is the part of the university's class search the web app uses:
// validating a new watch (its section, or its course's sections) and
// listing terms.
type Catalog interface {
	Section(ctx context.Context, key catalog.SectionKey) (catalog.Section, error)
	Course(ctx context.Context, key catalog.CourseKey) ([]catalog.Section, error)
	Terms(ctx context.Context) ([]catalog.Term, error)
}

// Outbox sends the mail the handlers queue in the database.
type Outbox interface {
	// Wake asks for queued mail to be sent now; it never blocks.
	Wake()
}

// Deps are what the server needs.
type Deps struct {
	Log     zerolog.Logger
	DB      *store.DB
	Redis   redis.UniversalClient
	Keys    check.Keys
	Monitor Monitor
	Tokens  Tokens
	Catalog Catalog
	// Breaker guards the class search; lookups go through it.
	Breaker Breaker
	Outbox  Outbox
	// Updates fans section changes out to the live dashboards.
	Updates *Hub
	// BaseURL is the public origin, e.g. https://pickmyclass.app. An https
	// origin makes cookies Secure and turns HSTS on.
	BaseURL           string
	SchedulerInterval time.Duration
	// TrustedProxies lists CIDRs (comma-separated) whose X-Forwarded-For is
	// believed; empty trusts none, so a client cannot spoof its address.
	TrustedProxies string
	// Streams bound the live-update streams.
	Streams StreamLimits
	// WatchLimit caps each user's watches (default store.DefaultWatchLimit).
	WatchLimit int
	// LookupsPerMinute caps each user's class-search lookups when adding
	// watches (default 10); cached answers are free.
	LookupsPerMinute int
	// PasswordCost is the bcrypt cost (default DefaultPasswordCost; tests
	// use bcrypt.MinCost).
	PasswordCost int
	// AuthRatePerMinute caps auth requests per client IP (default 20).
	AuthRatePerMinute int
	// ResendWebhookSecret ("whsec_…") verifies Resend's Svix-signed
	// webhooks; EmailWebhookSecret the generic signed format. Unset
	// disables the endpoint.
	ResendWebhookSecret string
	EmailWebhookSecret  string
	// Channels sends verification codes and test alerts to alert channels
	// and validates their URLs; nil makes a client without web push.
	Channels *channel.Client
	Now      func() time.Time
}

// app holds the handlers' dependencies.
type app struct {
	Deps
	secure    bool
	termCache termCache
	streams   streamSlots
	// dummyHash, at PasswordCost, is compared against when no account has
	// the email, so a failed login takes as long whether or not the
	// account exists.
	dummyHash []byte
}

// NewServer returns the HTTP handler of the API service.
func NewServer(d Deps) (*echo.Echo, error) {
	if d.DB == nil || d.Redis == nil || d.Monitor == nil || d.Tokens == nil || d.Catalog == nil || d.Breaker == nil || d.Outbox == nil || d.Updates == nil {
		return nil, errors.New("web: DB, Redis, Monitor, Tokens, Catalog, Breaker, Outbox and Updates are required")
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Channels == nil {
		d.Channels = channel.New(channel.Options{})
	}
	if d.WatchLimit <= 0 {
		d.WatchLimit = store.DefaultWatchLimit
	}
	d.Streams.setDefaults()
	if d.LookupsPerMinute <= 0 {
		d.LookupsPerMinute = defaultLookupRate
	}
	if d.AuthRatePerMinute <= 0 {
		d.AuthRatePerMinute = 20
	}
	d.BaseURL = strings.TrimRight(d.BaseURL, "/")
	if d.BaseURL == "" {
		d.BaseURL = "http://localhost:8080"
	}
	if d.PasswordCost == 0 {
		d.PasswordCost = DefaultPasswordCost
	}
	dummy, err := bcrypt.GenerateFromPassword([]byte("not the password of anyone"), d.PasswordCost)
	if err != nil {
		return nil, fmt.Errorf("web: password cost: %w", err)
	}
	a := &app{Deps: d, secure: strings.HasPrefix(d.BaseURL, "https://"), dummyHash: dummy}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	extractor, err := ipExtractor(d.TrustedProxies)
	if err != nil {
		return nil, err
	}
	e.IPExtractor = extractor
	e.HTTPErrorHandler = a.errorHandler
	e.Use(middleware.RequestID())
	e.Use(requestLogger(d.Log))
	e.Use(middleware.Recover())
	e.Use(middleware.BodyLimit("64K"))
	e.Use(a.securityHeaders)
	e.Use(a.csrf)
	e.Use(a.loadSession)
	a.routes(e)
	return e, nil
}

// contentSecurityPolicy allows scripts and styles from our own origin only:
// no inline script, no third parties.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

func (a *app) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "strict-origin-when-cross-origin")
		h.Set("Permissions-Policy", "geolocation=(), microphone=(), camera=(), payment=(), usb=()")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		if a.secure {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		// JSON answers carry accounts, watches and tokens: no cache, shared
		// or private, may keep them.
		res := c.Response()
		res.Before(func() {
			if strings.HasPrefix(h.Get(echo.HeaderContentType), echo.MIMEApplicationJSON) && h.Get("Cache-Control") == "" {
				h.Set("Cache-Control", "no-store")
			}
		})
		return next(c)
	}
}

func (a *app) routes(e *echo.Echo) {
	// Public.
	e.GET("/", a.landing)
	e.GET("/legal/terms", a.static("terms", "Terms of Service"))
	e.GET("/legal/privacy", a.static("privacy", "Privacy Policy"))
	e.GET("/robots.txt", a.robots)
	e.GET("/sitemap.xml", a.sitemap)
	e.GET("/static/*", staticHandler())
	e.GET("/api/monitoring/health", a.health)
	e.GET("/go/asu", a.goASU)
	e.GET(notify.UnsubscribePath, a.unsubscribePage)
	e.POST(notify.UnsubscribePath, a.unsubscribe)
	// Mail clients without RFC 8058 support open the List-Unsubscribe link
	// in a browser: the GET shows the confirmation page, changing nothing.
	e.GET(notify.OneClickUnsubscribePath, a.unsubscribePage)
	e.POST(notify.OneClickUnsubscribePath, a.unsubscribe)
	e.POST("/api/webhooks/resend", a.resendWebhook)
	e.POST("/api/webhooks/email", a.genericWebhook)

	// Accounts. Every POST is rate limited per client.
	rl := a.authRateLimit
	e.GET("/register", a.registerPage)
	e.POST("/register", a.registerForm, rl)
	e.GET("/login", a.loginPage)
	e.POST("/login", a.loginForm, rl)
	e.POST("/logout", a.logoutForm)
	e.GET("/forgot-password", a.forgotPage)
	e.POST("/forgot-password", a.forgotForm, rl)
	e.GET("/reset-password", a.resetPage)
	e.POST("/reset-password", a.resetForm, rl)
	e.GET("/verify-email", a.verifyPage)
	e.POST("/verify-email", a.verifyForm, rl)
	e.POST("/verify-email/resend", a.resendForm, rl, a.requireUser)

	e.GET("/api/auth/csrf", a.apiCSRF)
	e.GET("/api/auth/me", a.apiMe, a.requireUser)
	e.POST("/api/auth/register", a.apiRegister, rl)
	e.POST("/api/auth/login", a.apiLogin, rl)
	e.POST("/api/auth/logout", a.apiLogout)
	e.POST("/api/auth/forgot-password", a.apiForgot, rl)
	e.POST("/api/auth/reset-password", a.apiReset, rl)
	e.POST("/api/auth/verify-email", a.apiVerify, rl)
	e.POST("/api/auth/resend-verification", a.apiResend, rl, a.requireUser)

	// The signed-in, verified user's own data.
	u := []echo.MiddlewareFunc{a.requireUser, a.requireVerified}
	e.GET("/dashboard", a.dashboard, u...)
	e.GET("/dashboard/add", a.addWatchPage, u...)
	e.POST("/dashboard/add", a.addWatchForm, u...)
	e.GET("/watches/:id/delete", a.deleteWatchPage, u...)
	e.POST("/watches/:id/delete", a.deleteWatchForm, u...)
	e.GET("/watches/:id/settings", a.watchSettingsPage, u...)
	e.POST("/watches/:id/settings", a.watchSettingsForm, u...)
	e.POST("/watches/:id/pause", a.pauseWatchForm, u...)
	e.POST("/watches/:id/resume", a.resumeWatchForm, u...)
	e.POST("/settings/alerts-pause", a.pauseAlertsForm, u...)
	e.POST("/settings/alerts-resume", a.resumeAlertsForm, u...)
	e.GET("/sections/:term/:classNbr", a.sectionPage, u...)
	e.GET("/settings", a.settingsPage, u...)
	e.POST("/settings/notifications", a.notificationsForm, u...)
	e.POST("/settings/password", a.passwordForm, u...)
	e.POST("/settings/delete", a.deleteAccountForm, u...)
	e.POST("/settings/sessions/:handle/revoke", a.revokeSessionForm, u...)
	// Alert channels. The routes that send to a channel are rate limited:
	// each makes a request to an address the user typed.
	e.POST("/settings/channels", a.addChannelForm, append(u, rl)...)
	e.POST("/settings/channels/:id/verify", a.channelForm("channel-verified", a.verifyChannelForm), append(u, rl)...)
	e.POST("/settings/channels/:id/resend", a.channelForm("code-sent", a.resendCodeForm), append(u, rl)...)
	e.POST("/settings/channels/:id/test", a.channelForm("channel-test", a.testChannelForm), append(u, rl)...)
	e.POST("/settings/channels/:id/events", a.channelForm("channel-events", a.channelEventsForm), u...)
	e.POST("/settings/channels/:id/delete", a.channelForm("channel-removed", a.deleteChannelForm), u...)

	e.GET("/api/class-watches", a.apiListWatches, u...)
	e.POST("/api/class-watches", a.apiCreateWatch, u...)
	e.DELETE("/api/class-watches", a.apiDeleteWatch, u...)
	e.DELETE("/api/class-watches/:id", a.apiDeleteWatch, u...)
	e.PATCH("/api/class-watches/:id", a.apiUpdateWatch, u...)
	e.GET("/api/terms", a.apiTerms, u...)
	e.GET("/api/sections/:term/:classNbr", a.apiSection, u...)
	e.GET("/api/events", a.events, u...)
	e.GET("/api/user/export", a.apiExport, u...)
	e.PUT("/api/user/alerts-pause", a.apiPauseAlerts, u...)
	e.POST("/api/user/alerts-pause", a.apiPauseAlerts, u...)
	e.PUT("/api/user/notifications", a.apiNotifications, u...)
	e.POST("/api/user/password", a.apiPassword, u...)
	e.DELETE("/api/user", a.apiDeleteAccount, u...)
	e.GET("/api/user/sessions", a.apiSessions, u...)
	e.DELETE("/api/user/sessions/:handle", a.apiRevokeSession, u...)
	e.GET("/api/channels", a.apiListChannels, u...)
	e.POST("/api/channels", a.apiCreateChannel, append(u, rl)...)
	e.POST("/api/channels/push", a.apiCreatePush, append(u, rl)...)
	e.POST("/api/channels/:id/verify", a.apiVerifyChannel, append(u, rl)...)
	e.POST("/api/channels/:id/resend-code", a.apiResendCode, append(u, rl)...)
	e.POST("/api/channels/:id/test", a.apiTestChannel, append(u, rl)...)
	e.PUT("/api/channels/:id/events", a.apiChannelEvents, u...)
	e.DELETE("/api/channels/:id", a.apiDeleteChannel, u...)

	// The operator.
	ad := []echo.MiddlewareFunc{a.requireUser, a.requireAdmin}
	e.GET("/admin", a.adminOverview, ad...)
	e.GET("/admin/users", a.adminUsers, ad...)
	e.GET("/admin/users/:id", a.adminUser, ad...)
	e.POST("/admin/users/:id/disable", a.adminSetDisabled(disableAccount), ad...)
	e.POST("/admin/users/:id/enable", a.adminSetDisabled(enableAccount), ad...)
	e.GET("/admin/classes", a.adminClasses, ad...)
	e.GET("/admin/classes/:term/:classNbr", a.adminClass, ad...)
	e.GET("/admin/dead-letters", a.adminDeadLetters, ad...)
	e.POST("/admin/dead-letters/:id/replay", a.adminDeadLetter(replayDeadLetter), ad...)
	e.POST("/admin/dead-letters/:id/discard", a.adminDeadLetter(discardDeadLetter), ad...)
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

func itoa(n int) string { return strconv.Itoa(n) }

// isNotFound reports whether a handler should answer 404.
func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

var _ = http.StatusOK
