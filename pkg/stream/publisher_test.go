package stream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"
)

func TestPublishWritesEnvelope(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	before := time.Now().UnixMilli()
	ids, err := b.pub.Publish(ctx,
		Message{Type: "a.B", Data: []byte{0, 1, 0xff}, Key: "k1"},
		Message{Type: "a.C", Data: nil},
	)
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	msgs, err := b.rdb.XRange(ctx, b.stream, "-", "+").Result()
	if err != nil {
		t.Fatalf("XRANGE: %v", err)
	}
	if len(msgs) != 2 || msgs[0].ID != ids[0] || msgs[1].ID != ids[1] {
		t.Fatalf("stream = %v, want the 2 published ids %v", msgs, ids)
	}
	ts, _ := strconv.ParseInt(msgs[0].Values["ts"].(string), 10, 64)
	if ts < before || ts > time.Now().UnixMilli() {
		t.Errorf("ts = %d, want the publish time", ts)
	}
	want := []map[string]any{
		{"type": "a.B", "data": "\x00\x01\xff", "key": "k1", "ts": msgs[0].Values["ts"]},
		{"type": "a.C", "data": "", "ts": msgs[1].Values["ts"]},
	}
	got := []map[string]any{msgs[0].Values, msgs[1].Values}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
}

func TestPublishMaxLenCapsStream(t *testing.T) {
	t.Parallel()
	b := setup(t)
	pub := NewPublisher(b.rdb, b.stream, PublisherOptions{MaxLen: 100})
	msgs := make([]Message, 2500)
	for i := range msgs {
		msgs[i] = Message{Type: "t", Data: []byte("x")}
	}
	ids, err := pub.Publish(context.Background(), msgs...)
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if len(ids) != 2500 {
		t.Errorf("Publish returned %d ids, want 2500", len(ids))
	}
	// The cap is approximate: whole nodes are dropped.
	if n := b.xlen(t, b.stream); n < 100 || n > 400 {
		t.Errorf("XLEN = %d, want about 100", n)
	}
}

func TestPublishOnceDeduplicatesRacingPublishers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	dedup := b.prefix + "dedup:cycle-1"
	const n = 1200 // several script chunks
	msgs := make([]Message, n)
	for i := range msgs {
		msgs[i] = Message{Type: "t", Data: []byte(strconv.Itoa(i)), Key: "2261:" + strconv.Itoa(i)}
	}
	reversed := make([]Message, n)
	for i := range msgs {
		reversed[i] = msgs[n-1-i]
	}

	var (
		wg    sync.WaitGroup
		total [2]int
		errs  [2]error
	)
	for i, batch := range [][]Message{msgs, reversed} {
		pub := NewPublisher(b.rdb, b.stream, PublisherOptions{})
		wg.Go(func() { total[i], errs[i] = pub.PublishOnce(ctx, dedup, time.Minute, batch...) })
	}
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		t.Fatalf("PublishOnce: %v", err)
	}
	if got := total[0] + total[1]; got != n {
		t.Errorf("published %d + %d = %d, want %d", total[0], total[1], got, n)
	}
	entries, err := b.rdb.XRange(ctx, b.stream, "-", "+").Result()
	if err != nil {
		t.Fatalf("XRANGE: %v", err)
	}
	seen := map[string]int{}
	for _, e := range entries {
		seen[e.Values["key"].(string)]++
		if want := e.Values["key"].(string)[len("2261:"):]; e.Values["data"] != want {
			t.Errorf("entry %s: data %q, want %q", e.ID, e.Values["data"], want)
		}
	}
	if len(entries) != n || len(seen) != n {
		t.Errorf("stream has %d entries with %d distinct keys, want %d of each", len(entries), len(seen), n)
	}

	again, err := b.pub.PublishOnce(ctx, dedup, time.Minute, msgs[:10]...)
	if err != nil || again != 0 {
		t.Errorf("PublishOnce(repeat) = %d, %v; want 0, nil", again, err)
	}
	ttl, err := b.rdb.PTTL(ctx, dedup).Result()
	if err != nil || ttl <= 0 || ttl > time.Minute {
		t.Errorf("dedup key ttl = %v (err %v), want within (0, 1m]", ttl, err)
	}
}

