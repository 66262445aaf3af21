// Command asusim serves a simulated ASU class search over HTTP for the demo,
// local development and benchmarks: the same JSON API as the real catalog
// (see package asusim) plus the /_sim control endpoints. By default it serves
// the embedded demo scenario; ASUSIM_GENERATE builds a large synthetic one
// of equal courses and ASUSIM_TERM ("term:sections:subjects") a whole term
// shaped like a large university's (asusim.GenerateTerm, seeded by
// ASUSIM_CHURN_SEED), and ASUSIM_CHURN makes seats open and fill on their
// own. ASUSIM_SCROLL_KEEPALIVE (default 60s) and ASUSIM_MAX_SCROLLS (default
// 10000) set the scroll contexts' keep-alive and bound.
// ASUSIM_ENROLL_DEADLINES ("2267=2026-08-26,2271=2027-01-18") sets terms'
// last days to enroll; other terms' lie asusim.DefaultEnrollWindow ahead.
package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asusim"
)

//go:embed scenarios/demo.json
var demoScenario []byte

// shutdownGrace bounds how long in-flight requests may finish on shutdown.
const shutdownGrace = 5 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "asusim: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	log := newLogger(stdout, cfg)
	log.Info().Object("config", cfg).Msg("starting")

	sc, err := scenario(cfg)
	if err != nil {
		return err
	}
	if len(cfg.Deadlines) > 0 {
		sc.EnrollDeadlines = maps.Clone(sc.EnrollDeadlines)
		if sc.EnrollDeadlines == nil {
			sc.EnrollDeadlines = map[string]string{}
		}
		maps.Copy(sc.EnrollDeadlines, cfg.Deadlines)
	}
	sim := asusim.New(sc)
	sim.SetLatency(cfg.Latency)
	if cfg.KeepAlive > 0 {
		if err := sim.SetScrollKeepAlive(cfg.KeepAlive); err != nil {
			return fmt.Errorf("config: %w", err)
		}
	}
	if cfg.MaxScrolls > 0 {
		if err := sim.SetMaxScrolls(cfg.MaxScrolls); err != nil {
			return fmt.Errorf("config: %w", err)
		}
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	addr := ln.Addr().String()
	log.Info().Str("addr", addr).Str("base_url", "http://"+addr+asusim.BasePath).
		Int("sections", len(sc.Sections)).Msg("listening")

	srv := &http.Server{
		Handler:           logRequests(log, sim),
		ReadHeaderTimeout: 5 * time.Second,
	}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		log.Info().Msg("shutting down")
		if err := srv.Shutdown(sctx); err != nil {
			return fmt.Errorf("shutdown: %w", err)
		}
		return nil
	})
	if cfg.Churn > 0 {
		g.Go(func() error { churn(ctx, log, sim, cfg.Churn, cfg.ChurnSeed); return nil })
	}
	return g.Wait()
}

// scenario picks the catalog: a generated one, a file, or the embedded
// demo. With ASUSIM_GENERATE or ASUSIM_TERM and ASUSIM_SCENARIO, the file's
// sections are laid over the generated ones.
func scenario(cfg config) (asusim.Scenario, error) {
	var base asusim.Scenario
	generated := cfg.Generate != nil || cfg.Term != nil
	switch {
	case cfg.Generate != nil:
		g := cfg.Generate
		base = asusim.Generate(g.Term, g.Courses, g.Sections, g.FullFraction, cfg.ChurnSeed)
	case cfg.Term != nil:
		base = asusim.GenerateTerm(cfg.Term.Term, cfg.Term.Sections, cfg.Term.Subjects, cfg.ChurnSeed)
	}
	if generated && cfg.ScenarioPath == "" {
		return base, nil
	}
	var sc asusim.Scenario
	var err error
	if cfg.ScenarioPath != "" {
		sc, err = asusim.LoadScenario(cfg.ScenarioPath)
	} else {
		sc, err = asusim.ParseScenario(demoScenario)
	}
	if err != nil {
		return asusim.Scenario{}, fmt.Errorf("scenario: %w", err)
	}
	if !generated {
		return sc, nil
	}
	override := make(map[catalog.SectionKey]bool, len(sc.Sections))
	for _, s := range sc.Sections {
		override[s.Key()] = true
	}
	merged := asusim.Scenario{Terms: base.Terms, EnrollDeadlines: sc.EnrollDeadlines}
	for _, t := range sc.Terms {
		if !slices.Contains(merged.Terms, t) {
			merged.Terms = append(merged.Terms, t)
		}
	}
	for _, s := range base.Sections {
		if !override[s.Key()] {
			merged.Sections = append(merged.Sections, s)
		}
	}
	merged.Sections = append(merged.Sections, sc.Sections...)
	return merged, nil
}

// churn is the demo's autopilot: every period a full section gains a seat
// and an open one fills, chosen by a seeded generator so runs repeat.
func churn(ctx context.Context, log zerolog.Logger, sim *asusim.Server, period time.Duration, seed int64) {
	rng := rand.New(rand.NewSource(seed))
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			freed, filled := sim.Churn(rng)
			log.Info().Stringer("freed", freed).Stringer("filled", filled).Msg("churn")
		}
	}
}

func newLogger(w io.Writer, cfg config) zerolog.Logger {
	if cfg.LogFormat == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339}
	}
	return zerolog.New(w).Level(cfg.LogLevel).With().Timestamp().Str("service", "asusim").Logger()
}

// statusRecorder remembers the status a handler wrote, for the access log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func logRequests(log zerolog.Logger, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rec, r)
		log.Debug().Str("method", r.Method).Str("path", r.URL.Path).Str("query", r.URL.RawQuery).
			Int("status", rec.status).Dur("duration", time.Since(start)).Msg("request")
	})
}
