package stream

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/pickmyclass/pickmyclass/pkg/testenv"
)

func TestConsumerHandlesAndAcks(t *testing.T) {
	t.Parallel()
	b := setup(t)
	before := time.Now().Add(-time.Second)
	ids := b.publishN(t, 50)

	reg := prometheus.NewRegistry()
	cfg := b.config(t)
	cfg.Metrics = reg
	var rec recorder
	b.start(t, cfg, func(ctx context.Context, e *Entry) error {
		rec.add(e)
		return nil
	})

	testenv.Eventually(t, 10*time.Second, atLeast("handled", rec.count, 50))
	testenv.Eventually(t, 5*time.Second, func() error {
		if p := b.pending(t); p != 0 {
			return fmt.Errorf("pending = %d: %w", p, testenv.ErrNotYet)
		}
		return nil
	})

	entries, _ := rec.snapshot()
	slices.SortFunc(entries, func(a, b Entry) int { return strings.Compare(a.Key, b.Key) })
	i := slices.IndexFunc(entries, func(e Entry) bool { return e.Key == "k7" })
	if i < 0 {
		t.Fatal("entry k7 not handled")
	}
	got := entries[i]
	if got.EnqueuedAt.Before(before) || got.EnqueuedAt.After(time.Now()) {
		t.Errorf("EnqueuedAt = %v, want about now", got.EnqueuedAt)
	}
	want := Entry{ID: ids[7], Type: "test.Check", Data: []byte("payload-7"), Key: "k7", Deliveries: 1}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(Entry{}, "EnqueuedAt")); diff != "" {
		t.Errorf("entry (-want +got):\n%s", diff)
	}
	seen := map[string]int{}
	for _, e := range entries {
		seen[e.ID]++
	}
	if len(seen) != 50 {
		t.Errorf("handled %d distinct entries, want 50", len(seen))
	}

	if got := counterValue(t, reg, "pickmyclass_stream_handled_total", "outcome", "ack"); got != 50 {
		t.Errorf("handled_total{outcome=ack} = %v, want 50", got)
	}
}

func TestConsumerRespectsConcurrency(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.publishN(t, 40)

	const limit = 3
	cfg := b.config(t)
	cfg.Concurrency = limit
	var active, peak atomic.Int64
	var rec recorder
	b.start(t, cfg, func(ctx context.Context, e *Entry) error {
		n := active.Add(1)
		defer active.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		// Simulated work, so handlers overlap.
		select {
		case <-time.After(10 * time.Millisecond):
		case <-ctx.Done():
		}
		rec.add(e)
		return nil
	})

	testenv.Eventually(t, 20*time.Second, atLeast("handled", rec.count, 40))
	if p := peak.Load(); p > limit {
		t.Errorf("peak concurrent handlers = %d, want <= %d", p, limit)
	}
	if p := peak.Load(); p < 2 {
		t.Errorf("peak concurrent handlers = %d, want handlers to overlap", p)
	}
}

func TestConsumerReclaimsFromDeadConsumer(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ids := b.publishN(t, 5)
	b.readAs(t, "crashed", 5)
	readAt := time.Now()

	cfg := b.config(t)
	cfg.Consumer = "survivor"
	cfg.VisibilityTimeout = 200 * time.Millisecond
	cfg.ReclaimInterval = 50 * time.Millisecond
	reg := prometheus.NewRegistry()
	cfg.Metrics = reg
	var rec recorder
	b.start(t, cfg, func(ctx context.Context, e *Entry) error {
		rec.add(e)
		return nil
	})

	testenv.Eventually(t, 10*time.Second, atLeast("handled", rec.count, 5))
	testenv.Eventually(t, 5*time.Second, func() error {
		if p := b.pending(t); p != 0 {
			return fmt.Errorf("pending = %d: %w", p, testenv.ErrNotYet)
		}
		return nil
	})
	entries, times := rec.snapshot()
	var gotIDs []string
	for i, e := range entries {
		gotIDs = append(gotIDs, e.ID)
		if e.Deliveries != 2 {
			t.Errorf("entry %s: Deliveries = %d, want 2", e.ID, e.Deliveries)
		}
		if idle := times[i].Sub(readAt); idle < cfg.VisibilityTimeout {
			t.Errorf("entry %s reclaimed after %s, before the visibility timeout", e.ID, idle)
		}
	}
	slices.Sort(gotIDs)
	if diff := cmp.Diff(ids, gotIDs); diff != "" {
		t.Errorf("handled ids (-want +got):\n%s", diff)
	}
	if got := counterValue(t, reg, "pickmyclass_stream_reclaimed_total", "", ""); got != 5 {
		t.Errorf("reclaimed_total = %v, want 5", got)
	}
}

