// Command api serves PickMyClass over HTTP: the health report, the links in
// alert emails and — as the web app grows — the UI and JSON API.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/pickmyclass/pickmyclass/pkg/breaker"
	"github.com/pickmyclass/pickmyclass/pkg/check"
	"github.com/pickmyclass/pickmyclass/pkg/envconf"
	"github.com/pickmyclass/pickmyclass/pkg/notify"
	"github.com/pickmyclass/pickmyclass/pkg/obs"
	"github.com/pickmyclass/pickmyclass/pkg/store"
	"github.com/pickmyclass/pickmyclass/pkg/stream"
	"github.com/pickmyclass/pickmyclass/services/api/internal/monitor"
	"github.com/pickmyclass/pickmyclass/services/api/internal/web"
)

var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if len(os.Args) > 1 && os.Args[1] == "seed-demo" {
		err = seedDemo(ctx, os.Getenv, os.Stdout)
	} else {
		err = run(ctx, os.Getenv, os.Stdout, nil)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "api: %v\n", err)
		os.Exit(1)
	}
}

// run is the whole service; ready, when set, receives the public address.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer, ready func(net.Addr)) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	log := obs.NewLogger(stdout, cfg.Log, "api", version)
	log.Info().Str("database_url", envconf.Redact(cfg.DatabaseURL)).Str("redis_url", envconf.Redact(cfg.RedisURL)).
		Str("addr", cfg.Addr).Str("ops_addr", cfg.OpsAddr).Msg("starting")

	if cfg.Migrate {
		if err := store.Migrate(ctx, cfg.DatabaseURL); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	db, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer db.Close()
	rdb, err := stream.Dial(ctx, cfg.RedisURL)
	if err != nil {
		return fmt.Errorf("dial redis: %w", err)
	}
	defer rdb.Close()

	keys := check.Keys{Prefix: cfg.RedisPrefix}
	reg := obs.NewRegistry()
	// The API only reads the breaker; its metrics are the workers'.
	brk, err := breaker.New(rdb, breaker.Config{Name: check.University, Key: keys.Breaker(check.University), Logger: log})
	if err != nil {
		return fmt.Errorf("breaker: %w", err)
	}
	signer, err := notify.NewSigner([]byte(cfg.UnsubscribeSecret))
	if err != nil {
		return fmt.Errorf("unsubscribe signer: %w", err)
	}
	srv, err := web.NewServer(web.Deps{
		Log:               log,
		Store:             db,
		Monitor:           monitor.New(rdb, keys, brk),
		Tokens:            signer,
		SchedulerInterval: cfg.SchedulerInterval,
		TrustedProxies:    cfg.TrustedProxies,
		Now:               time.Now,
	})
	if err != nil {
		return fmt.Errorf("web server: %w", err)
	}
	reg.MustRegister(stream.NewCollector(rdb, keys.Stream(), keys.Group(), keys.DeadLetter()))
	checks := map[string]obs.Check{
		"postgres": db.Ping,
		"redis":    func(ctx context.Context) error { return rdb.Ping(ctx).Err() },
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return obs.Serve(gctx, srv, cfg.Addr, cfg.Grace, ready) })
	g.Go(func() error { return obs.Serve(gctx, obs.OpsHandler(reg, checks), cfg.OpsAddr, cfg.Grace, nil) })
	err = g.Wait()
	log.Info().Msg("stopped")
	return err
}
