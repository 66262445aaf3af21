// Command api serves PickMyClass over HTTP: the web app and its JSON API,
// the live dashboard stream, the links in alert emails, the mail provider's
// webhooks and the health report. It also sends the queued account email,
// and purges expired sessions, tokens and deleted accounts on a schedule.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/pickmyclass/pickmyclass/pkg/app"
	"github.com/pickmyclass/pickmyclass/pkg/breaker"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asu"
	"github.com/pickmyclass/pickmyclass/pkg/channel"
	"github.com/pickmyclass/pickmyclass/pkg/check"
	"github.com/pickmyclass/pickmyclass/pkg/notify"
	"github.com/pickmyclass/pickmyclass/pkg/obs"
	"github.com/pickmyclass/pickmyclass/pkg/ratelimit"
	"github.com/pickmyclass/pickmyclass/pkg/store"
	"github.com/pickmyclass/pickmyclass/pkg/stream"
	"github.com/pickmyclass/pickmyclass/services/api/internal/monitor"
	"github.com/pickmyclass/pickmyclass/services/api/internal/outbox"
	"github.com/pickmyclass/pickmyclass/services/api/internal/web"
)

var version = "dev"

func main() {
	app.Main("api", func(ctx context.Context) error {
		return run(ctx, os.Getenv, os.Stdout, nil)
	})
}

// run is the whole service; ready, when set, receives the public address.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer, ready func(net.Addr)) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	log := obs.NewLogger(stdout, cfg.Log, "api", version)
	log.Info().EmbedObject(cfg.Common).
		Str("addr", cfg.Addr).Str("ops_addr", cfg.OpsAddr).Msg("starting")

	deps, err := app.Open(ctx, cfg.Common)
	if err != nil {
		return err
	}
	defer deps.Close()
	db, rdb := deps.DB, deps.Redis

	keys := check.Keys{Prefix: cfg.RedisPrefix}
	reg := obs.NewRegistry()
	// The API's lookups of new watches go through the workers' breaker and
	// report to it; its metrics are the workers'.
	brk, err := breaker.New(rdb, breaker.Config{
		Name: check.University, Key: keys.Breaker(check.University),
		FailureThreshold: cfg.BreakerFail, OpenTimeout: cfg.BreakerOpen, SuccessThreshold: cfg.BreakerOK,
		Logger: log,
	})
	if err != nil {
		return fmt.Errorf("breaker: %w", err)
	}
	signer, err := notify.NewSigner([]byte(cfg.UnsubscribeSecret))
	if err != nil {
		return fmt.Errorf("unsubscribe signer: %w", err)
	}
	// Looking up a new watch's section draws on the same politeness budget
	// as the workers' checks.
	source, err := asu.New(asu.Config{
		BaseURL: cfg.ASUBaseURL,
		Contact: cfg.ASUContact,
		Timeout: cfg.ASUTimeout,
		Budget:  ratelimit.New(rdb, keys.Budget(check.University), cfg.ASURate, max(1, int(cfg.ASURate))),
		Metrics: reg,
	})
	if err != nil {
		return fmt.Errorf("asu source: %w", err)
	}
	mailer, err := notify.NewSMTPFromURL(cfg.SMTPURL, cfg.MailFrom, reg)
	if err != nil {
		return fmt.Errorf("smtp (SMTP_URL): %w", err)
	}
	sender := outbox.New(db, mailer, log, outbox.Config{})
	hub := web.NewHub(rdb, keys.Updates(), log)
	srv, err := web.NewServer(web.Deps{
		Log:                 log,
		DB:                  db,
		Redis:               rdb,
		Keys:                keys,
		Monitor:             monitor.New(rdb, keys, brk),
		Tokens:              signer,
		Catalog:             source,
		Breaker:             brk,
		Outbox:              sender,
		Updates:             hub,
		BaseURL:             cfg.PublicBaseURL,
		SchedulerInterval:   cfg.SchedulerInterval,
		TrustedProxies:      cfg.TrustedProxies,
		WatchLimit:          cfg.WatchLimit,
		LookupsPerMinute:    cfg.LookupsPerMinute,
		AuthRatePerMinute:   cfg.AuthRatePerMinute,
		ResendWebhookSecret: cfg.ResendWebhookSecret,
		EmailWebhookSecret:  cfg.EmailWebhookSecret,
		Channels:            channel.New(channel.Options{VAPID: cfg.VAPID, UserAgent: "PickMyClass-Alerts/" + version}),
		Now:                 time.Now,
	})
	if err != nil {
		return fmt.Errorf("web server: %w", err)
	}
	reg.MustRegister(stream.NewCollector(rdb, keys.Stream(), keys.Group(), keys.DeadLetter()))
	checks := deps.ReadyChecks()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return hub.Run(gctx) })
	g.Go(func() error { return sender.Run(gctx) })
	g.Go(func() error { return housekeeping(gctx, db, log) })
	g.Go(func() error { return obs.Serve(gctx, srv, cfg.Addr, cfg.Grace, ready) })
	g.Go(func() error { return obs.Serve(gctx, obs.OpsHandler(reg, checks), cfg.OpsAddr, cfg.Grace, nil) })
	err = g.Wait()
	log.Info().Msg("stopped")
	return err
}

// Retention: what housekeeping deletes, and when. The privacy page states
// the same numbers.
const (
	housekeepingEvery = time.Hour
	deletedRetention  = 30 * 24 * time.Hour
	attemptsRetention = 30 * 24 * time.Hour
	// unwatchedRetention is how long the state and seat history of a
	// section nobody watches are kept after its last observation.
	unwatchedRetention = 30 * 24 * time.Hour
)

// housekeeping purges expired sessions, tokens and queued mail, old login
// attempts, accounts deleted more than 30 days ago and the state of
// sections unwatched for 30 days, every hour until ctx ends. Every
// API instance may run it: each statement is an idempotent DELETE.
func housekeeping(ctx context.Context, db *store.DB, log zerolog.Logger) error {
	tick := time.NewTicker(housekeepingEvery)
	defer tick.Stop()
	for {
		now := time.Now()
		for name, purge := range map[string]func() (int64, error){
			"sessions":         func() (int64, error) { return db.PruneSessions(ctx, now) },
			"tokens":           func() (int64, error) { return db.PruneTokens(ctx, now) },
			"login_attempts":   func() (int64, error) { return db.PruneLoginAttempts(ctx, now.Add(-attemptsRetention)) },
			"expired_mail":     func() (int64, error) { return db.PruneExpiredMail(ctx, now) },
			"deleted_accounts": func() (int64, error) { return db.PurgeDeletedAccounts(ctx, now.Add(-deletedRetention)) },
			"unwatched_states": func() (int64, error) { return db.PruneSectionStates(ctx, now.Add(-unwatchedRetention)) },
		} {
			n, err := purge()
			if err != nil && ctx.Err() == nil {
				log.Error().Err(err).Str("what", name).Msg("housekeeping")
			} else if n > 0 {
				log.Info().Int64("deleted", n).Str("what", name).Msg("housekeeping")
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
