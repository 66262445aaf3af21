package stream

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// moveLimit bounds how many deferred entries one script call moves, so the
// script never blocks Redis for long.
const moveLimit = 500

// reclaim takes over entries idle longer than the visibility timeout —
// their consumer died or hung — and runs them here. It claims no more
// entries than it has free handler slots.
func (r *runner) reclaim(ctx context.Context) error {
	start := "0-0"
	for {
		n := r.acquire(ctx, r.cfg.BatchSize)
		if n == 0 {
			return nil
		}
		cctx, cancel := context.WithTimeout(ctx, opTimeout)
		msgs, next, deleted, err := r.rdb.XAutoClaimWithDeleted(cctx, &redis.XAutoClaimArgs{
			Stream:   r.cfg.Stream,
			Group:    r.cfg.Group,
			Consumer: r.cfg.Consumer,
			MinIdle:  r.cfg.VisibilityTimeout,
			Start:    start,
			Count:    n,
		}).Result()
		cancel()
		if err != nil {
			r.release(n)
			return fmt.Errorf("reclaim from %s: %w", r.cfg.Stream, err)
		}
		r.release(n - int64(len(msgs)))
		if len(deleted) > 0 {
			// XAUTOCLAIM already dropped them from the PEL.
			r.log.Warn().Strs("msg_ids", deleted).Msg("pending entries were deleted from the stream; dropped")
		}
		if len(msgs) > 0 {
			r.m.reclaimed.Add(float64(len(msgs)))
			r.log.Info().Int("entries", len(msgs)).Msg("reclaimed idle entries")
			if err := r.dispatchPending(msgs); err != nil {
				return err
			}
		}
		if next == "0-0" || next == "" {
			return nil
		}
		start = next
	}
}

// moveDue moves due deferred entries back to the stream.
func (r *runner) moveDue(ctx context.Context) error {
	for {
		cctx, cancel := context.WithTimeout(ctx, opTimeout)
		moved, err := moveDueScript.Run(cctx, r.rdb, []string{r.cfg.DelayedKey, r.cfg.Stream}, moveLimit).Int()
		cancel()
		if err != nil {
			return fmt.Errorf("move due entries of %s: %w", r.cfg.DelayedKey, err)
		}
		if moved < moveLimit {
			return nil
		}
	}
}

// trim removes stream entries every group is done with, and dead letters
// past their retention.
func (r *runner) trim(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	if err := trimStream(ctx, r.rdb, r.cfg.Stream); err != nil {
		return err
	}
	cutoff := time.Now().Add(-r.cfg.DeadLetterRetention).UnixMilli()
	if err := r.rdb.XTrimMinIDApprox(ctx, r.cfg.DeadLetterStream, strconv.FormatInt(cutoff, 10)+"-0", 0).Err(); err != nil {
		return fmt.Errorf("trim %s: %w", r.cfg.DeadLetterStream, err)
	}
	return nil
}

// trimStream trims stream below the oldest entry any of its groups still
// needs: the group's oldest pending entry, or the first entry after its
// last delivered one. Entries pending or not yet delivered to some group
// are never removed. A stream without groups is left alone, as nobody can
// say what is done.
func trimStream(ctx context.Context, rdb redis.UniversalClient, stream string) error {
	groups, err := rdb.XInfoGroups(ctx, stream).Result()
	if isNoKey(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("trim %s: groups: %w", stream, err)
	}
	if len(groups) == 0 {
		return nil
	}
	var keep streamID
	for i, g := range groups {
		need, err := parseID(g.LastDeliveredID)
		if err != nil {
			return fmt.Errorf("trim %s: %w", stream, err)
		}
		if g.Pending > 0 {
			p, err := rdb.XPending(ctx, stream, g.Name).Result()
			if err != nil {
				return fmt.Errorf("trim %s: pending of %s: %w", stream, g.Name, err)
			}
			if p.Count > 0 {
				lower, err := parseID(p.Lower)
				if err != nil {
					return fmt.Errorf("trim %s: %w", stream, err)
				}
				if lower.less(need) {
					need = lower
				}
			}
		}
		if i == 0 || need.less(keep) {
			keep = need
		}
	}
	if keep == (streamID{}) {
		return nil
	}
	// MINID keeps keep itself: harmless for a last delivered entry, needed
	// for a pending one.
	if err := rdb.XTrimMinIDApprox(ctx, stream, keep.String(), 0).Err(); err != nil {
		return fmt.Errorf("trim %s: %w", stream, err)
	}
	return nil
}
