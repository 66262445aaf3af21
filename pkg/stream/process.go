package stream

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
)

// Running a handler on one entry: the panic guard, the keep-alive that
// stops a long handler's entry being reclaimed, and the outcome the
// handler's error selects.

// process runs the handler on one entry and records its outcome.
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
