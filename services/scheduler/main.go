// Command scheduler plans and enqueues sweeps: the queries that check every
// watched section (per course, or walks of whole subjects and terms), one
// sweep after another, as often as the politeness budgets allow. Several
// schedulers may run; only the holder of a Redis lease enqueues, and
// enqueue is idempotent per (query, sweep) besides.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/pickmyclass/pickmyclass/pkg/app"
	"github.com/pickmyclass/pickmyclass/pkg/check"
	"github.com/pickmyclass/pickmyclass/pkg/lock"
	"github.com/pickmyclass/pickmyclass/pkg/obs"
	"github.com/pickmyclass/pickmyclass/pkg/sweep"
)

var version = "dev"

func main() {
	app.Main("scheduler", func(ctx context.Context) error { return run(ctx, os.Getenv, os.Stdout, nil) })
}

// run is the whole service; ready, when set, receives the ops address.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer, ready func(net.Addr)) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	log := obs.NewLogger(stdout, cfg.Log, "scheduler", version)
	log.Info().EmbedObject(cfg.Common).
		Dur("interval", cfg.Interval).Dur("min_interval", cfg.MinInterval).Dur("tick", cfg.Tick).Dur("lease_ttl", cfg.LeaseTTL).
		Str("plan", cfg.Plan).Float64("asu_rate", cfg.ASURate).Float64("asu_sections_rate", cfg.ASUSectionsRate).Msg("starting")

	deps, err := app.Open(ctx, cfg.Common)
	if err != nil {
		return err
	}
	defer deps.Close()
	db, rdb := deps.DB, deps.Redis

	keys := check.Keys{Prefix: cfg.RedisPrefix}
	reg := obs.NewRegistry()
	sw := sweep.New(cfg.Config, db, rdb, keys, log, reg)
	lease := lock.New(rdb, keys.Leader(), cfg.LeaseTTL, lock.WithLogger(log))

	sched, err := gocron.NewScheduler(
		gocron.WithDistributedElector(lease),
		gocron.WithStopTimeout(30*time.Second),
		gocron.WithLogger(gocronLogger{log}),
	)
	if err != nil {
		return fmt.Errorf("new scheduler: %w", err)
	}
	_, err = sched.NewJob(
		gocron.DurationJob(cfg.Tick),
		gocron.NewTask(func(ctx context.Context) {
			if _, err := sw.Run(ctx); err != nil {
				log.Error().Err(err).Msg("enqueue run failed")
			}
		}),
		gocron.WithName("enqueue-sweeps"),
		gocron.WithSingletonMode(gocron.LimitModeReschedule),
		gocron.WithStartAt(gocron.WithStartImmediately()),
	)
	if err != nil {
		return fmt.Errorf("new job: %w", err)
	}

	_, err = sched.NewJob(
		gocron.DurationJob(cfg.ExpiryEvery),
		gocron.NewTask(func(ctx context.Context) {
			n, err := db.ExpireWatches(ctx, time.Now(), expirySummary(cfg.PublicBaseURL))
			switch {
			case err != nil:
				log.Error().Err(err).Msg("expire watches")
			case n > 0:
				log.Info().Int("watches", n).Msg("watches stopped at their enrollment deadline")
			}
		}),
		gocron.WithName("expire-watches"),
		gocron.WithSingletonMode(gocron.LimitModeReschedule),
		gocron.WithStartAt(gocron.WithStartImmediately()),
	)
	if err != nil {
		return fmt.Errorf("new job: %w", err)
	}

	checks := deps.ReadyChecks()
	// Try for the lease before the scheduler's immediate first run, so a
	// lone scheduler enqueues at once instead of a tick later.
	if _, err := lease.TryAcquire(ctx); err != nil {
		log.Warn().Err(err).Msg("first leadership attempt")
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return lease.Run(gctx) })
	g.Go(func() error { return obs.Serve(gctx, obs.OpsHandler(reg, checks), cfg.OpsAddr, 5*time.Second, ready) })
	g.Go(func() error {
		sched.Start()
		<-gctx.Done()
		if err := sched.Shutdown(); err != nil {
			return fmt.Errorf("stop scheduler: %w", err)
		}
		return nil
	})
	err = g.Wait()
	log.Info().Msg("stopped")
	return err
}

// gocronLogger adapts zerolog to gocron's logger interface.
type gocronLogger struct{ log zerolog.Logger }

func (l gocronLogger) Debug(msg string, args ...any) { l.log.Debug().Fields(args).Msg(msg) }
func (l gocronLogger) Error(msg string, args ...any) { l.log.Error().Fields(args).Msg(msg) }
func (l gocronLogger) Info(msg string, args ...any)  { l.log.Debug().Fields(args).Msg(msg) }
func (l gocronLogger) Warn(msg string, args ...any)  { l.log.Warn().Fields(args).Msg(msg) }