func TestConsumerResumesOwnPendingOnStart(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ids := b.publishN(t, 3)
	// A previous process under the same name read these and died.
	b.readAs(t, "c1", 3)

	cfg := b.config(t)
	cfg.VisibilityTimeout = time.Hour // only the start-up re-read can find them
	var rec recorder
	b.start(t, cfg, func(ctx context.Context, e *Entry) error {
		rec.add(e)
		return nil
	})
	testenv.Eventually(t, 10*time.Second, atLeast("handled", rec.count, 3))
	entries, _ := rec.snapshot()
	var got []string
	for _, e := range entries {
		got = append(got, e.ID)
		// Redis counts the re-read as a delivery.
		if e.Deliveries != 2 {
			t.Errorf("entry %s: Deliveries = %d, want 2", e.ID, e.Deliveries)
		}
	}
	slices.Sort(got)
	if diff := cmp.Diff(ids, got); diff != "" {
		t.Errorf("handled ids (-want +got):\n%s", diff)
	}
}

// noAckBeforeDeadLetter fails the test if it ever sees every entry
// delivered and acked while the dead-letter stream is still short of want:
// the dead letter must be written first.
func noAckBeforeDeadLetter(t *testing.T, b *bundle, dlq string, want int64) func() error {
	return func() error {
		// Read in this order: an entry seen delivered (lag) and then not
		// pending must already be in the dead-letter stream.
		lag := b.lag(t)
		p := b.pending(t)
		n := b.xlen(t, dlq)
		if p == 0 && lag == 0 && n < want {
			t.Fatalf("entries acked with %d dead letters, want %d written first", n, want)
		}
		if p != 0 || lag != 0 || n < want {
			return fmt.Errorf("pending = %d, lag = %d, dead letters = %d: %w", p, lag, n, testenv.ErrNotYet)
		}
		return nil
	}
}

func TestConsumerDeadLettersAfterMaxDeliveries(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ids := b.publishN(t, 1)

	cfg := b.config(t)
	cfg.MaxDeliveries = 2
	cfg.VisibilityTimeout = 150 * time.Millisecond
	cfg.ReclaimInterval = 30 * time.Millisecond
	var calls atomic.Int64
	b.start(t, cfg, func(ctx context.Context, e *Entry) error {
		calls.Add(1)
		return fmt.Errorf("check course: %w", errUpstream)
	})

	dlq := b.stream + ":dead"
	testenv.Eventually(t, 10*time.Second, noAckBeforeDeadLetter(t, b, dlq, 1))
	if got := calls.Load(); got != 2 {
		t.Errorf("handler ran %d times, want MaxDeliveries = 2", got)
	}
	dead, err := DeadLetters(context.Background(), b.rdb, dlq, 10)
	if err != nil {
		t.Fatalf("DeadLetters: %v", err)
	}
	if len(dead) != 1 {
		t.Fatalf("got %d dead letters, want 1", len(dead))
	}
	d := dead[0]
	if !strings.HasPrefix(d.Reason, ReasonMaxDeliveries) || !strings.Contains(d.Reason, "upstream 503") {
		t.Errorf("Reason = %q, want %q with the last error", d.Reason, ReasonMaxDeliveries)
	}
	want := DeadLetter{Type: "test.Check", Data: []byte("payload-0"), Key: "k0", Deliveries: 2, OriginalID: ids[0]}
	if diff := cmp.Diff(want, d, cmpopts.IgnoreFields(DeadLetter{}, "ID", "Reason", "EnqueuedAt", "FailedAt")); diff != "" {
		t.Errorf("dead letter (-want +got):\n%s", diff)
	}
	if d.FailedAt.IsZero() || d.EnqueuedAt.IsZero() {
		t.Errorf("FailedAt = %v, EnqueuedAt = %v, want both set", d.FailedAt, d.EnqueuedAt)
	}
}

