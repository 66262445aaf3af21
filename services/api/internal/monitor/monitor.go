// Package monitor reads the pipeline's shared state in Redis — breaker,
// queue and scheduler heartbeat — for health reports.
package monitor

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/pickmyclass/pickmyclass/pkg/breaker"
	"github.com/pickmyclass/pickmyclass/pkg/check"
	"github.com/pickmyclass/pickmyclass/pkg/stream"
)

// Monitor reads the pipeline's health over Redis for the web app.
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
func (m *Monitor) Heartbeat(ctx context.Context) (check.Heartbeat, error) {
	v, err := m.rdb.HGetAll(ctx, m.keys.Heartbeat()).Result()
	if err != nil {
		return check.Heartbeat{}, fmt.Errorf("read scheduler heartbeat: %w", err)
	}
	return check.ParseHeartbeat(v)
}
