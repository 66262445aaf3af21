package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/pickmyclass/pickmyclass/pkg/breaker"
	"github.com/pickmyclass/pickmyclass/pkg/testenv"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	openTimeout = 200 * time.Millisecond
	upstream    = "asu"
)

type testBundle struct {
	rdb *redis.Client
	key string
	ctx context.Context
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	rdb, prefix := testenv.Redis(t)
	return &testBundle{rdb: rdb, key: prefix + "breaker:asu", ctx: testenv.Context(t, 20*time.Second)}
}

// newBreaker returns a breaker on the bundle's key, as another worker
// process would have, with its own metrics registry.
func (tb *testBundle) newBreaker(t *testing.T, rdb redis.UniversalClient, mod func(*breaker.Config)) (*breaker.Breaker, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg := breaker.Config{
		Name:        upstream,
		Key:         tb.key,
		OpenTimeout: openTimeout,
		Metrics:     reg,
	}
	if mod != nil {
		mod(&cfg)
	}
	b, err := breaker.New(rdb, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b, reg
}

// report makes one request through b with the given outcome and fails the
// test if b does not admit it.
func report(t *testing.T, ctx context.Context, b *breaker.Breaker, o breaker.Outcome) {
	t.Helper()
	done, err := b.Allow(ctx)
	if err != nil {
		t.Fatalf("Allow before reporting %s: %v", o, err)
	}
	done(o)
}

func wantOpen(t *testing.T, ctx context.Context, b *breaker.Breaker, state breaker.State) *breaker.OpenError {
	t.Helper()
	done, err := b.Allow(ctx)
	if !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("Allow = %v, want ErrOpen", err)
	}
	if done != nil {
		t.Fatal("Allow returned a done func with ErrOpen")
	}
	var oe *breaker.OpenError
	if !errors.As(err, &oe) {
		t.Fatalf("Allow error %T is not an *OpenError", err)
	}
	if oe.State != state {
		t.Fatalf("OpenError.State = %s, want %s", oe.State, state)
	}
	return oe
}

// waitProbe waits for the open timeout to pass and returns the probe's done.
func waitProbe(t *testing.T, ctx context.Context, b *breaker.Breaker) breaker.Done {
	t.Helper()
	var done breaker.Done
	testenv.Eventually(t, 5*openTimeout, func() error {
		d, err := b.Allow(ctx)
		if err != nil {
			return err
		}
		done = d
		return nil
	})
	return done
}

func snapshot(t *testing.T, ctx context.Context, b *breaker.Breaker) breaker.Snapshot {
	t.Helper()
	s, err := b.State(ctx)
	if err != nil {
		t.Fatalf("State: %v", err)
	}
	return s
}

func TestFailuresFromTwoProcessesOpenItForBoth(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	a, regA := tb.newBreaker(t, tb.rdb, nil)
	b, regB := tb.newBreaker(t, tb.rdb, nil)

	for i := range 9 {
		report(t, tb.ctx, []*breaker.Breaker{a, b}[i%2], breaker.Failure)
	}
	if got := snapshot(t, tb.ctx, a); got.State != breaker.Closed || got.Failures != 9 {
		t.Fatalf("after 9 failures: %+v, want closed with 9 failures", got)
	}
	report(t, tb.ctx, b, breaker.Failure)

	for name, br := range map[string]*breaker.Breaker{"a": a, "b": b} {
		oe := wantOpen(t, tb.ctx, br, breaker.Open)
		if oe.RetryIn <= 0 || oe.RetryIn > openTimeout {
			t.Errorf("%s: RetryIn = %s, want in (0, %s]", name, oe.RetryIn, openTimeout)
		}
	}
	s := snapshot(t, tb.ctx, a)
	if s.State != breaker.Open || s.OpenedAt.IsZero() || s.RetryIn <= 0 {
		t.Fatalf("State = %+v, want open with opened_at and retry_in", s)
	}

	// b made the transition, so b counts and logs it; a only sees the state.
	if got := transitions(t, regB, "closed", "open"); got != 1 {
		t.Errorf("b transitions closed→open = %v, want 1", got)
	}
	if got := transitions(t, regA, "closed", "open"); got != 0 {
		t.Errorf("a transitions closed→open = %v, want 0", got)
	}
	for name, reg := range map[string]*prometheus.Registry{"a": regA, "b": regB} {
		if got := gauge(t, reg, "pickmyclass_breaker_state"); got != float64(breaker.Open) {
			t.Errorf("%s state gauge = %v, want %v", name, got, float64(breaker.Open))
		}
	}
}

