// Package lock is a Redis lease used for leader election: one key holds the
// random token of the instance that leads, with a TTL the leader keeps
// renewing. It is the single-instance algorithm from the Redis documentation
// (SET NX PX to acquire, compare-and-set Lua to renew and release), and it is
// an efficiency lock: work done under it must still be idempotent, because a
// paused process can believe it leads for a moment after its lease lapsed.
//
// A Lease implements gocron v2's Elector, so a scheduler built with
// gocron.WithDistributedElector(lease) runs jobs only on the leader while
// lease.Run keeps the lease alive.
package lock

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
)

// ErrNotLeader is returned by IsLeader when this instance does not hold an
// unexpired lease.
var ErrNotLeader = errors.New("lock: not the leader")

// renewScript extends the lease only if this instance still holds it; a
// plain PEXPIRE could extend a lease another instance acquired after ours
// expired.
var renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
	return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`)

// releaseScript deletes the key only if this instance holds it, so a late
// release never frees another instance's lease.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
	return redis.call('DEL', KEYS[1])
end
return 0
`)

// Option configures a Lease.
type Option func(*Lease)

// WithLogger makes the lease log when this instance gains or loses
// leadership.
func WithLogger(log zerolog.Logger) Option {
	return func(l *Lease) { l.log = log }
}

// WithClock replaces time.Now for the local expiry bookkeeping; tests use it
// to check the expiry arithmetic without waiting.
func WithClock(now func() time.Time) Option {
	return func(l *Lease) { l.now = now }
}

// WithToken sets the value stored in the key instead of a random one. It
// must be unique per instance (a hostname plus a random suffix, say); it
// helps operators see who leads.
func WithToken(token string) Option {
	return func(l *Lease) { l.token = token }
}

// Lease is one instance's claim on a leadership key. Its methods are safe
// for concurrent use.
type Lease struct {
	rdb   redis.UniversalClient
	key   string
	ttl   time.Duration
	token string
	log   zerolog.Logger
	now   func() time.Time

	mu     sync.Mutex
	expiry time.Time // local, conservative end of our lease; zero when not leading
	leader bool      // what we last logged, so gains and losses are logged once
}

// New returns a lease on key that lasts ttl unless renewed. The lease is not
// acquired until TryAcquire or Run is called.
func New(rdb redis.UniversalClient, key string, ttl time.Duration, opts ...Option) *Lease {
	l := &Lease{
		rdb:   rdb,
		key:   key,
		ttl:   ttl,
		token: randomToken(),
		log:   zerolog.Nop(),
		now:   time.Now,
	}
	for _, o := range opts {
		o(l)
	}
	return l
}

// Token returns the value this lease stores in its key.
func (l *Lease) Token() string { return l.token }

// TryAcquire takes the lease if nobody holds it and reports whether it did.
// It returns false when the key is held, even by this instance: Run renews
// a lease it already holds instead of acquiring it again.
func (l *Lease) TryAcquire(ctx context.Context) (bool, error) {
	start := l.now()
	ok, err := l.rdb.SetNX(ctx, l.key, l.token, l.ttl).Result()
	if err != nil {
		return false, fmt.Errorf("acquire lease %s: %w", l.key, err)
	}
	if ok {
		l.extend(start)
	}
	return ok, nil
}

// Renew extends the lease by its ttl if this instance still holds it and
// reports whether it did. A false result means the lease was lost.
func (l *Lease) Renew(ctx context.Context) (bool, error) {
	start := l.now()
	n, err := renewScript.Run(ctx, l.rdb, []string{l.key}, l.token, l.ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("renew lease %s: %w", l.key, err)
	}
	if n == 1 {
		l.extend(start)
		return true, nil
	}
	l.lose("lease taken or expired")
	return false, nil
}

// Release gives the lease up if this instance holds it. Whatever Redis
// answers, this instance stops believing it leads.
func (l *Lease) Release(ctx context.Context) error {
	l.lose("released")
	if err := releaseScript.Run(ctx, l.rdb, []string{l.key}, l.token).Err(); err != nil {
		return fmt.Errorf("release lease %s: %w", l.key, err)
	}
	return nil
}

// IsLeader returns nil while this instance holds an unexpired lease and
// ErrNotLeader otherwise. It asks no one: it reads the local expiry that
// Run keeps pushing forward, so it is cheap enough for gocron to call
// before every job, and it turns false on its own when Redis cannot be
// reached to renew. It implements gocron v2's Elector.
func (l *Lease) IsLeader(context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.now().Before(l.expiry) {
		return nil
	}
	return ErrNotLeader
}

// Run acquires the lease when it is free and renews it while held, every
// ttl/3, until ctx ends; then it releases the lease and returns nil. Redis
// errors are logged and retried at the next tick rather than returned, so a
// Redis outage demotes this instance (through the local expiry) without
// stopping it.
func (l *Lease) Run(ctx context.Context) error {
	tick := time.NewTicker(max(l.ttl/3, time.Millisecond))
	defer tick.Stop()
	for {
		l.step(ctx)
		select {
		case <-ctx.Done():
			// The parent context is over, but the release still deserves a
			// bounded chance to reach Redis so the next leader need not wait
			// out the TTL.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), max(l.ttl, time.Second))
			defer cancel()
			if err := l.Release(rctx); err != nil {
				l.log.Warn().Err(err).Str("key", l.key).Msg("release lease on shutdown")
			}
			return nil
		case <-tick.C:
		}
	}
}

// step renews first because, after a blip that hid a successful renewal from
// us, the key may still be ours and SET NX would then refuse it.
func (l *Lease) step(ctx context.Context) {
	ok, err := l.Renew(ctx)
	if err == nil && !ok {
		_, err = l.TryAcquire(ctx)
	}
	if err == nil {
		return
	}
	if ctx.Err() == nil {
		l.log.Warn().Err(err).Str("key", l.key).Msg("lease renewal")
	}
	l.checkExpired()
}

// extend records a lease that Redis accepted at or after start. The local
// expiry counts from before the request was sent and subtracts a drift
// margin, so it ends before the key does in Redis even if the request took a
// while or the clocks run at slightly different rates.
func (l *Lease) extend(start time.Time) {
	drift := l.ttl/20 + 2*time.Millisecond
	l.mu.Lock()
	defer l.mu.Unlock()
	l.expiry = start.Add(l.ttl - drift)
	if !l.leader {
		l.leader = true
		l.log.Info().Str("key", l.key).Str("token", l.token).Msg("leadership gained")
	}
}

func (l *Lease) lose(reason string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.expiry = time.Time{}
	if l.leader {
		l.leader = false
		l.log.Info().Str("key", l.key).Str("token", l.token).Str("reason", reason).Msg("leadership lost")
	}
}

// checkExpired logs the loss of a lease that ran out while Redis could not
// be reached; IsLeader already reports it from the expiry alone.
func (l *Lease) checkExpired() {
	l.mu.Lock()
	expired := l.leader && !l.now().Before(l.expiry)
	l.mu.Unlock()
	if expired {
		l.lose("not renewed before expiry")
	}
}

func randomToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