func TestReaperDeadLettersExhaustedEntry(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ids := b.publishN(t, 1)
	b.readAs(t, "crashed", 1)
	// The entry already crashed consumers five times.
	if err := b.rdb.Do(context.Background(), "XCLAIM", b.stream, b.group, "crashed", 0, ids[0], "RETRYCOUNT", 5).Err(); err != nil {
		t.Fatalf("XCLAIM: %v", err)
	}

	cfg := b.config(t)
	cfg.Consumer = "survivor"
	cfg.VisibilityTimeout = 100 * time.Millisecond
	cfg.ReclaimInterval = 30 * time.Millisecond
	var calls atomic.Int64
	b.start(t, cfg, func(ctx context.Context, e *Entry) error {
		calls.Add(1)
		return nil
	})

	dlq := b.stream + ":dead"
	testenv.Eventually(t, 10*time.Second, noAckBeforeDeadLetter(t, b, dlq, 1))
	if got := calls.Load(); got != 0 {
		t.Errorf("handler ran %d times for an exhausted entry, want 0", got)
	}
	dead, err := DeadLetters(context.Background(), b.rdb, dlq, 10)
	if err != nil {
		t.Fatalf("DeadLetters: %v", err)
	}
	if len(dead) != 1 {
		t.Fatalf("got %d dead letters, want 1", len(dead))
	}
	// XAUTOCLAIM counted the reclaim: 5 + 1.
	want := DeadLetter{Type: "test.Check", Data: []byte("payload-0"), Key: "k0", Reason: ReasonMaxDeliveries, Deliveries: 6, OriginalID: ids[0]}
	if diff := cmp.Diff(want, dead[0], cmpopts.IgnoreFields(DeadLetter{}, "ID", "EnqueuedAt", "FailedAt")); diff != "" {
		t.Errorf("dead letter (-want +got):\n%s", diff)
	}
}

func TestConsumerPermanentDeadLettersAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ids := b.publishN(t, 1)

	cfg := b.config(t)
	reg := prometheus.NewRegistry()
	cfg.Metrics = reg
	var calls atomic.Int64
	b.start(t, cfg, func(ctx context.Context, e *Entry) error {
		calls.Add(1)
		return Permanent(fmt.Errorf("section %s: not found", e.Key))
	})

	dlq := b.stream + ":dead"
	testenv.Eventually(t, 10*time.Second, noAckBeforeDeadLetter(t, b, dlq, 1))
	if got := calls.Load(); got != 1 {
		t.Errorf("handler ran %d times, want 1", got)
	}
	dead, err := DeadLetters(context.Background(), b.rdb, dlq, 10)
	if err != nil {
		t.Fatalf("DeadLetters: %v", err)
	}
	want := []DeadLetter{{Type: "test.Check", Data: []byte("payload-0"), Key: "k0", Reason: "section k0: not found", Deliveries: 1, OriginalID: ids[0]}}
	if diff := cmp.Diff(want, dead, cmpopts.IgnoreFields(DeadLetter{}, "ID", "EnqueuedAt", "FailedAt")); diff != "" {
		t.Errorf("dead letters (-want +got):\n%s", diff)
	}
	for outcome, want := range map[string]float64{"dead": 1, "ack": 0} {
		if got := counterValue(t, reg, "pickmyclass_stream_handled_total", "outcome", outcome); got != want {
			t.Errorf("handled_total{outcome=%s} = %v, want %v", outcome, got, want)
		}
	}
	if got := counterValue(t, reg, "pickmyclass_stream_dead_lettered_total", "", ""); got != 1 {
		t.Errorf("dead_lettered_total = %v, want 1", got)
	}
}

func TestConsumerDeadLettersMalformedEntries(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	for _, values := range [][]any{
		{"foo", "bar"},
		{"type", "test.Check", "data", "x"},                 // no ts
		{"type", "test.Check", "ts", "1700000000000"},       // no data
		{"type", "test.Check", "data", "x", "ts", "soon"},   // bad ts
		{"data", "x", "ts", "1700000000000", "key", "k-no"}, // no type
	} {
		if err := b.rdb.XAdd(ctx, &redis.XAddArgs{Stream: b.stream, Values: values}).Err(); err != nil {
			t.Fatalf("XADD: %v", err)
		}
	}

	var calls atomic.Int64
	b.start(t, b.config(t), func(ctx context.Context, e *Entry) error {
		calls.Add(1)
		return nil
	})
	dlq := b.stream + ":dead"
	testenv.Eventually(t, 10*time.Second, noAckBeforeDeadLetter(t, b, dlq, 5))
	if got := calls.Load(); got != 0 {
		t.Errorf("handler ran %d times for malformed entries, want 0", got)
	}
	dead, err := DeadLetters(ctx, b.rdb, dlq, 10)
	if err != nil {
		t.Fatalf("DeadLetters: %v", err)
	}
	for _, d := range dead {
		if !strings.HasPrefix(d.Reason, "malformed entry") || d.Deliveries != 1 {
			t.Errorf("dead letter %s: reason %q, deliveries %d; want a malformed-entry reason and 1", d.OriginalID, d.Reason, d.Deliveries)
		}
	}
}