func TestSuccessResetsConsecutiveFailures(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	a, _ := tb.newBreaker(t, tb.rdb, nil)
	b, _ := tb.newBreaker(t, tb.rdb, nil)

	for range 9 {
		report(t, tb.ctx, a, breaker.Failure)
	}
	report(t, tb.ctx, b, breaker.Success)
	for range 9 {
		report(t, tb.ctx, a, breaker.Failure)
	}
	if got := snapshot(t, tb.ctx, a); got.State != breaker.Closed || got.Failures != 9 {
		t.Fatalf("State = %+v, want closed with 9 failures", got)
	}
	report(t, tb.ctx, b, breaker.Failure)
	wantOpen(t, tb.ctx, a, breaker.Open)
}

func TestIgnoreCountsNothing(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	a, _ := tb.newBreaker(t, tb.rdb, nil)

	for range 9 {
		report(t, tb.ctx, a, breaker.Failure)
	}
	for range 20 {
		report(t, tb.ctx, a, breaker.Ignore)
	}
	if got := snapshot(t, tb.ctx, a); got.State != breaker.Closed || got.Failures != 9 {
		t.Fatalf("after ignores: %+v, want closed with 9 failures", got)
	}
	report(t, tb.ctx, a, breaker.Failure)
	wantOpen(t, tb.ctx, a, breaker.Open)

	// An ignored probe frees the lease without counting a success.
	waitProbe(t, tb.ctx, a)(breaker.Ignore)
	done, err := a.Allow(tb.ctx)
	if err != nil {
		t.Fatalf("Allow after an ignored probe: %v", err)
	}
	if got := snapshot(t, tb.ctx, a); got.State != breaker.HalfOpen || got.Successes != 0 {
		t.Fatalf("after ignored probe: %+v, want half-open with 0 successes", got)
	}
	done(breaker.Success)
}

