// Package obs holds what every PickMyClass service needs to be observed: the
// root zerolog logger and the ops HTTP server with Prometheus /metrics,
// liveness (/healthz) and readiness (/readyz) endpoints.
package obs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
)

// LogConfig is the logging part of every service's configuration.
type LogConfig struct {
	Level  string // LOG_LEVEL: debug, info, warn, error
	Format string // LOG_FORMAT: json or console
}

// ParseLogConfig reads LOG_LEVEL and LOG_FORMAT and validates them.
func ParseLogConfig(getenv func(string) string) (LogConfig, error) {
	c := LogConfig{Level: strings.ToLower(getenv("LOG_LEVEL")), Format: strings.ToLower(getenv("LOG_FORMAT"))}
	if c.Level == "" {
		c.Level = "info"
	}
	if c.Format == "" {
		c.Format = "json"
	}
	var errs []error
	if _, err := zerolog.ParseLevel(c.Level); err != nil || c.Level == "" {
		errs = append(errs, fmt.Errorf("LOG_LEVEL %q: want debug, info, warn or error", c.Level))
	}
	if c.Format != "json" && c.Format != "console" {
		errs = append(errs, fmt.Errorf("LOG_FORMAT %q: want json or console", c.Format))
	}
	return c, errors.Join(errs...)
}

var setDefault sync.Once

// NewLogger returns the root logger of a service, tagged with its name and
// version, and makes it the default for zerolog.Ctx.
func NewLogger(w io.Writer, cfg LogConfig, service, version string) zerolog.Logger {
	if cfg.Format == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
	}
	level, err := zerolog.ParseLevel(cfg.Level)
	if err != nil || cfg.Level == "" {
		level = zerolog.InfoLevel
	}
	log := zerolog.New(w).Level(level).With().Timestamp().Str("service", service).Str("version", version).Logger()
	// zerolog's settings are process-wide: the first service logger set up
	// in the process provides them (tests run several services in one
	// process, and rewriting them would race with their logging).
	setDefault.Do(func() {
		zerolog.TimeFieldFormat = time.RFC3339Nano
		zerolog.DefaultContextLogger = &log
	})
	return log
}

// Check is one readiness check: nil means ready.
type Check func(ctx context.Context) error

// NewRegistry returns a Prometheus registry with the Go and process
// collectors registered.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Register registers c on reg and returns it; when a collector of the same
// type is registered already under the same description it returns that one
// instead, so two components of one process (two SMTP senders, a breaker
// built twice in a test) share their series rather than fail.
func Register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, fmt.Errorf("register metrics: %w", err)
}

// OpsHandler serves /metrics from reg, /healthz (the process is alive),
// /readyz (every check passes within two seconds) and pprof under
// /debug/pprof/. The ops port is internal: it is never exposed publicly.
func OpsHandler(reg prometheus.Gatherer, checks map[string]Check) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"ok"}`)
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		status, results := http.StatusOK, map[string]string{}
		for name, check := range checks {
			if err := check(ctx); err != nil {
				status, results[name] = http.StatusServiceUnavailable, err.Error()
				continue
			}
			results[name] = "ok"
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{"ready": status == http.StatusOK, "checks": results})
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// Serve runs h on addr until ctx ends, then drains in-flight requests for at
// most grace. If ready is not nil it receives the bound address once the
// listener is open (useful with port 0).
func Serve(ctx context.Context, h http.Handler, addr string, grace time.Duration, ready func(net.Addr)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	if ready != nil {
		ready(ln.Addr())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", addr, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("shutdown %s: %w", addr, err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve %s: %w", addr, err)
	}
	return nil
}
