package stream

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
)

// Handler handles one entry. Its error decides the entry's fate (see the
// package documentation). ctx carries a logger with the entry's ID
// (zerolog.Ctx) and is cancelled only at the hard stop of a shutdown.
type Handler func(ctx context.Context, e *Entry) error

// ReasonMaxDeliveries is the dead-letter reason of entries that used up
// their deliveries; a handler's last error, when known, follows it.
const ReasonMaxDeliveries = "max deliveries exceeded"

// Config configures a Consumer. Zero durations and counts take their
// defaults.
type Config struct {
	// Stream and Group name the stream and its consumer group (required).
	Stream, Group string
	// Consumer names this consumer within the group; keep it stable across
	// restarts (e.g. the hostname, the default) so a restarted process
	// finishes its own pending entries first.
	Consumer string
	// Concurrency bounds the handlers running at once (default 32).
	Concurrency int
	// BatchSize is the most entries one read asks for (default Concurrency,
	// at most twice that). Up to Concurrency entries are read ahead of the
	// running handlers; reads never ask for more than the free slots, and
	// entries read ahead are handled within a soft stop like running ones.
	BatchSize int64
	// Block bounds how long a read waits for new entries, and so how long
	// a shutdown waits for the reader (default 2s).
	Block time.Duration
	// VisibilityTimeout is how long an entry may stay pending before
	// another consumer reclaims it (default 60s). It must exceed the
	// slowest legitimate handler run.
	VisibilityTimeout time.Duration
	// ReclaimInterval is how often this consumer looks for entries to
	// reclaim (default VisibilityTimeout/4).
	ReclaimInterval time.Duration
	// MaxDeliveries is how many deliveries an entry gets before it is
	// dead-lettered (default 3).
	MaxDeliveries int64
	// DeadLetterStream receives entries that failed for good (default
	// Stream+":dead").
	DeadLetterStream string
	// DelayedKey is the sorted set holding deferred entries until they are
	// due (default Stream+":delayed").
	DelayedKey string
	// DelayedInterval is how often due deferred entries are moved back to
	// the stream (default 500ms).
	DelayedInterval time.Duration
	// TrimInterval is how often the stream is trimmed below the oldest
	// entry any group still needs (default 30s).
	TrimInterval time.Duration
	// DeadLetterRetention is how long dead letters are kept (default 7
	// days).
	DeadLetterRetention time.Duration
	// ShutdownTimeout is how long in-flight handlers may finish after Run's
	// context ends before their contexts are cancelled (default 20s; a
	// negative value cancels them at once).
	ShutdownTimeout time.Duration
	// Logger receives the consumer's logs; the zero value discards them.
	Logger zerolog.Logger
	// Metrics registers the consumer's metrics when not nil.
	Metrics prometheus.Registerer
}

func (c *Config) setDefaults() error {
	var problems []error
	if c.Stream == "" {
		problems = append(problems, errors.New("stream is empty"))
	}
	if c.Group == "" {
		problems = append(problems, errors.New("group is empty"))
	}
	if c.Consumer == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			problems = append(problems, fmt.Errorf("consumer is empty and the hostname is unknown: %v", err))
		}
		c.Consumer = host
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 32
	}
	if c.BatchSize <= 0 || c.BatchSize > int64(2*c.Concurrency) {
		c.BatchSize = int64(c.Concurrency)
	}
	if c.Block <= 0 {
		c.Block = 2 * time.Second
	}
	if c.Block < time.Millisecond {
		c.Block = time.Millisecond
	}
	if c.VisibilityTimeout <= 0 {
		c.VisibilityTimeout = 60 * time.Second
	}
	if c.ReclaimInterval <= 0 {
		c.ReclaimInterval = c.VisibilityTimeout / 4
	}
	if c.MaxDeliveries <= 0 {
		c.MaxDeliveries = 3
	}
	if c.DeadLetterStream == "" {
		c.DeadLetterStream = c.Stream + ":dead"
	}
	if c.DelayedKey == "" {
		c.DelayedKey = c.Stream + ":delayed"
	}
	if c.DelayedInterval <= 0 {
		c.DelayedInterval = 500 * time.Millisecond
	}
	if c.TrimInterval <= 0 {
		c.TrimInterval = 30 * time.Second
	}
	if c.DeadLetterRetention <= 0 {
		c.DeadLetterRetention = 7 * 24 * time.Hour
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 20 * time.Second
	}
	return errors.Join(problems...)
}

// Consumer reads a stream as one member of a consumer group and runs a
// Handler for each entry.
type Consumer struct {
	rdb redis.UniversalClient
	cfg Config
	log zerolog.Logger
	m   *consumerMetrics
}

// NewConsumer validates cfg, applies its defaults and returns a Consumer.
func NewConsumer(rdb redis.UniversalClient, cfg Config) (*Consumer, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, fmt.Errorf("stream consumer config: %w", err)
	}
	m, err := newConsumerMetrics(cfg.Metrics, cfg.Stream, cfg.Group)
	if err != nil {
		return nil, fmt.Errorf("stream consumer metrics: %w", err)
	}
	log := cfg.Logger.With().Str("stream", cfg.Stream).Str("group", cfg.Group).Str("consumer", cfg.Consumer).Logger()
	return &Consumer{rdb: rdb, cfg: cfg, log: log, m: m}, nil
}

