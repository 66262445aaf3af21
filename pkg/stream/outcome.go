package stream

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
)

// Recording outcomes in Redis: acknowledgements in batches, dead letters
// and deferrals, each written atomically with the entry's acknowledgement.

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
