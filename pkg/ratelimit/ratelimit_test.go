package ratelimit_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/pickmyclass/pickmyclass/pkg/ratelimit"
	"github.com/pickmyclass/pickmyclass/pkg/testenv"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestSharedBucketAdmitsAtRate(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	ctx := testenv.Context(t, 20*time.Second)
	const (
		rate   = 50.0
		burst  = 5
		window = time.Second
	)
	// Two buckets on one key stand for two worker processes.
	buckets := []*ratelimit.Bucket{
		ratelimit.New(rdb, prefix+"asu", rate, burst),
		ratelimit.New(rdb, prefix+"asu", rate, burst),
	}

	wctx, cancel := context.WithTimeout(ctx, window)
	defer cancel()
	start := time.Now()
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for i := range 6 {
		b := buckets[i%2]
		wg.Go(func() {
			for {
				if err := b.Wait(wctx); err != nil {
					if !errors.Is(err, context.DeadlineExceeded) {
						t.Errorf("Wait: %v", err)
					}
					return
				}
				admitted.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)

	// The bucket starts full, then refills at rate. Nothing can beat that
	// (one token of slack for the refill in flight at the deadline); a slow
	// CI machine may fall well short of it.
	limit := burst + int64(rate*elapsed.Seconds()) + 1
	if got := admitted.Load(); got > limit || got < limit/2 {
		t.Fatalf("admitted %d tokens in %s, want between %d and %d", got, elapsed, limit/2, limit)
	}
}

func TestTakeReportsWaitWhenEmpty(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	ctx := testenv.Context(t, 10*time.Second)
	key := prefix + "mail"
	a := ratelimit.New(rdb, key, 1, 2)
	b := ratelimit.New(rdb, key, 1, 2)

	for i, bk := range []*ratelimit.Bucket{a, b} {
		ok, wait, err := bk.Take(ctx)
		if err != nil || !ok || wait != 0 {
			t.Fatalf("Take %d = %v, %s, %v; want true, 0, nil", i+1, ok, wait, err)
		}
	}
	ok, wait, err := a.Take(ctx)
	if err != nil || ok {
		t.Fatalf("Take on empty bucket = %v, %v; want false, nil", ok, err)
	}
	if wait <= 0 || wait > time.Second {
		t.Fatalf("wait = %s, want in (0, 1s]", wait)
	}

	// An idle bucket's key goes away once it would be full again.
	pttl, err := rdb.PTTL(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	if pttl <= 0 || pttl > 3*time.Second {
		t.Fatalf("PTTL = %s, want in (0, 3s]", pttl)
	}
}

func TestWaitReturnsPromptlyOnCancel(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	ctx := testenv.Context(t, 10*time.Second)
	b := ratelimit.New(rdb, prefix+"slow", 0.1, 1) // next token in 10 s

	if err := b.Wait(ctx); err != nil {
		t.Fatalf("first Wait: %v", err)
	}
	// The deadline falls while Wait sleeps toward a token 10 s away.
	wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := b.Wait(wctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait past its deadline = %v, want context.DeadlineExceeded", err)
	}
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Fatalf("Wait returned %s after its 200ms deadline, want promptly", elapsed)
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := b.Wait(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait with a cancelled context = %v, want context.Canceled", err)
	}
}

func TestWaitFallsBackWhenRedisUnreachable(t *testing.T) {
	t.Parallel()
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { _ = dead.Close() })
	ctx := testenv.Context(t, 10*time.Second)
	var logs testenv.SyncBuffer
	b := ratelimit.New(dead, "unreachable", 50, 5,
		ratelimit.WithLogger(zerolog.New(&logs)), ratelimit.WithFallbackRetry(10*time.Millisecond))

	if _, _, err := b.Take(ctx); err == nil {
		t.Fatal("Take with Redis unreachable returned no error")
	}
	const n = 15
	start := time.Now()
	for range n {
		if err := b.Wait(ctx); err != nil {
			t.Fatalf("Wait: %v", err)
		}
	}
	// The local limiter starts full (5) and refills at 50/s, so 15 tokens
	// take at least 10/50 s: an outage slows callers down, it does not
	// unleash them.
	if elapsed, least := time.Since(start), 180*time.Millisecond; elapsed < least {
		t.Fatalf("%d Waits took %s, want at least %s", n, elapsed, least)
	}
	if got := strings.Count(logs.String(), "local fallback"); got != 1 {
		t.Fatalf("fallback logged %d times, want once:\n%s", got, logs.String())
	}
}

// countHook counts the scripts a client runs (new pooled connections add
// their own set-up commands, which are not the bucket's doing).
type countHook struct{ n atomic.Int64 }

func (h *countHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if name := cmd.Name(); name == "evalsha" || name == "eval" {
			h.n.Add(1)
		}
		return next(ctx, cmd)
	}
}
func (h *countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// Waiters on an empty bucket each reserve a future token with one call and
// sleep exactly until it exists: they do not wake together at every refill
// to race for it, and tokens are handed out at the rate.
func TestWaitReservesOneCallPerToken(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	opts := rdb.Options()
	counted := redis.NewClient(opts)
	defer counted.Close()
	hook := &countHook{}
	counted.AddHook(hook)
	ctx := testenv.Context(t, 20*time.Second)
	b := ratelimit.New(counted, prefix+"asu", 100, 1)
	if err := b.Wait(ctx); err != nil { // loads the script
		t.Fatal(err)
	}
	before := hook.n.Load()
	start := time.Now()
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if err := b.Wait(ctx); err != nil {
				t.Errorf("Wait: %v", err)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if calls := hook.n.Load() - before; calls != 10 {
		t.Errorf("10 waits made %d Redis calls, want 10", calls)
	}
	// The first Wait emptied the bucket: ten more tokens at 100/s take
	// about 100 ms, never less than 90.
	if elapsed < 90*time.Millisecond {
		t.Errorf("10 tokens at 100/s in %s, faster than the rate", elapsed)
	}
}

// Reserving many tokens at once puts the shared bucket into debt that the
// next caller, on another handle, waits out.
func TestReserveManyChargesEveryHandle(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	ctx := testenv.Context(t, 10*time.Second)
	key := prefix + "sections"
	const rate, burst = 100.0, 200
	a := ratelimit.New(rdb, key, rate, burst)
	b := ratelimit.New(rdb, key, rate, burst)

	if d, err := a.Reserve(ctx, burst); err != nil || d != 0 {
		t.Fatalf("Reserve(burst) on a full bucket = %s, %v; want 0, nil", d, err)
	}
	// 300 more than the bucket holds: 3 s of refill at 100/s.
	d, err := b.Reserve(ctx, 300)
	if err != nil {
		t.Fatal(err)
	}
	if d < 2900*time.Millisecond || d > 3*time.Second {
		t.Fatalf("Reserve(300) on an empty bucket waits %s; want about 3s", d)
	}
	// The debt is shared: a single token now waits behind it.
	ok, wait, err := a.Take(ctx)
	if err != nil || ok {
		t.Fatalf("Take while in debt = %v, %v; want false, nil", ok, err)
	}
	if wait < 2900*time.Millisecond {
		t.Fatalf("Take while in debt waits %s; want at least the debt's 3s", wait)
	}
}