// Config returns the consumer's configuration with its defaults applied.
func (c *Consumer) Config() Config { return c.cfg }

// opTimeout bounds each Redis call made outside the blocking read.
const opTimeout = 5 * time.Second

// ackBatch bounds the IDs of one XACK, and ackLinger how long the acker
// waits to fill a batch.
const (
	ackBatch  = 1000
	ackLinger = time.Millisecond
)

// slotLinger is how long a read waits for more handler slots to free up.
// Against handlers that take milliseconds or more it is noise; against
// fast ones it makes reads of a full batch.
const slotLinger = 500 * time.Microsecond

// Run consumes until ctx ends, then stops softly: it stops reading, lets
// in-flight handlers finish for up to ShutdownTimeout, then cancels their
// contexts and waits for them. Entries whose handlers were cancelled stay
// pending. Run returns nil after a clean stop, or an error if the group
// cannot be created.
func (c *Consumer) Run(ctx context.Context, h Handler) error {
	if h == nil {
		return errors.New("run stream consumer: nil handler")
	}
	if err := c.ensureGroup(ctx); err != nil {
		if ctx.Err() != nil {
			return nil // stopped before it started
		}
		return err
	}
	// Work already handed out must be able to finish, and its outcome be
	// written, after ctx ends: both contexts outlive ctx.
	outer := context.WithoutCancel(ctx)
	hctx, hardStop := context.WithCancel(outer)
	defer hardStop()
	r := &runner{
		Consumer: c,
		h:        h,
		hctx:     hctx,
		opsCtx:   outer,
		// A slot per running handler and one per entry read ahead for it,
		// so the next batch is already here when a handler finishes.
		sem:      make(chan struct{}, 2*c.cfg.Concurrency),
		acks:     make(chan string, 4*c.cfg.Concurrency),
		work:     make(chan job, c.cfg.Concurrency),
		inflight: map[string]struct{}{},
	}

	// Long-lived workers rather than a goroutine per entry: their stacks
	// have grown to what handlers need, which per-entry goroutines would
	// pay for again on every entry.
	for range c.cfg.Concurrency {
		r.handlers.Go(r.worker)
	}

	ackerDone := make(chan struct{})
	go func() {
		defer close(ackerDone)
		r.acker()
	}()

	var loops sync.WaitGroup
	loops.Go(func() { r.readLoop(ctx) })
	loops.Go(func() { r.every(ctx, c.cfg.ReclaimInterval, "reclaim", r.reclaim) })
	loops.Go(func() { r.every(ctx, c.cfg.DelayedInterval, "move delayed", r.moveDue) })
	loops.Go(func() { r.every(ctx, c.cfg.TrimInterval, "trim", r.trim) })
	c.log.Info().Int("concurrency", c.cfg.Concurrency).Msg("stream consumer started")
	loops.Wait()

	close(r.work)
	handlersDone := make(chan struct{})
	go func() {
		defer close(handlersDone)
		r.handlers.Wait()
	}()
	grace := time.NewTimer(max(c.cfg.ShutdownTimeout, 0))
	select {
	case <-handlersDone:
		grace.Stop()
	case <-grace.C:
		c.log.Warn().Dur("shutdown_timeout", c.cfg.ShutdownTimeout).Msg("handlers still running; cancelling them")
		hardStop()
		<-handlersDone
	}
	close(r.acks)
	<-ackerDone
	c.log.Info().Msg("stream consumer stopped")
	return nil
}

// ensureGroup creates the group from the start of the stream, so entries
// published before the first consumer ever ran are not skipped.
func (c *Consumer) ensureGroup(ctx context.Context) error {
	err := c.rdb.XGroupCreateMkStream(ctx, c.cfg.Stream, c.cfg.Group, "0").Err()
	if err != nil && !redis.HasErrorPrefix(err, "BUSYGROUP") {
		return fmt.Errorf("create group %s on %s: %w", c.cfg.Group, c.cfg.Stream, err)
	}
	return nil
}

// runner is the state of one Run.
type runner struct {
	*Consumer
	h Handler
	// hctx is the handlers' context, cancelled at the hard stop.
	hctx context.Context
	// opsCtx carries Redis writes that record outcomes; it is never
	// cancelled, each call has its own timeout.
	opsCtx context.Context
	// sem holds one token per running (or about to run) handler.
	sem chan struct{}
	// work feeds the Concurrency workers; a held slot means a worker is
	// (or is about to be) free to take the job.
	work     chan job
	handlers sync.WaitGroup
	// inflight holds the IDs of entries whose handlers run here, so a
	// reclaim of our own slow entry does not run it twice at once.
	inflightMu sync.Mutex
	inflight   map[string]struct{}
	acks       chan string
}

// job is an entry handed to a worker with the delivery count it came with.
type job struct {
	msg        redis.XMessage
	deliveries int64
}

// every runs f each interval until ctx ends.
func (r *runner) every(ctx context.Context, interval time.Duration, name string, f func(context.Context) error) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := f(ctx); err != nil && ctx.Err() == nil {
			r.log.Error().Err(err).Msg(name)
		}
	}
}

// wait pauses for d and reports whether ctx is still alive.
func wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// isNoKey reports whether err is Redis's answer for a missing stream.
func isNoKey(err error) bool {
	return err != nil && strings.Contains(err.Error(), "no such key")
}
