// Package ratelimit is a token bucket kept in Redis, so that every worker
// process draws on one budget: the politeness budget toward a university's
// servers, or the rate at which email is sent.
//
// The bucket refills from the Redis server's clock (TIME) inside one Lua
// script, so workers with skewed clocks share it fairly. An idle bucket's
// key expires once it would have refilled completely, since a missing key
// and a full bucket mean the same thing.
//
// When Redis cannot be reached, Wait falls back to an in-process limiter at
// the same rate: an outage slows the service down (each process then has the
// whole budget to itself) but neither stops it nor lets it flood.
package ratelimit

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"golang.org/x/time/rate"
)

// refillLua starts both scripts: it reads the bucket and adds the tokens
// that accrued since its last use, by the server's clock.
const refillLua = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local h = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(h[1] or '')
local ts = tonumber(h[2] or '')
if tokens == nil or ts == nil then
	tokens = burst
	ts = now
end
if now > ts then
	tokens = math.min(burst, tokens + (now - ts) * rate / 1000000)
end
`

// takeScript takes one token if there is one.
//
// The hash holds tokens (a float) and ts (server time in µs of the last
// refill). ARGV: rate (tokens per second), burst, ttl_ms.
// Returns {1, 0} when a token was taken, or {0, wait_µs} with the time until
// one will be there.
var takeScript = redis.NewScript(refillLua + `
local ok, wait = 0, 0
if tokens >= 1 then
	tokens = tokens - 1
	ok = 1
