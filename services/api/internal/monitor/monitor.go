// Package monitor reads the pipeline's shared state in Redis — breaker,
// queue and scheduler heartbeat — for health reports.
package monitor

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pickmyclass/pickmyclass/pkg/breaker"
	"github.com/pickmyclass/pickmyclass/pkg/check"
	"github.com/pickmyclass/pickmyclass/pkg/stream"
	"github.com/pickmyclass/pickmyclass/services/api/internal/web"
)

// Monitor implements web.Monitor over Redis.
type Monitor struct {
	rdb     redis.UniversalClient
	keys    check.Keys
	breaker *breaker.Breaker
}

// New returns a Monitor of the deployment under keys.
func New(rdb redis.UniversalClient, keys check.Keys, brk *breaker.Breaker) *Monitor {
	return &Monitor{rdb: rdb, keys: keys, breaker: brk}
}

// Ping checks Redis.
func (m *Monitor) Ping(ctx context.Context) error { return m.rdb.Ping(ctx).Err() }

// Breaker returns the shared breaker's state.
func (m *Monitor) Breaker(ctx context.Context) (breaker.Snapshot, error) { return m.breaker.State(ctx) }

// Queue returns the checks stream's figures.
func (m *Monitor) Queue(ctx context.Context) (stream.Stats, error) {
	return stream.Inspect(ctx, m.rdb, m.keys.Stream(), m.keys.Group(), m.keys.DeadLetter())
}

// Heartbeat returns the scheduler's last completed run (zero when none).
func (m *Monitor) Heartbeat(ctx context.Context) (web.Heartbeat, error) {
	v, err := m.rdb.HGetAll(ctx, m.keys.Heartbeat()).Result()
	if err != nil {
		return web.Heartbeat{}, fmt.Errorf("read scheduler heartbeat: %w", err)
	}
	hb := web.Heartbeat{Cycle: v["cycle"]}
	if s := v["completed_at"]; s != "" {
		if hb.CompletedAt, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return hb, fmt.Errorf("scheduler heartbeat: %w", err)
		}
	}
	hb.Enqueued, _ = strconv.Atoi(v["enqueued"])
	return hb, nil
}
