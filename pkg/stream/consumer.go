package stream

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
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

// acquire blocks for one handler slot, then takes up to want-1 more,
// waiting at most slotLinger for them: handlers finishing in that time join
// the same read instead of each costing a round trip. It returns 0 when ctx
// ends first.
func (r *runner) acquire(ctx context.Context, want int64) int64 {
	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		return 0
	}
	n := int64(1)
	var linger <-chan time.Time
	for n < want {
		select {
		case r.sem <- struct{}{}:
			n++
			continue
		default:
		}
		if linger == nil {
			t := time.NewTimer(slotLinger)
			defer t.Stop()
			linger = t.C
		}
		select {
		case r.sem <- struct{}{}:
			n++
		case <-linger:
			return n
		case <-ctx.Done():
			return n
		}
	}
	return n
}

func (r *runner) release(n int64) {
	for range n {
		<-r.sem
	}
}

// readLoop first re-reads this consumer's own pending entries (left by a
// previous process under the same name), then new ones.
func (r *runner) readLoop(ctx context.Context) {
	cursor := "0"
	failures := 0
	for ctx.Err() == nil {
		n := r.acquire(ctx, r.cfg.BatchSize)
		if n == 0 {
			return
		}
		history := cursor != ">"
		block := r.cfg.Block
		if history {
			block = -1 // history reads return at once
		}
		// The read is not cancelled with ctx: entries Redis hands out are
		// in our PEL whether or not the reply is read, so a read in flight
		// is finished and its entries handled within the soft stop. Block
		// bounds the wait.
		res, err := r.rdb.XReadGroup(r.opsCtx, &redis.XReadGroupArgs{
			Group:    r.cfg.Group,
			Consumer: r.cfg.Consumer,
			Streams:  []string{r.cfg.Stream, cursor},
			Count:    n,
			Block:    block,
		}).Result()
		if errors.Is(err, redis.Nil) {
			err = nil
		}
		if err != nil {
			r.release(n)
			if ctx.Err() != nil {
				return
			}
			failures++
			r.log.Error().Err(err).Int("failures", failures).Msg("read stream")
			if redis.HasErrorPrefix(err, "NOGROUP") {
				if err := r.ensureGroup(ctx); err != nil {
					r.log.Error().Err(err).Msg("recreate group")
				}
			}
			if !wait(ctx, min(time.Duration(failures)*200*time.Millisecond, 5*time.Second)) {
				return
			}
			continue
		}
		failures = 0
		var msgs []redis.XMessage
		if len(res) > 0 {
			msgs = res[0].Messages
		}
		r.release(n - int64(len(msgs)))
		if !history {
			for _, msg := range msgs {
				r.dispatch(msg, 1)
			}
			continue
		}
		if len(msgs) == 0 {
			cursor = ">"
			continue
		}
		cursor = msgs[len(msgs)-1].ID
		if err := r.dispatchPending(msgs); err != nil {
			r.log.Error().Err(err).Msg("resume own pending entries")
			if !wait(ctx, time.Second) {
				return
			}
		}
	}
}

// dispatchPending runs entries that were delivered before (own history or
// reclaimed), looking up their delivery counters first. One slot per entry
// is held on entry.
func (r *runner) dispatchPending(msgs []redis.XMessage) error {
	counts, err := r.deliveryCounts(msgs)
	if err != nil {
		r.release(int64(len(msgs)))
		return err
	}
	for i, msg := range msgs {
		if counts[i] == 0 {
			// Acknowledged by someone else since it was read.
			r.release(1)
			continue
		}
		r.dispatch(msg, counts[i])
	}
	return nil
}

// deliveryCounts returns Redis's delivery counter of each entry, 0 for
// entries no longer pending.
func (r *runner) deliveryCounts(msgs []redis.XMessage) ([]int64, error) {
	ctx, cancel := context.WithTimeout(r.opsCtx, opTimeout)
	defer cancel()
	pipe := r.rdb.Pipeline()
	cmds := make([]*redis.XPendingExtCmd, len(msgs))
	for i, msg := range msgs {
		cmds[i] = pipe.XPendingExt(ctx, &redis.XPendingExtArgs{
			Stream: r.cfg.Stream, Group: r.cfg.Group, Start: msg.ID, End: msg.ID, Count: 1,
		})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("delivery counts on %s: %w", r.cfg.Stream, err)
	}
	counts := make([]int64, len(msgs))
	for i, c := range cmds {
		if p := c.Val(); len(p) == 1 {
			counts[i] = p[0].RetryCount
		}
	}
	return counts, nil
}

