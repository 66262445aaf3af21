// Package upstream holds the worker's shared view of the university's
// availability beyond the circuit breaker: the 429 back-off and the change
// announcements for live dashboards.
package upstream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/check"
)

// Backoff is the back-off every worker honours after the university answers
// 429: it waits Retry-After when given, and otherwise 60 s doubling on each
// further 429 up to 15 minutes. The state lives in Redis so one worker's 429
// slows all of them.
type Backoff struct {
	rdb  redis.UniversalClient
	key  string
	base time.Duration
	cap  time.Duration
	// armed is set when this process has seen a back-off, so the common
	// success path costs no Redis call.
	armed atomic.Bool
}

// NewBackoff returns the back-off stored at key, starting at base and
// doubling up to limit (60 s and 15 min in production).
func NewBackoff(rdb redis.UniversalClient, key string, base, limit time.Duration) *Backoff {
	return &Backoff{rdb: rdb, key: key, base: base, cap: limit}
}

// rateLimited raises the level only when the previous back-off has passed, so
// many workers hitting the same 429 wave escalate it once, not once each.
var rateLimited = redis.NewScript(`
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local until_ms = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')
if until_ms > now then return until_ms - now end
local level = tonumber(redis.call('HGET', KEYS[1], 'level') or '0')
local wait = math.min(tonumber(ARGV[2]) * (2 ^ level), tonumber(ARGV[3]))
wait = math.max(wait, tonumber(ARGV[1]))
redis.call('HSET', KEYS[1], 'until', now + wait, 'level', level + 1)
redis.call('PEXPIRE', KEYS[1], wait + 3600000)
return wait
`)

// RateLimited records a 429 and returns how long every worker now waits.
func (b *Backoff) RateLimited(ctx context.Context, retryAfter time.Duration) (time.Duration, error) {
	b.armed.Store(true)
	ms, err := rateLimited.Run(ctx, b.rdb, []string{b.key},
		retryAfter.Milliseconds(), b.base.Milliseconds(), b.cap.Milliseconds()).Int64()
	if err != nil {
		return 0, fmt.Errorf("record 429 back-off: %w", err)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// Until returns when the university may be called again; zero when now.
func (b *Backoff) Until(ctx context.Context) (time.Time, error) {
	v, err := b.rdb.HGet(ctx, b.key, "until").Result()
	if errors.Is(err, redis.Nil) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("read back-off: %w", err)
	}
	b.armed.Store(true)
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("read back-off: %w", err)
	}
	return time.UnixMilli(ms), nil
}

// OK ends the back-off after a successful call.
func (b *Backoff) OK(ctx context.Context) error {
	if !b.armed.Swap(false) {
		return nil
	}
	return b.rdb.Del(ctx, b.key).Err()
}

// Announcer publishes changed sections on a Redis pub/sub channel, which the
// API relays to open dashboards.
type Announcer struct {
	rdb     redis.UniversalClient
	channel string
}

// NewAnnouncer returns an Announcer publishing on channel.
func NewAnnouncer(rdb redis.UniversalClient, channel string) *Announcer {
	return &Announcer{rdb: rdb, channel: channel}
}

// Announce publishes the keys (check.EncodeUpdate).
func (a *Announcer) Announce(ctx context.Context, keys []catalog.SectionKey) error {
	b, err := check.EncodeUpdate(keys)
	if err != nil {
		return err
	}
	return a.rdb.Publish(ctx, a.channel, b).Err()
}
