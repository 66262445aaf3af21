package stream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/pickmyclass/pickmyclass/pkg/testenv"
)

// bundle is what a consumer test works with: a Redis client and a stream
// and group named under the test's key prefix.
type bundle struct {
	rdb    *redis.Client
	prefix string
	stream string
	group  string
	pub    *Publisher
}

func setup(t *testing.T) *bundle {
	t.Helper()
	rdb, prefix := testenv.Redis(t)
	stream := prefix + "checks"
	return &bundle{
		rdb:    rdb,
		prefix: prefix,
		stream: stream,
		group:  "workers",
		pub:    NewPublisher(rdb, stream, PublisherOptions{}),
	}
}

// config returns a consumer config for tests: short timings, logs to the
// test output.
func (b *bundle) config(t *testing.T) Config {
	return Config{
		Stream:          b.stream,
		Group:           b.group,
		Consumer:        "c1",
		Block:           50 * time.Millisecond,
		DelayedInterval: 20 * time.Millisecond,
		Logger:          zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
	}
}

// running is a consumer started by bundle.start.
type running struct {
	t         *testing.T
	cancel    context.CancelFunc
	done      chan error
	once      sync.Once
	stoppedAt time.Time
	elapsed   time.Duration
}

// start runs a consumer until stop is called or the test ends.
func (b *bundle) start(t *testing.T, cfg Config, h Handler) *running {
	t.Helper()
	c, err := NewConsumer(b.rdb, cfg)
	if err != nil {
		t.Fatalf("NewConsumer: %v", err)
	}
	// Created here too so the test can inspect the group at once.
	if err := c.ensureGroup(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{t: t, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- c.Run(ctx, h) }()
	t.Cleanup(func() { r.stop() })
	return r
}

// beginStop cancels Run's context without waiting.
func (r *running) beginStop() {
	r.once.Do(func() {
		r.stoppedAt = time.Now()
		r.cancel()
	})
}

// stop cancels Run's context and returns how long Run took to return.
func (r *running) stop() time.Duration {
	r.beginStop()
	if r.elapsed > 0 {
		return r.elapsed
	}
	select {
	case err := <-r.done:
		if err != nil {
			r.t.Errorf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		r.t.Fatal("Run did not return after cancellation")
	}
	r.elapsed = time.Since(r.stoppedAt)
	return r.elapsed
}

func (b *bundle) publishN(t *testing.T, n int) []string {
	t.Helper()
	msgs := make([]Message, n)
	for i := range msgs {
		msgs[i] = Message{Type: "test.Check", Data: []byte("payload-" + strconv.Itoa(i)), Key: "k" + strconv.Itoa(i)}
	}
	ids, err := b.pub.Publish(context.Background(), msgs...)
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if len(ids) != n {
		t.Fatalf("Publish returned %d ids, want %d", len(ids), n)
	}
	return ids
}

func (b *bundle) pending(t *testing.T) int64 {
	t.Helper()
	p, err := b.rdb.XPending(context.Background(), b.stream, b.group).Result()
	if err != nil {
		t.Fatalf("XPENDING: %v", err)
	}
	return p.Count
}

// lag is the number of entries not yet delivered to the group.
func (b *bundle) lag(t *testing.T) int64 {
	t.Helper()
	groups, err := b.rdb.XInfoGroups(context.Background(), b.stream).Result()
	if err != nil {
		t.Fatalf("XINFO GROUPS: %v", err)
	}
	for _, g := range groups {
		if g.Name == b.group {
			return g.Lag
		}
	}
	t.Fatalf("group %s not found", b.group)
	return 0
}

func (b *bundle) xlen(t *testing.T, key string) int64 {
	t.Helper()
	n, err := b.rdb.XLen(context.Background(), key).Result()
	if err != nil {
		t.Fatalf("XLEN %s: %v", key, err)
	}
	return n
}

// readAs delivers up to n new entries to consumer name without handling
// them, as a consumer that then dies would.
func (b *bundle) readAs(t *testing.T, name string, n int64) []redis.XMessage {
	t.Helper()
	ctx := context.Background()
	if err := b.rdb.XGroupCreateMkStream(ctx, b.stream, b.group, "0").Err(); err != nil && !redis.HasErrorPrefix(err, "BUSYGROUP") {
		t.Fatalf("create group: %v", err)
	}
	res, err := b.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: b.group, Consumer: name, Streams: []string{b.stream, ">"}, Count: n, Block: -1,
	}).Result()
	if err != nil {
		t.Fatalf("XREADGROUP: %v", err)
	}
	return res[0].Messages
}

// recorder records the entries a handler saw.
type recorder struct {
	mu      sync.Mutex
	entries []Entry
	times   []time.Time
}

func (r *recorder) add(e *Entry) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries = append(r.entries, *e)
	r.times = append(r.times, time.Now())
	return len(r.entries)
}

func (r *recorder) snapshot() ([]Entry, []time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Entry(nil), r.entries...), append([]time.Time(nil), r.times...)
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.entries)
}

// atLeast is an Eventually condition on a count.
func atLeast(what string, got func() int, want int) func() error {
	return func() error {
		if n := got(); n < want {
			return fmt.Errorf("%s = %d, want >= %d: %w", what, n, want, testenv.ErrNotYet)
		}
		return nil
	}
}

var errUpstream = errors.New("upstream 503")