func TestHalfOpenAdmitsOneProbeAtATime(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	a, regA := tb.newBreaker(t, tb.rdb, nil)
	b, regB := tb.newBreaker(t, tb.rdb, nil)
	for range 10 {
		report(t, tb.ctx, a, breaker.Failure)
	}
	testenv.Eventually(t, 5*openTimeout, func() error {
		if s := snapshot(t, tb.ctx, a); s.State != breaker.HalfOpen {
			return fmt.Errorf("state %s", s.State)
		}
		return nil
	})

	// Many workers in two processes race for the probe; one wins.
	const callers = 20
	var (
		admitted atomic.Int64
		probe    breaker.Done
		mu       sync.Mutex
		wg       sync.WaitGroup
		start    = make(chan struct{})
	)
	for i := range callers {
		br := []*breaker.Breaker{a, b}[i%2]
		wg.Go(func() {
			<-start
			done, err := br.Allow(tb.ctx)
			switch {
			case err == nil:
				admitted.Add(1)
				mu.Lock()
				probe = done
				mu.Unlock()
			case !errors.Is(err, breaker.ErrOpen):
				t.Errorf("Allow: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	if got := admitted.Load(); got != 1 {
		t.Fatalf("%d of %d concurrent Allow calls admitted in half-open, want 1", got, callers)
	}
	oe := wantOpen(t, tb.ctx, b, breaker.HalfOpen)
	if oe.RetryIn <= 0 {
		t.Errorf("RetryIn while a probe runs = %s, want > 0", oe.RetryIn)
	}

	// A failed probe opens it again with a new timer.
	before := time.Now()
	probe(breaker.Failure)
	oe = wantOpen(t, tb.ctx, a, breaker.Open)
	if oe.RetryIn < openTimeout-time.Since(before)-10*time.Millisecond {
		t.Errorf("RetryIn after failed probe = %s, want a fresh %s timer", oe.RetryIn, openTimeout)
	}
	if s := snapshot(t, tb.ctx, b); s.State != breaker.Open {
		t.Fatalf("State after failed probe = %s, want open", s.State)
	}
	if got := transitions(t, regA, "closed", "open"); got != 1 {
		t.Errorf("a transitions closed→open = %v, want 1", got)
	}
	// Whichever process held the probe made half_open→open, exactly once.
	if got := transitions(t, regA, "half_open", "open") + transitions(t, regB, "half_open", "open"); got != 1 {
		t.Errorf("transitions half_open→open across processes = %v, want 1", got)
	}
}

func TestThreeSuccessfulProbesClose(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	a, regA := tb.newBreaker(t, tb.rdb, nil)
	b, regB := tb.newBreaker(t, tb.rdb, nil)
	for range 10 {
		report(t, tb.ctx, a, breaker.Failure)
	}

	waitProbe(t, tb.ctx, b)(breaker.Success)
	for i, br := range []*breaker.Breaker{a, b} {
		if s := snapshot(t, tb.ctx, br); s.State != breaker.HalfOpen || s.Successes != i+1 {
			t.Fatalf("after %d successful probes: %+v, want half-open", i+1, s)
		}
		done, err := br.Allow(tb.ctx)
		if err != nil {
			t.Fatalf("probe %d: %v", i+2, err)
		}
		wantOpen(t, tb.ctx, a, breaker.HalfOpen) // still one at a time
		done(breaker.Success)
	}

	want := breaker.Snapshot{State: breaker.Closed}
	got := snapshot(t, tb.ctx, a)
	got.OpenedAt = time.Time{}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("State after 3 successful probes (-want +got):\n%s", diff)
	}
	for range 5 {
		report(t, tb.ctx, a, breaker.Success)
	}
	// b sent the third successful probe, so b made half_open→closed; the
	// open→half_open move was made by b's first Allow after the timeout.
	if got := transitions(t, regB, "half_open", "closed"); got != 1 {
		t.Errorf("b transitions half_open→closed = %v, want 1", got)
	}
	if got := transitions(t, regB, "open", "half_open"); got != 1 {
		t.Errorf("b transitions open→half_open = %v, want 1", got)
	}
	if got := gauge(t, regA, "pickmyclass_breaker_state"); got != float64(breaker.Closed) {
		t.Errorf("a state gauge = %v, want 0", got)
	}
}

func TestAbandonedProbeLeaseLapses(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	const probeTimeout = 200 * time.Millisecond
	withProbe := func(c *breaker.Config) { c.ProbeTimeout = probeTimeout }
	a, _ := tb.newBreaker(t, tb.rdb, withProbe)
	b, _ := tb.newBreaker(t, tb.rdb, withProbe)
	for range 10 {
		report(t, tb.ctx, a, breaker.Failure)
	}

	// a's probe never reports, as if its worker died mid-request.
	abandoned := waitProbe(t, tb.ctx, a)
	oe := wantOpen(t, tb.ctx, b, breaker.HalfOpen)
	if oe.RetryIn <= 0 || oe.RetryIn > probeTimeout {
		t.Errorf("RetryIn = %s, want in (0, %s]", oe.RetryIn, probeTimeout)
	}
	probe := waitProbe(t, tb.ctx, b)

	// The late report of the lapsed probe must not touch b's probe.
	abandoned(breaker.Failure)
	if s := snapshot(t, tb.ctx, a); s.State != breaker.HalfOpen {
		t.Fatalf("after a lapsed probe reported failure: state %s, want half-open", s.State)
	}
	probe(breaker.Success)
	if s := snapshot(t, tb.ctx, a); s.Successes != 1 {
		t.Fatalf("after b's probe: %+v, want 1 success", s)
	}
}

func TestReset(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	a, reg := tb.newBreaker(t, tb.rdb, nil)
	for range 10 {
		report(t, tb.ctx, a, breaker.Failure)
	}
	wantOpen(t, tb.ctx, a, breaker.Open)
	if err := a.Reset(tb.ctx); err != nil {
		t.Fatal(err)
	}
	report(t, tb.ctx, a, breaker.Success)
	if got := transitions(t, reg, "open", "closed"); got != 1 {
		t.Errorf("transitions open→closed = %v, want 1", got)
	}
	if got := snapshot(t, tb.ctx, a); got.State != breaker.Closed || got.Failures != 0 {
		t.Fatalf("State after Reset = %+v", got)
	}
}

func TestUnreachableRedisUsesLocalBreaker(t *testing.T) {
	t.Parallel()
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { _ = dead.Close() })
	ctx := testenv.Context(t, 20*time.Second)
	reg := prometheus.NewRegistry()
	var logs testenv.SyncBuffer
	b, err := breaker.New(dead, breaker.Config{Name: upstream, OpenTimeout: openTimeout, Metrics: reg,
		Logger: zerolog.New(&logs), FallbackRetry: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}

	for range 9 {
		report(t, ctx, b, breaker.Failure)
	}
	if got := gauge(t, reg, "pickmyclass_breaker_fallback"); got != 1 {
		t.Errorf("fallback gauge = %v, want 1", got)
	}
	report(t, ctx, b, breaker.Ignore)
	report(t, ctx, b, breaker.Failure)
	wantOpen(t, ctx, b, breaker.Open)
	if got := gauge(t, reg, "pickmyclass_breaker_state"); got != float64(breaker.Open) {
		t.Errorf("state gauge = %v, want 2", got)
	}
	if _, err := b.State(ctx); err == nil {
		t.Error("State with Redis unreachable returned no error")
	}

	// The local half-open state also admits one probe at a time, and
	// closes after three successes.
	for i := range 3 {
		done := waitProbe(t, ctx, b)
		wantOpen(t, ctx, b, breaker.HalfOpen)
		done(breaker.Success)
		if i < 2 {
			if got := gauge(t, reg, "pickmyclass_breaker_state"); got != float64(breaker.HalfOpen) {
				t.Errorf("after %d probes state gauge = %v, want 1", i+1, got)
			}
		}
	}
	report(t, ctx, b, breaker.Success)
	report(t, ctx, b, breaker.Success)
	if got := transitions(t, reg, "half_open", "closed"); got != 1 {
		t.Errorf("transitions half_open→closed = %v, want 1", got)
	}
	// Redis was retried every 10ms throughout, but the outage is one event.
	if got := strings.Count(logs.String(), "local fallback"); got != 1 {
		t.Errorf("fallback logged %d times, want once:\n%s", got, logs.String())
	}
	if got := strings.Count(logs.String(), `"to":"open"`); got != 1 {
		t.Errorf("transition to open logged %d times, want once:\n%s", got, logs.String())
	}
}

// outage is a go-redis hook that fails every command while down is set, as
// if Redis could not be reached, without touching the shared server.
type outage struct{ down atomic.Bool }

func (o *outage) DialHook(next redis.DialHook) redis.DialHook { return next }

func (o *outage) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if o.down.Load() {
			err := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused (simulated)")}
			cmd.SetErr(err)
			return err
		}
		return next(ctx, cmd)
	}
}

func (o *outage) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func TestReturnsToSharedStateWhenRedisAnswers(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	flaky := redis.NewClient(tb.rdb.Options())
	t.Cleanup(func() { _ = flaky.Close() })
	var o outage
	flaky.AddHook(&o)
	b, reg := tb.newBreaker(t, flaky, func(c *breaker.Config) { c.FallbackRetry = 50 * time.Millisecond })
	other, _ := tb.newBreaker(t, tb.rdb, nil)

	o.down.Store(true)
	for range 10 {
		report(t, tb.ctx, b, breaker.Failure)
	}
	wantOpen(t, tb.ctx, b, breaker.Open)
	// The failures stayed local: the shared breaker never saw them.
	report(t, tb.ctx, other, breaker.Success)
	if got := gauge(t, reg, "pickmyclass_breaker_fallback"); got != 1 {
		t.Fatalf("fallback gauge = %v, want 1", got)
	}

	o.down.Store(false)
	testenv.Eventually(t, 2*time.Second, func() error {
		done, err := b.Allow(tb.ctx)
		if err != nil {
			return err
		}
		done(breaker.Success)
		return nil
	})
	if got := gauge(t, reg, "pickmyclass_breaker_fallback"); got != 0 {
		t.Fatalf("fallback gauge after Redis answered = %v, want 0", got)
	}
	if s := snapshot(t, tb.ctx, b); s.Fallback || s.State != breaker.Closed {
		t.Fatalf("State = %+v, want closed and not on fallback", s)
	}
}

func TestConfigNeedsName(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{})
	t.Cleanup(func() { _ = rdb.Close() })
	if _, err := breaker.New(rdb, breaker.Config{}); err == nil {
		t.Fatal("New with no Name returned no error")
	}
}

func TestSharedRegistererAcrossUpstreams(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	rdb := redis.NewClient(&redis.Options{})
	t.Cleanup(func() { _ = rdb.Close() })
	for _, name := range []string{"asu", "other", "asu"} {
		if _, err := breaker.New(rdb, breaker.Config{Name: name, Metrics: reg}); err != nil {
			t.Fatalf("New(%s): %v", name, err)
		}
	}
	if n, err := testutil.GatherAndCount(reg, "pickmyclass_breaker_state"); err != nil || n != 2 {
		t.Fatalf("state series = %d, %v; want 2", n, err)
	}
}

// transitions returns the transitions counter for from→to in reg.
func transitions(t *testing.T, reg *prometheus.Registry, from, to string) float64 {
	t.Helper()
	return find(t, reg, "pickmyclass_breaker_transitions_total", map[string]string{"upstream": upstream, "from": from, "to": to})
}

func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	return find(t, reg, name, map[string]string{"upstream": upstream})
}

// find returns the value of the series of name with exactly labels, or 0.
func find(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue series
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}