func TestConsumerRetriesAfterPanic(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.publishN(t, 1)

	cfg := b.config(t)
	cfg.VisibilityTimeout = 100 * time.Millisecond
	cfg.ReclaimInterval = 30 * time.Millisecond
	var rec recorder
	b.start(t, cfg, func(ctx context.Context, e *Entry) error {
		if rec.add(e) == 1 {
			panic("boom")
		}
		return nil
	})
	testenv.Eventually(t, 10*time.Second, func() error {
		if n, p := rec.count(), b.pending(t); n < 2 || p != 0 {
			return fmt.Errorf("handled %d times, pending %d: %w", n, p, testenv.ErrNotYet)
		}
		return nil
	})
	entries, _ := rec.snapshot()
	if got := []int64{entries[0].Deliveries, entries[1].Deliveries}; !slices.Equal(got, []int64{1, 2}) {
		t.Errorf("deliveries = %v, want [1 2]", got)
	}
	if n := b.xlen(t, b.stream+":dead"); n != 0 {
		t.Errorf("dead letters = %d, want 0", n)
	}
}

func TestConsumerDeferDoesNotCountDelivery(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ids := b.publishN(t, 1)

	const delay = 150 * time.Millisecond
	cfg := b.config(t)
	cfg.MaxDeliveries = 3
	cfg.VisibilityTimeout = 100 * time.Millisecond
	cfg.ReclaimInterval = 30 * time.Millisecond
	var rec recorder
	b.start(t, cfg, func(ctx context.Context, e *Entry) error {
		switch rec.add(e) {
		case 1:
			return Defer(errors.New("rate limited"), delay)
		case 2:
			return errUpstream
		case 3:
			return Defer(errors.New("breaker open"), delay)
		default:
			return nil
		}
	})

	testenv.Eventually(t, 10*time.Second, func() error {
		if n, p := rec.count(), b.pending(t); n < 4 || p != 0 {
			return fmt.Errorf("handled %d times, pending %d: %w", n, p, testenv.ErrNotYet)
		}
		return nil
	})
	entries, times := rec.snapshot()
	var deliveries []int64
	for _, e := range entries {
		deliveries = append(deliveries, e.Deliveries)
		if e.Key != "k0" || string(e.Data) != "payload-0" || !e.EnqueuedAt.Equal(entries[0].EnqueuedAt) {
			t.Errorf("entry %s = %+v, want the original key, data and enqueue time", e.ID, e)
		}
	}
	// Defers do not count; the failure in between does.
	if diff := cmp.Diff([]int64{1, 1, 2, 2}, deliveries); diff != "" {
		t.Errorf("deliveries (-want +got):\n%s", diff)
	}
	if entries[0].ID != ids[0] || entries[1].ID == ids[0] {
		t.Errorf("ids = %s, %s; want the original, then a new entry", entries[0].ID, entries[1].ID)
	}
	for _, i := range []int{1, 3} {
		if gap := times[i].Sub(times[i-1]); gap < delay {
			t.Errorf("deferred entry came back after %s, want >= %s", gap, delay)
		}
	}
	if n, err := b.rdb.ZCard(context.Background(), b.stream+":delayed").Result(); err != nil || n != 0 {
		t.Errorf("delayed set has %d members (err %v), want 0", n, err)
	}
	if n := b.xlen(t, b.stream+":dead"); n != 0 {
		t.Errorf("dead letters = %d, want 0", n)
	}
}