// dispatch hands msg to a worker in the slot the caller holds.
func (r *runner) dispatch(msg redis.XMessage, deliveries int64) {
	r.inflightMu.Lock()
	_, running := r.inflight[msg.ID]
	if !running {
		r.inflight[msg.ID] = struct{}{}
	}
	r.inflightMu.Unlock()
	if running {
		r.release(1)
		return
	}
	r.work <- job{msg: msg, deliveries: deliveries}
}

// worker runs jobs until work is closed.
func (r *runner) worker() {
	for j := range r.work {
		r.process(j.msg, j.deliveries)
		r.inflightMu.Lock()
		delete(r.inflight, j.msg.ID)
		r.inflightMu.Unlock()
		r.release(1)
	}
}

func (r *runner) process(msg redis.XMessage, deliveries int64) {
	if len(msg.Values) == 0 {
		// A history read returns entries deleted from the stream (trimmed
		// or XDEL'd) without fields; there is nothing left to run.
		r.log.Warn().Str("msg_id", msg.ID).Msg("pending entry was deleted from the stream; dropping it")
		r.acks <- msg.ID
		return
	}
	e, err := parseEntry(msg, deliveries)
	if err != nil {
		r.deadLetter(msg, "malformed entry: "+err.Error(), deliveries)
		return
	}
	if e.Deliveries > r.cfg.MaxDeliveries {
		r.deadLetter(msg, ReasonMaxDeliveries, e.Deliveries)
		return
	}

	log := r.log.With().Str("msg_id", e.ID).Str("type", e.Type).Int64("deliveries", e.Deliveries).Logger()
	start := time.Now()
	stop := r.keepAlive(e.ID, log)
	err = r.call(log.WithContext(r.hctx), log, e)
	stop()
	r.m.duration.Observe(time.Since(start).Seconds())

	var (
		perm *PermanentError
		def  *DeferError
	)
	switch {
	case err == nil:
		r.m.ack.Inc()
		r.acks <- e.ID
	case r.hctx.Err() != nil:
		r.m.retry.Inc()
		log.Info().Err(err).Msg("handler cancelled by shutdown; entry left pending")
	case errors.As(err, &perm):
		r.m.dead.Inc()
		r.deadLetter(msg, err.Error(), e.Deliveries)
	case errors.As(err, &def):
		r.m.deferred.Inc()
		r.deferEntry(msg, e, def.After, log)
	case e.Deliveries >= r.cfg.MaxDeliveries:
		// Waiting a visibility timeout for the reaper to find this entry
		// would only delay the same verdict.
		r.m.dead.Inc()
		r.deadLetter(msg, ReasonMaxDeliveries+": "+err.Error(), e.Deliveries)
	default:
		r.m.retry.Inc()
		log.Warn().Err(err).Msg("handler failed; entry left pending for retry")
	}
}

// touchScript resets the idle time of a pending entry this consumer still
// owns, without counting a delivery, so the reaper leaves a long handler's
// entry alone. KEYS: stream. ARGV: group, consumer, id. Returns 1 if touched.
var touchScript = redis.NewScript(`
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if #p == 0 or p[1][2] ~= ARGV[2] then
	return 0
end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID')
return 1
`)

