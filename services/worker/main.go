// Command worker consumes course checks from the checks stream: it asks the
// university's class search through a shared circuit breaker and politeness
// budget, records section state, claims and sends alert emails.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/pickmyclass/pickmyclass/pkg/app"
	"github.com/pickmyclass/pickmyclass/pkg/breaker"
	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asu"
	"github.com/pickmyclass/pickmyclass/pkg/channel"
	"github.com/pickmyclass/pickmyclass/pkg/check"
	"github.com/pickmyclass/pickmyclass/pkg/counts"
	"github.com/pickmyclass/pickmyclass/pkg/envconf"
	"github.com/pickmyclass/pickmyclass/pkg/notify"
	"github.com/pickmyclass/pickmyclass/pkg/obs"
	"github.com/pickmyclass/pickmyclass/pkg/ratelimit"
	"github.com/pickmyclass/pickmyclass/pkg/stream"
	"github.com/pickmyclass/pickmyclass/services/worker/internal/dispatch"
	"github.com/pickmyclass/pickmyclass/services/worker/internal/handle"
	"github.com/pickmyclass/pickmyclass/services/worker/internal/mailer"
	"github.com/pickmyclass/pickmyclass/services/worker/internal/upstream"
)

var version = "dev"

func main() {
	app.Main("worker", func(ctx context.Context) error { return run(ctx, os.Getenv, os.Stdout, nil) })
}