else
	wait = math.ceil((1 - tokens) * 1000000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', now)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {ok, wait}
`)

// Option configures a Bucket.
type Option func(*Bucket)

// WithLogger makes the bucket log when it falls back to its local limiter
// and when it returns to Redis.
func WithLogger(log zerolog.Logger) Option {
	return func(b *Bucket) { b.log = log }
}

// WithFallbackRetry sets how long Wait keeps using the local limiter after
// a Redis error before it tries Redis again; the default is 5 seconds. It
// keeps an outage from adding a failed round trip to every Wait.
func WithFallbackRetry(d time.Duration) Option {
	return func(b *Bucket) { b.retry = d }
}

// Bucket is one process's handle on a token bucket shared through Redis.
// It is safe for concurrent use.
type Bucket struct {
	rdb   redis.UniversalClient
	key   string
	rate  float64
	burst int
	ttl   time.Duration
	log   zerolog.Logger
	retry time.Duration
	local *rate.Limiter

	mu            sync.Mutex
	fallback      bool
	fallbackUntil time.Time
}

// New returns the bucket stored at key, refilling at r tokens per second
// up to burst tokens (at least 1). Every Bucket on the same key must use the
// same rate and burst. New panics if r is not positive, which is a
// programming error like a non-positive time.NewTicker period.
func New(rdb redis.UniversalClient, key string, r float64, burst int, opts ...Option) *Bucket {
	if !(r > 0) || math.IsInf(r, 0) {
		panic(fmt.Sprintf("ratelimit: rate must be positive and finite, got %v", r))
	}
	burst = max(burst, 1)
	b := &Bucket{
		rdb:   rdb,
		key:   key,
		rate:  r,
		burst: burst,
		// A key left alone this long holds a full bucket, the same as no
		// key at all; the extra second absorbs rounding.
		ttl:   time.Duration(float64(burst)/r*float64(time.Second)) + time.Second,
		log:   zerolog.Nop(),
		retry: 5 * time.Second,
	}
	for _, o := range opts {
		o(b)
	}
	b.local = rate.NewLimiter(rate.Limit(r), burst)
	return b
}

// reserveScript takes one token now or, when the bucket is empty, the next
// one not yet promised: the balance goes below zero and the caller learns
// how long until its token exists. Every waiter thus makes one call and
// sleeps exactly its share, instead of waking with the others at each
// refill to race for it. ARGV as takeScript, then the number of tokens.
// Returns the wait in µs.
var reserveScript = redis.NewScript(refillLua + `
tokens = tokens - tonumber(ARGV[4])
local wait = 0
if tokens < 0 then
	wait = math.ceil(-tokens * 1000000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', now)
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]) + math.ceil(wait / 1000))
return wait
`)

// Take takes one token if the bucket has one. When it has none, ok is false
// and wait is how long until it will. Take only asks Redis and returns its
// errors; Wait is the call that survives an outage.
func (b *Bucket) Take(ctx context.Context) (ok bool, wait time.Duration, err error) {
	res, err := takeScript.Run(ctx, b.rdb, []string{b.key},
		b.rate, b.burst, b.ttl.Milliseconds()).Int64Slice()
	if err != nil {
		return false, 0, fmt.Errorf("take token from %s: %w", b.key, err)
	}
	if len(res) != 2 {
		return false, 0, fmt.Errorf("take token from %s: unexpected reply %v", b.key, res)
	}
	return res[0] == 1, time.Duration(res[1]) * time.Microsecond, nil
}

// Wait blocks until it has its token or ctx ends, in which case it returns
// ctx's error (a token reserved for it then goes unused: the budget errs on
// the polite side). If Redis cannot be reached it waits on the local limiter
// instead and returns nil.
func (b *Bucket) Wait(ctx context.Context) error {
	d, err := b.Reserve(ctx, 1)
	if err != nil {
		return err
	}
	return sleep(ctx, d, b.key)
}

// Reserve takes n tokens at once, letting the balance go into debt, and
// returns how long until the last of them exists: the caller that sleeps
// that long has kept to the rate, and any caller after it waits for the
// debt to be paid. A caller may reserve after the fact, for what it has
// already consumed (say, the rows of a page it just read), and then sleep
// or not. n may exceed the burst. If Redis cannot be reached it reserves on
// the local limiter instead.
func (b *Bucket) Reserve(ctx context.Context, n int) (time.Duration, error) {
	n = max(n, 1)
	if b.usingFallback() {
		return b.reserveLocal(n), nil
	}
	us, err := reserveScript.Run(ctx, b.rdb, []string{b.key}, b.rate, b.burst, b.ttl.Milliseconds(), n).Int64()
	if err != nil {
		if ctx.Err() != nil {
			return 0, fmt.Errorf("reserve %d tokens from %s: %w", n, b.key, ctx.Err())
		}
		b.redisFailed(fmt.Errorf("reserve %d tokens from %s: %w", n, b.key, err))
		return b.reserveLocal(n), nil
	}
	b.redisAnswered()
	return time.Duration(max(us, 0)) * time.Microsecond, nil
}

// reserveLocal reserves n tokens on the in-process limiter, which cannot
// hand out more than its burst at once: larger reservations are split.
func (b *Bucket) reserveLocal(n int) time.Duration {
	now := time.Now()
	var d time.Duration
	for n > 0 {
		k := min(n, b.burst)
		d = max(d, b.local.ReserveN(now, k).DelayFrom(now))
		n -= k
	}
	return d
}

func sleep(ctx context.Context, d time.Duration, key string) error {
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("wait for token from %s: %w", key, ctx.Err())
	case <-timer.C:
		return nil
	}
}

func (b *Bucket) usingFallback() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.fallback && time.Now().Before(b.fallbackUntil)
}

func (b *Bucket) redisFailed(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fallbackUntil = time.Now().Add(b.retry)
	if !b.fallback {
		b.fallback = true
		b.log.Error().Err(err).Str("key", b.key).Dur("retry_in", b.retry).
			Msg("redis unreachable; rate limiter using local fallback")
	}
}

func (b *Bucket) redisAnswered() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fallback {
		b.fallback = false
		b.log.Info().Str("key", b.key).Msg("redis answers again; rate limiter back on shared bucket")
	}
}