func TestConsumerShutdownLeavesUnfinishedWorkPending(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	slow, err := b.pub.Publish(ctx, Message{Type: "slow", Data: []byte{}})
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if _, err := b.pub.Publish(ctx, Message{Type: "quick", Data: []byte{}}); err != nil {
		t.Fatalf("Publish: %v", err)
	}

	cfg := b.config(t)
	cfg.ShutdownTimeout = 300 * time.Millisecond
	var started atomic.Int64
	release := make(chan struct{})
	quickCtxAlive := make(chan bool, 1)
	run := b.start(t, cfg, func(ctx context.Context, e *Entry) error {
		started.Add(1)
		if e.Type == "quick" {
			<-release
			quickCtxAlive <- ctx.Err() == nil
			return nil
		}
		<-ctx.Done()
		return ctx.Err()
	})
	testenv.Eventually(t, 10*time.Second, atLeast("started", func() int { return int(started.Load()) }, 2))

	// Work that finishes within the grace period after the soft stop began
	// is still acknowledged.
	run.beginStop()
	close(release)
	if alive := <-quickCtxAlive; !alive {
		t.Error("handler context cancelled during the grace period")
	}
	if took := run.stop(); took < cfg.ShutdownTimeout {
		t.Errorf("Run returned after %s, before the %s grace period", took, cfg.ShutdownTimeout)
	}

	p, err := b.rdb.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: b.stream, Group: b.group, Start: "-", End: "+", Count: 10}).Result()
	if err != nil {
		t.Fatalf("XPENDING: %v", err)
	}
	var pending []string
	for _, e := range p {
		pending = append(pending, e.ID)
	}
	if diff := cmp.Diff(slow, pending); diff != "" {
		t.Errorf("pending after shutdown (-want +got):\n%s", diff)
	}
}

func TestNewConsumerValidates(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, err := NewConsumer(b.rdb, Config{})
	if err == nil || !strings.Contains(err.Error(), "stream is empty") || !strings.Contains(err.Error(), "group is empty") {
		t.Errorf("NewConsumer(empty config) = %v, want every problem listed", err)
	}
	c, err := NewConsumer(b.rdb, Config{Stream: "s", Group: "g", Consumer: "c", VisibilityTimeout: 40 * time.Second})
	if err != nil {
		t.Fatalf("NewConsumer: %v", err)
	}
	got := c.Config()
	want := Config{
		Stream: "s", Group: "g", Consumer: "c", Concurrency: 32, BatchSize: 32, Block: 2 * time.Second,
		VisibilityTimeout: 40 * time.Second, ReclaimInterval: 10 * time.Second, MaxDeliveries: 3,
		DeadLetterStream: "s:dead", DelayedKey: "s:delayed", DelayedInterval: 500 * time.Millisecond,
		TrimInterval: 30 * time.Second, DeadLetterRetention: 7 * 24 * time.Hour, ShutdownTimeout: 20 * time.Second,
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(Config{}, "Logger", "Metrics")); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
}

// counterValue sums the counter samples of name whose label has value (all
// samples when label is empty).
func counterValue(t *testing.T, g prometheus.Gatherer, name, label, value string) float64 {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			match := label == ""
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					match = true
				}
			}
			if match {
				sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

// A handler that runs longer than the visibility timeout keeps its entry:
// another consumer's reaper does not take it over while it is alive, and
// the entry is handled once.
func TestLongHandlerKeepsItsEntry(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ids := b.publishN(t, 1)

	cfg := b.config(t)
	cfg.VisibilityTimeout = 200 * time.Millisecond
	cfg.ReclaimInterval = 20 * time.Millisecond
	release := make(chan struct{})
	started := make(chan *Entry, 1)
	var rec recorder
	b.start(t, cfg, func(ctx context.Context, e *Entry) error {
		started <- e
		<-release
		rec.add(e)
		return nil
	})
	var first *Entry
	select {
	case first = <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the entry was never handled")
	}
	other := cfg
	other.Consumer = "c2"
	var stolen recorder
	b.start(t, other, func(ctx context.Context, e *Entry) error {
		stolen.add(e)
		return nil
	})
	// Five visibility timeouts: without the keep-alive the second
	// consumer's reaper would have taken the entry over several times.
	<-time.After(5 * cfg.VisibilityTimeout)
	close(release)
	testenv.Eventually(t, 5*time.Second, func() error {
		if p := b.pending(t); p != 0 {
			return fmt.Errorf("pending = %d: %w", p, testenv.ErrNotYet)
		}
		return nil
	})
	if n := stolen.count(); n != 0 {
		t.Errorf("another consumer handled the entry %d times while its handler was alive", n)
	}
	if first.ID != ids[0] || first.Deliveries != 1 || rec.count() != 1 {
		t.Errorf("handled %s (deliveries %d) %d times; want %s once on its first delivery", first.ID, first.Deliveries, rec.count(), ids[0])
	}
}