// run is the whole service; ready, when set, receives the ops address.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer, ready func(net.Addr)) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	log := obs.NewLogger(stdout, cfg.Log, "worker", version)
	log.Info().Str("database_url", envconf.Redact(cfg.DatabaseURL)).Str("redis_url", envconf.Redact(cfg.RedisURL)).
		Str("asu_api_base_url", cfg.ASUBaseURL).Str("name", cfg.Name).Int("concurrency", cfg.Concurrency).
		Float64("asu_rate", cfg.ASURate).Float64("asu_sections_rate", cfg.ASUSectionsRate).Msg("starting")

	deps, err := app.Open(ctx, cfg.DatabaseURL, cfg.RedisURL, cfg.Migrate)
	if err != nil {
		return err
	}
	defer deps.Close()
	db, rdb := deps.DB, deps.Redis
	db.SetSendRetry(cfg.SendRetryBase, cfg.SendRetryMax)
	db.SetBaselineMaxAge(cfg.SchedulerInterval)

	keys := check.Keys{Prefix: cfg.RedisPrefix}
	reg := obs.NewRegistry()
	source, err := asu.New(asu.Config{
		BaseURL: cfg.ASUBaseURL,
		Contact: cfg.ASUContact,
		Timeout: cfg.ASUTimeout,
		Budget:  ratelimit.New(rdb, keys.Budget(check.University), cfg.ASURate, cfg.ASUBurst),
		// A burst of one page: a walk's first page may be taken at once, and
		// each page's rows are then paid for before the next request.
		SectionBudget: ratelimit.New(rdb, keys.SectionBudget(check.University), cfg.ASUSectionsRate, asu.PageSize),
		Metrics:       reg,
	})
	if err != nil {
		return fmt.Errorf("asu source: %w", err)
	}
	brk, err := breaker.New(rdb, breaker.Config{
		Name: check.University, Key: keys.Breaker(check.University),
		FailureThreshold: cfg.BreakerFail, OpenTimeout: cfg.BreakerOpen, SuccessThreshold: cfg.BreakerOK,
		Logger: log, Metrics: reg,
	})
	if err != nil {
		return fmt.Errorf("breaker: %w", err)
	}
	smtp, err := notify.NewSMTPFromURL(cfg.SMTPURL, cfg.MailFrom, reg)
	if err != nil {
		return fmt.Errorf("smtp (SMTP_URL): %w", err)
	}
	signer, err := notify.NewSigner([]byte(cfg.UnsubscribeSecret))
	if err != nil {
		return fmt.Errorf("unsubscribe signer: %w", err)
	}
	mail := &mailer.Mailer{
		Store:   db,
		Sender:  notify.NewThrottled(smtp, ratelimit.New(rdb, keys.MailBudget(), cfg.MailRate, max(1, int(cfg.MailRate)))),
		Signer:  signer,
		BaseURL: cfg.PublicBaseURL,
		Domain:  cfg.domain(),
		Lease:   cfg.SendLease,
		Now:     time.Now,
	}
	channels := &dispatch.Dispatcher{
		Store: db,
		Sender: channel.New(channel.Options{
			// A send must end well inside its claim's lease.
			Timeout:   min(cfg.ChannelTimeout, cfg.SendLease/2),
			UserAgent: "PickMyClass-Alerts/" + version,
			VAPID:     cfg.vapid(),
		}),
		Limiter:     dispatch.RedisLimiter{RDB: rdb, Prefix: keys.ChannelBudgetPrefix(), Rate: cfg.ChannelRate, Burst: cfg.ChannelBurst},
		Mail:        mail.Sender,
		BaseURL:     cfg.PublicBaseURL,
		Lease:       cfg.SendLease,
		Concurrency: cfg.ChannelConcurrency,
		PerChannel:  cfg.ChannelBurst,
		Now:         time.Now,
		Metrics:     dispatch.NewMetrics(reg),
	}
	h := &handle.Handler{
		Source:    source,
		Store:     db,
		Counts:    counts.New(rdb, keys.Counts),
		Breaker:   brk,
		Backoff:   upstream.NewBackoff(rdb, keys.Backoff(check.University), cfg.BackoffBase, cfg.BackoffMax),
		Notifier:  notifier{mail: mail, channels: channels},
		Announcer: upstream.NewAnnouncer(rdb, keys.Updates()),
		Reserved:  source,
		States:    db,
		Now:       time.Now,
		Metrics:   handle.NewMetrics(reg),
	}
	consumer, err := stream.NewConsumer(rdb, stream.Config{
		Stream:            keys.Stream(),
		Group:             keys.Group(),
		Consumer:          cfg.Name,
		Concurrency:       cfg.Concurrency,
		VisibilityTimeout: cfg.VisibilityTimeout,
		MaxDeliveries:     int64(cfg.MaxDeliveries),
		DeadLetterStream:  keys.DeadLetter(),
		DelayedKey:        keys.Delayed(),
		ShutdownTimeout:   cfg.ShutdownTimeout,
		Logger:            log,
		Metrics:           reg,
	})
	if err != nil {
		return fmt.Errorf("consumer: %w", err)
	}
	reg.MustRegister(stream.NewCollector(rdb, keys.Stream(), keys.Group(), keys.DeadLetter()))

	checks := deps.ReadyChecks()
	g, gctx := errgroup.WithContext(log.WithContext(ctx))
	mux := stream.NewMux()
	mux.Handle(check.MessageType, h.Handle)
	mux.Handle(check.WalkMessageType, h.HandleWalk)
	g.Go(func() error { return consumer.Run(gctx, mux.Serve) })
	g.Go(func() error { return mail.Run(gctx, cfg.SweepEvery) })
	g.Go(func() error { return channels.Run(gctx, cfg.SweepEvery) })
	g.Go(func() error { return obs.Serve(gctx, obs.OpsHandler(reg, checks), cfg.OpsAddr, 5*time.Second, ready) })
	err = g.Wait()
	log.Info().Msg("stopped")
	return err
}

// notifier hands newly claimed alerts to both senders: it wakes the channel
// dispatcher, which sends on its own goroutines, then sends the emails, so
// neither waits for the other.
type notifier struct {
	mail     *mailer.Mailer
	channels *dispatch.Dispatcher
}

func (n notifier) SendPending(ctx context.Context, keys []catalog.SectionKey) error {
	n.channels.Kick()
	return n.mail.SendPending(ctx, keys)
}
