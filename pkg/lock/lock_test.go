package lock_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/pickmyclass/pickmyclass/pkg/lock"
	"github.com/pickmyclass/pickmyclass/pkg/testenv"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const ttl = 300 * time.Millisecond

var _ gocron.Elector = (*lock.Lease)(nil)

// outage is a go-redis hook that makes every command fail while down is set,
// as if Redis could not be reached, without touching the shared server.
type outage struct{ down atomic.Bool }

var errUnreachable = errors.New("dial tcp: connection refused (simulated)")

func (o *outage) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) { return next(ctx, network, addr) }
}

func (o *outage) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if o.down.Load() {
			cmd.SetErr(errUnreachable)
			return errUnreachable
		}
		return next(ctx, cmd)
	}
}

func (o *outage) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// runLease runs l until the test ends or the returned cancel is called, and
// waits for Run to return either way.
func runLease(t *testing.T, l *lock.Lease) (cancel func()) {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	var once sync.Once
	cancel = func() {
		once.Do(func() {
			stop()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(cancel)
	return cancel
}

func leaders(ctx context.Context, leases ...*lock.Lease) []int {
	var idx []int
	for i, l := range leases {
		if l.IsLeader(ctx) == nil {
			idx = append(idx, i)
		}
	}
	return idx
}

func TestTryAcquireExactlyOneLeads(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	ctx := testenv.Context(t, 10*time.Second)
	key := prefix + "leader"

	leases := make([]*lock.Lease, 5)
	got := make([]bool, len(leases))
	var wg sync.WaitGroup
	for i := range leases {
		leases[i] = lock.New(rdb, key, 5*time.Second)
		wg.Go(func() {
			ok, err := leases[i].TryAcquire(ctx)
			if err != nil {
				t.Errorf("TryAcquire: %v", err)
			}
			got[i] = ok
		})
	}
	wg.Wait()

	var won []int
	for i, ok := range got {
		if ok {
			won = append(won, i)
		}
	}
	if len(won) != 1 {
		t.Fatalf("TryAcquire succeeded for leases %v, want exactly one", won)
	}
	if l := leaders(ctx, leases...); len(l) != 1 || l[0] != won[0] {
		t.Fatalf("IsLeader nil for leases %v, want only %d", l, won[0])
	}
	val, err := rdb.Get(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	if want := leases[won[0]].Token(); val != want {
		t.Fatalf("key holds %q, want the winner's token %q", val, want)
	}
	if err := leases[won[0]].IsLeader(ctx); err != nil {
		t.Fatalf("winner IsLeader = %v", err)
	}
	for i, l := range leases {
		if i != won[0] && !errors.Is(l.IsLeader(ctx), lock.ErrNotLeader) {
			t.Fatalf("lease %d IsLeader = %v, want ErrNotLeader", i, l.IsLeader(ctx))
		}
	}
}

func TestRunTakesOverWhenLeaderGoesAway(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// leave makes the current leader stop leading in one of two ways.
		leave func(cancelRun func())
	}{
		{name: "leader releases on shutdown", leave: func(cancelRun func()) { cancelRun() }},
		{name: "leader stops renewing", leave: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rdb, prefix := testenv.Redis(t)
			ctx := testenv.Context(t, 10*time.Second)
			key := prefix + "leader"

			a := lock.New(rdb, key, ttl)
			b := lock.New(rdb, key, ttl)
			var leave func()
			if tc.leave != nil {
				cancelA := runLease(t, a)
				testenv.Eventually(t, 2*time.Second, func() error {
					if a.IsLeader(ctx) != nil {
						return testenv.ErrNotYet
					}
					return nil
				})
				leave = func() { tc.leave(cancelA) }
			} else {
				// Acquired once and never renewed, as if the process hung.
				if ok, err := a.TryAcquire(ctx); err != nil || !ok {
					t.Fatalf("TryAcquire = %v, %v", ok, err)
				}
				leave = func() {}
			}
			runLease(t, b)
			if err := b.IsLeader(ctx); err == nil {
				t.Fatal("b leads while a holds the lease")
			}

			start := time.Now()
			leave()
			testenv.Eventually(t, 2*ttl, func() error {
				if b.IsLeader(ctx) != nil {
					return fmt.Errorf("b not leading after %s", time.Since(start))
				}
				return nil
			})
			if err := a.IsLeader(ctx); err == nil {
				t.Fatal("a still believes it leads after b took over")
			}
			val, err := rdb.Get(ctx, key).Result()
			if err != nil {
				t.Fatal(err)
			}
			if val != b.Token() {
				t.Fatalf("key holds %q, want b's token", val)
			}
		})
	}
}

func TestRenewAndReleaseOnlyByHolder(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	ctx := testenv.Context(t, 10*time.Second)
	key := prefix + "leader"

	holder := lock.New(rdb, key, 5*time.Second)
	other := lock.New(rdb, key, 5*time.Second)
	if ok, err := holder.TryAcquire(ctx); err != nil || !ok {
		t.Fatalf("TryAcquire = %v, %v", ok, err)
	}
	if ok, err := other.Renew(ctx); err != nil || ok {
		t.Fatalf("non-holder Renew = %v, %v; want false, nil", ok, err)
	}
	if err := other.Release(ctx); err != nil {
		t.Fatalf("non-holder Release: %v", err)
	}
	if val, err := rdb.Get(ctx, key).Result(); err != nil || val != holder.Token() {
		t.Fatalf("after non-holder Release key = %q, %v; want the holder's token", val, err)
	}
	if ok, err := holder.Renew(ctx); err != nil || !ok {
		t.Fatalf("holder Renew = %v, %v; want true, nil", ok, err)
	}
	if err := holder.Release(ctx); err != nil {
		t.Fatalf("holder Release: %v", err)
	}
	if n, err := rdb.Exists(ctx, key).Result(); err != nil || n != 0 {
		t.Fatalf("after holder Release Exists = %d, %v; want 0", n, err)
	}
	if err := holder.IsLeader(ctx); !errors.Is(err, lock.ErrNotLeader) {
		t.Fatalf("IsLeader after Release = %v, want ErrNotLeader", err)
	}
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func TestLocalExpiryEndsBeforeTheKey(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	ctx := testenv.Context(t, 10*time.Second)
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	start := clock.Now()
	l := lock.New(rdb, prefix+"leader", 10*time.Second, lock.WithClock(clock.Now))

	if ok, err := l.TryAcquire(ctx); err != nil || !ok {
		t.Fatalf("TryAcquire = %v, %v", ok, err)
	}
	tests := []struct {
		after  time.Duration
		leader bool
	}{
		{after: 0, leader: true},
		{after: 9 * time.Second, leader: true},
		// The local lease must end strictly before Redis would expire the
		// key, measured from before the SET was sent.
		{after: 10*time.Second - time.Millisecond, leader: false},
		{after: 10 * time.Second, leader: false},
	}
	for _, tc := range tests {
		clock.Set(start.Add(tc.after))
		if got := l.IsLeader(ctx) == nil; got != tc.leader {
			t.Errorf("IsLeader after %s: leader = %v, want %v", tc.after, got, tc.leader)
		}
	}
}

func TestUnreachableRedisDemotesBeforeKeyExpires(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	ctx := testenv.Context(t, 10*time.Second)
	key := prefix + "leader"

	flaky := redis.NewClient(rdb.Options())
	t.Cleanup(func() { _ = flaky.Close() })
	var o outage
	flaky.AddHook(&o)

	const longTTL = 2 * time.Second
	l := lock.New(flaky, key, longTTL)
	runLease(t, l)
	testenv.Eventually(t, 2*time.Second, func() error {
		if l.IsLeader(ctx) != nil {
			return testenv.ErrNotYet
		}
		return nil
	})

	o.down.Store(true)
	testenv.Eventually(t, 2*longTTL, func() error {
		if l.IsLeader(ctx) == nil {
			return testenv.ErrNotYet
		}
		return nil
	})
	// The key must still be in Redis at this point: the instance stepped
	// down on its own before anyone else could take over.
	pttl, err := rdb.PTTL(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	if pttl <= 0 {
		t.Fatalf("key PTTL = %s when the instance stepped down; want it still alive", pttl)
	}
	o.down.Store(false)
}

func TestGocronRunsJobsOnlyOnLeader(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	ctx := testenv.Context(t, 20*time.Second)
	key := prefix + "scheduler"

	type instance struct {
		lease  *lock.Lease
		cancel func()
		runs   atomic.Int64
	}
	instances := make([]*instance, 2)
	for i := range instances {
		in := &instance{lease: lock.New(rdb, key, ttl)}
		in.cancel = runLease(t, in.lease)
		s, err := gocron.NewScheduler(gocron.WithDistributedElector(in.lease), gocron.WithStopTimeout(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.NewJob(gocron.DurationJob(100*time.Millisecond), gocron.NewTask(func() { in.runs.Add(1) }),
			gocron.WithSingletonMode(gocron.LimitModeReschedule))
		if err != nil {
			t.Fatal(err)
		}
		s.Start()
		t.Cleanup(func() {
			if err := s.Shutdown(); err != nil {
				t.Errorf("scheduler shutdown: %v", err)
			}
		})
		instances[i] = in
	}

	var leader, follower *instance
	testenv.Eventually(t, 2*time.Second, func() error {
		l := leaders(ctx, instances[0].lease, instances[1].lease)
		if len(l) != 1 {
			return fmt.Errorf("leaders %v", l)
		}
		leader, follower = instances[l[0]], instances[1-l[0]]
		return nil
	})
	// Runs counted from here on happen with a settled leader.
	before := follower.runs.Load()
	leaderBefore := leader.runs.Load()
	testenv.Eventually(t, 5*time.Second, func() error {
		if n := leader.runs.Load() - leaderBefore; n < 5 {
			return fmt.Errorf("leader ran %d times", n)
		}
		return nil
	})
	if n := follower.runs.Load() - before; n != 0 {
		t.Fatalf("follower ran the job %d times while the other instance led", n)
	}

	// Hand over: the old leader stops, the follower becomes the one that runs.
	leader.cancel()
	testenv.Eventually(t, 5*time.Second, func() error {
		if n := follower.runs.Load(); n < 3 {
			return fmt.Errorf("new leader ran %d times", n)
		}
		return nil
	})
}
