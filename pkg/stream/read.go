package stream

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// The read loop: handler slots, XREADGROUP (new entries, and this
// consumer's own pending ones after a restart), and the hand-off to the
// workers.

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