func TestPublishOnceLoadsMissingScript(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	pub := NewPublisher(b.rdb, b.stream, PublisherOptions{})
	// A digest no server has seen, as after a restart or SCRIPT FLUSH.
	pub.once = redis.NewScript(publishOnceScriptSrc + "\n-- " + b.prefix)
	msgs := make([]Message, 3*onceChunk)
	for i := range msgs {
		msgs[i] = Message{Type: "t", Key: strconv.Itoa(i)}
	}
	got, err := pub.PublishOnce(ctx, b.prefix+"dedup", time.Minute, msgs...)
	if err != nil || got != len(msgs) {
		t.Fatalf("PublishOnce = %d, %v; want %d, nil", got, err, len(msgs))
	}
	if n := b.xlen(t, b.stream); n != int64(len(msgs)) {
		t.Errorf("XLEN = %d, want %d", n, len(msgs))
	}
}

func TestPublishOnceRejectsBadInput(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	tests := []struct {
		name string
		ttl  time.Duration
		msgs []Message
		want error
	}{
		{name: "missing key", ttl: time.Minute, msgs: []Message{{Type: "t", Key: "a"}, {Type: "t"}}, want: ErrMissingKey},
		{name: "no ttl", ttl: 0, msgs: []Message{{Type: "t", Key: "a"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := b.pub.PublishOnce(ctx, b.prefix+"dedup", tc.ttl, tc.msgs...)
			if err == nil || n != 0 || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Errorf("PublishOnce = %d, %v; want 0 and an error (%v)", n, err, tc.want)
			}
		})
	}
	if n := b.xlen(t, b.stream); n != 0 {
		t.Errorf("XLEN = %d after rejected publishes, want 0", n)
	}
}

func ExamplePublisher_PublishOnce() {
	ctx := context.Background()
	rdb, err := Dial(ctx, "redis://127.0.0.1:6379/0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rdb.Close()
	pub := NewPublisher(rdb, "checks", PublisherOptions{})
	// Both schedulers of a split-second double leadership run this; each
	// course check of the cycle is enqueued once.
	_, err = pub.PublishOnce(ctx, "checks:dedup:2026-11-29T10:00Z", time.Hour,
		Message{Type: "pickmyclass.stream.v1.CheckCourse", Data: []byte{}, Key: "asu:2261:CSE:110:2026-11-29T10:00Z"})
	if err != nil {
		fmt.Println(err)
	}
}

// MarkOnce makes PublishOnce skip the marked keys under the same dedup key
// only.
func TestMarkOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	dedup := b.prefix + "dedup:c1"
	if err := b.pub.MarkOnce(ctx, dedup, time.Minute, "a", "b"); err != nil {
		t.Fatal(err)
	}
	msgs := []Message{{Type: "t", Data: []byte("a"), Key: "a"}, {Type: "t", Data: []byte("c"), Key: "c"}}
	if n, err := b.pub.PublishOnce(ctx, dedup, time.Minute, msgs...); err != nil || n != 1 {
		t.Fatalf("PublishOnce after marking a and b = %d, %v; want 1 (c)", n, err)
	}
	if n, err := b.pub.PublishOnce(ctx, b.prefix+"dedup:c2", time.Minute, msgs...); err != nil || n != 2 {
		t.Fatalf("PublishOnce under another dedup key = %d, %v; want 2", n, err)
	}
	if ttl := b.rdb.PTTL(ctx, dedup).Val(); ttl <= 0 || ttl > time.Minute {
		t.Errorf("dedup hash expires in %s, want within a minute", ttl)
	}
	if err := b.pub.MarkOnce(ctx, dedup, 0, "x"); err == nil {
		t.Error("MarkOnce with a zero ttl succeeded")
	}
}