// keepAlive touches entry id every quarter of the visibility timeout while
// its handler runs — a walk of a whole term can outlast the timeout — until
// the returned stop is called. A worker that dies stops touching, and the
// reaper reclaims the entry one visibility timeout later. Most handlers end
// before the first touch is due and cost only a timer.
func (r *runner) keepAlive(id string, log zerolog.Logger) (stop func()) {
	period := r.cfg.VisibilityTimeout / 4
	done := make(chan struct{})
	var touching sync.WaitGroup
	touching.Add(1)
	timer := time.AfterFunc(period, func() {
		defer touching.Done()
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			ctx, cancel := context.WithTimeout(r.opsCtx, period)
			n, err := touchScript.Run(ctx, r.rdb, []string{r.cfg.Stream}, r.cfg.Group, r.cfg.Consumer, id).Int()
			cancel()
			switch {
			case err != nil:
				log.Warn().Err(err).Msg("keep pending entry alive")
			case n == 0:
				log.Warn().Msg("pending entry was reclaimed by another consumer while its handler ran")
				return
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() {
		if timer.Stop() {
			touching.Done()
			return
		}
		close(done)
		touching.Wait()
	}
}

// call runs the handler, turning a panic into an error.
func (r *runner) call(ctx context.Context, log zerolog.Logger, e *Entry) (err error) {
	defer func() {
		if p := recover(); p != nil {
			log.Error().Str("panic", fmt.Sprint(p)).Bytes("stack", debug.Stack()).Msg("handler panicked")
			err = fmt.Errorf("handler panic: %v", p)
		}
	}()
	return r.h(ctx, e)
}

// deadLetter copies msg to the dead-letter stream and acknowledges it, in
// that order and atomically. If Redis fails, the entry stays pending and is
// reclaimed later.
func (r *runner) deadLetter(msg redis.XMessage, reason string, deliveries int64) {
	args := make([]any, 0, 4+2*len(msg.Values)+8)
	args = append(args, r.cfg.Group, msg.ID)
	for k, v := range msg.Values {
		switch k {
		case fieldReason, fieldDeliveries, fieldOriginalID, fieldFailedAt:
		default:
			args = append(args, k, v)
		}
	}
	args = append(args,
		fieldReason, reason,
		fieldDeliveries, strconv.FormatInt(deliveries, 10),
		fieldOriginalID, msg.ID,
		fieldFailedAt, strconv.FormatInt(time.Now().UnixMilli(), 10),
	)
	ctx, cancel := context.WithTimeout(r.opsCtx, opTimeout)
	defer cancel()
	err := deadLetterScript.Run(ctx, r.rdb, []string{r.cfg.DeadLetterStream, r.cfg.Stream}, args...).Err()
	log := r.log.With().Str("msg_id", msg.ID).Int64("deliveries", deliveries).Str("reason", reason).Logger()
	if err != nil {
		log.Error().Err(err).Msg("dead-letter entry; left pending")
		return
	}
	r.m.deadLettered.Inc()
	log.Warn().Msg("entry dead-lettered")
}

// deferEntry parks a copy of msg in the delayed set and acknowledges msg.
// The copy records the deliveries used so far, this one excluded, so a
// deferred attempt does not count against MaxDeliveries.
func (r *runner) deferEntry(msg redis.XMessage, e *Entry, after time.Duration, log zerolog.Logger) {
	args := make([]any, 0, 3+2*len(msg.Values)+4)
	args = append(args, r.cfg.Group, msg.ID, after.Milliseconds())
	for k, v := range msg.Values {
		switch k {
		case fieldPrior, fieldDeferredFrom:
		default:
			args = append(args, k, v)
		}
	}
	args = append(args,
		fieldPrior, strconv.FormatInt(e.Deliveries-1, 10),
		fieldDeferredFrom, msg.ID,
	)
	ctx, cancel := context.WithTimeout(r.opsCtx, opTimeout)
	defer cancel()
	if err := deferScript.Run(ctx, r.rdb, []string{r.cfg.DelayedKey, r.cfg.Stream}, args...).Err(); err != nil {
		log.Error().Err(err).Msg("defer entry; left pending")
		return
	}
	log.Debug().Dur("after", after).Msg("entry deferred")
}

// acker acknowledges successful entries in batches. After the first ID of
// a batch it lingers briefly for more: under load that turns hundreds of
// XACK round trips into one, and when idle it delays an ack by ackLinger.
func (r *runner) acker() {
	batch := make([]string, 0, ackBatch)
	linger := time.NewTimer(ackLinger)
	defer linger.Stop()
	for id := range r.acks {
		batch = append(batch[:0], id)
		linger.Reset(ackLinger)
	fill:
		for len(batch) < ackBatch {
			select {
			case id, ok := <-r.acks:
				if !ok {
					break fill
				}
				batch = append(batch, id)
			case <-linger.C:
				break fill
			}
		}
		ctx, cancel := context.WithTimeout(r.opsCtx, opTimeout)
		err := r.rdb.XAck(ctx, r.cfg.Stream, r.cfg.Group, batch...).Err()
		cancel()
		if err != nil {
			// The entries stay pending and are handled again after the
			// visibility timeout: a duplicate, never a loss.
			r.log.Error().Err(err).Int("entries", len(batch)).Str("first_id", batch[0]).Msg("acknowledge entries")
		}
	}
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
