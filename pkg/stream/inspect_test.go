package stream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/pickmyclass/pickmyclass/pkg/testenv"
)

func TestInspect(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	dlq := b.stream + ":dead"

	empty, err := Inspect(ctx, b.rdb, b.stream, b.group, dlq)
	if err != nil {
		t.Fatalf("Inspect(missing stream): %v", err)
	}
	if diff := cmp.Diff(Stats{}, empty); diff != "" {
		t.Errorf("stats of a missing stream (-want +got):\n%s", diff)
	}

	b.publishN(t, 10)
	read := b.readAs(t, "x", 4)
	if err := b.rdb.XAck(ctx, b.stream, b.group, read[1].ID).Err(); err != nil {
		t.Fatalf("XACK: %v", err)
	}
	for range 2 {
		if err := b.rdb.XAdd(ctx, &redis.XAddArgs{Stream: dlq, Values: []any{"type", "t", "reason", "r"}}).Err(); err != nil {
			t.Fatalf("XADD: %v", err)
		}
	}
	if err := b.rdb.ZAdd(ctx, b.stream+":delayed", redis.Z{Score: 1, Member: "m"}).Err(); err != nil {
		t.Fatalf("ZADD: %v", err)
	}
	oldest, err := idTime(read[0].ID)
	if err != nil {
		t.Fatal(err)
	}

	got, err := Inspect(ctx, b.rdb, b.stream, b.group, dlq)
	if err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	want := Stats{Length: 10, Pending: 3, Lag: 6, DeadLetters: 2, Delayed: 1}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(Stats{}, "OldestPendingAge")); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
	if age := got.OldestPendingAge; age <= 0 || age > time.Since(oldest)+time.Second {
		t.Errorf("OldestPendingAge = %s, want about %s", age, time.Since(oldest))
	}

	otherGroup, err := Inspect(ctx, b.rdb, b.stream, "nobody", dlq)
	if err != nil {
		t.Fatalf("Inspect(unknown group): %v", err)
	}
	if otherGroup.Lag != 10 || otherGroup.Pending != 0 {
		t.Errorf("unknown group: lag %d, pending %d; want 10, 0", otherGroup.Lag, otherGroup.Pending)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(b.rdb, b.stream, b.group, dlq))
	for name, want := range map[string]float64{
		"pickmyclass_stream_length":       10,
		"pickmyclass_stream_pending":      3,
		"pickmyclass_stream_lag":          6,
		"pickmyclass_stream_dead_letters": 2,
		"pickmyclass_stream_delayed":      1,
	} {
		if got := counterValue(t, reg, name, "stream", b.stream); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}

func TestReplayAndDiscard(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	dlq := b.stream + ":dead"
	add := func(values ...any) string {
		id, err := b.rdb.XAdd(ctx, &redis.XAddArgs{Stream: dlq, Values: values}).Result()
		if err != nil {
			t.Fatalf("XADD: %v", err)
		}
		return id
	}
	first := add("type", "t", "data", "d1", "ts", "1700000000000", "key", "k1",
		"reason", "boom", "deliveries", "3", "original_id", "1-1", "failed_at", "1700000001000", "prior_deliveries", "1")
	second := add("type", "t", "data", "d2", "ts", "1700000000000", "reason", "bad")

	dead, err := DeadLetters(ctx, b.rdb, dlq, 10)
	if err != nil {
		t.Fatalf("DeadLetters: %v", err)
	}
	want := []DeadLetter{
		{ID: second, Type: "t", Data: []byte("d2"), Reason: "bad", EnqueuedAt: time.UnixMilli(1700000000000)},
		{ID: first, Type: "t", Data: []byte("d1"), Key: "k1", Reason: "boom", Deliveries: 3, OriginalID: "1-1",
			EnqueuedAt: time.UnixMilli(1700000000000), FailedAt: time.UnixMilli(1700000001000)},
	}
	if diff := cmp.Diff(want, dead); diff != "" {
		t.Errorf("dead letters, newest first (-want +got):\n%s", diff)
	}

	if err := Replay(ctx, b.rdb, dlq, b.stream, first); err != nil {
		t.Fatalf("Replay: %v", err)
	}
	replayed, err := b.rdb.XRange(ctx, b.stream, "-", "+").Result()
	if err != nil {
		t.Fatalf("XRANGE: %v", err)
	}
	if len(replayed) != 1 {
		t.Fatalf("stream has %d entries after replay, want 1", len(replayed))
	}
	wantValues := map[string]any{"type": "t", "data": "d1", "ts": "1700000000000", "key": "k1"}
	if diff := cmp.Diff(wantValues, replayed[0].Values); diff != "" {
		t.Errorf("replayed entry (-want +got):\n%s", diff)
	}
	if err := Replay(ctx, b.rdb, dlq, b.stream, first); !errors.Is(err, ErrNotFound) {
		t.Errorf("Replay(again) = %v, want ErrNotFound", err)
	}

	if err := Discard(ctx, b.rdb, dlq, second); err != nil {
		t.Fatalf("Discard: %v", err)
	}
	if err := Discard(ctx, b.rdb, dlq, second); !errors.Is(err, ErrNotFound) {
		t.Errorf("Discard(again) = %v, want ErrNotFound", err)
	}
	if n := b.xlen(t, dlq); n != 0 {
		t.Errorf("dead letters left = %d, want 0", n)
	}
}

func TestTrimKeepsPendingAndUndelivered(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	ids := b.publishN(t, 1000)
	read := b.readAs(t, "x", 600)
	const held = 150 // delivered, never acked
	var acks []string
	for i, m := range read {
		if i != held {
			acks = append(acks, m.ID)
		}
	}
	if err := b.rdb.XAck(ctx, b.stream, b.group, acks...).Err(); err != nil {
		t.Fatalf("XACK: %v", err)
	}

	// exists reports whether every entry from ids[from] on is still there.
	exists := func(from int) bool {
		msgs, err := b.rdb.XRange(ctx, b.stream, ids[from], "+").Result()
		if err != nil {
			t.Fatalf("XRANGE: %v", err)
		}
		return len(msgs) == len(ids)-from
	}

	if err := trimStream(ctx, b.rdb, b.stream); err != nil {
		t.Fatalf("trimStream: %v", err)
	}
	if n := b.xlen(t, b.stream); n >= 1000 {
		t.Errorf("XLEN = %d after trim, want entries before the pending one removed", n)
	}
	if !exists(held) {
		t.Errorf("trim removed the pending entry %d or later ones", held)
	}

	if err := b.rdb.XAck(ctx, b.stream, b.group, ids[held]).Err(); err != nil {
		t.Fatalf("XACK: %v", err)
	}
	// A second group that has read nothing needs everything.
	if err := b.rdb.XGroupCreate(ctx, b.stream, "late", "0").Err(); err != nil {
		t.Fatalf("XGROUP CREATE: %v", err)
	}
	before := b.xlen(t, b.stream)
	if err := trimStream(ctx, b.rdb, b.stream); err != nil {
		t.Fatalf("trimStream: %v", err)
	}
	if n := b.xlen(t, b.stream); n != before {
		t.Errorf("XLEN = %d, want %d: a group that read nothing keeps everything", n, before)
	}

	if err := b.rdb.XGroupDestroy(ctx, b.stream, "late").Err(); err != nil {
		t.Fatalf("XGROUP DESTROY: %v", err)
	}
	if err := trimStream(ctx, b.rdb, b.stream); err != nil {
		t.Fatalf("trimStream: %v", err)
	}
	last := len(read) - 1
	if n := b.xlen(t, b.stream); n >= before {
		t.Errorf("XLEN = %d, want fewer than %d once nothing below entry %d is needed", n, before, last)
	}
	if !exists(last) {
		t.Errorf("trim removed undelivered entries (or the last delivered one)")
	}
}

func TestConsumerTrimsPeriodically(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.publishN(t, 500)
	cfg := b.config(t)
	cfg.TrimInterval = 50 * time.Millisecond
	var rec recorder
	b.start(t, cfg, func(ctx context.Context, e *Entry) error {
		rec.add(e)
		return nil
	})
	testenv.Eventually(t, 10*time.Second, atLeast("handled", rec.count, 500))
	testenv.Eventually(t, 10*time.Second, func() error {
		if n := b.xlen(t, b.stream); n >= 500 {
			return errors.New("stream not trimmed yet")
		}
		return nil
	})
}

func TestDial(t *testing.T) {
	t.Parallel()
	ctx := testenv.Context(t, 10*time.Second)
	rdb, err := Dial(ctx, testenv.RedisURL(t))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Errorf("Ping: %v", err)
	}
	if err := rdb.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}

	tests := []struct {
		name string
		url  string
	}{
		{name: "bad scheme", url: "http://127.0.0.1:6379"},
		{name: "unparsable", url: "redis://user:s3cret@[::1"},
		{name: "nothing listening", url: "redis://user:s3cret@127.0.0.1:1/0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rdb, err := Dial(testenv.Context(t, 5*time.Second), tc.url)
			if err == nil {
				_ = rdb.Close()
				t.Fatal("Dial succeeded, want an error")
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q reveals the password", err)
			}
		})
	}
}

// Undelivered returns the entries the group has not read, in order, across
// pages, and nothing once the group has caught up.
func TestUndelivered(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	keys := func(es []*Entry) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.Key)
		}
		return out
	}

	if got, err := Undelivered(ctx, b.rdb, b.stream, b.group, 0); err != nil || len(got) != 0 {
		t.Fatalf("missing stream: %v, %v; want nothing", keys(got), err)
	}
	n := undeliveredPage + 5
	b.publishN(t, n)
	all, err := Undelivered(ctx, b.rdb, b.stream, b.group, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != n || all[0].Key != "k0" || all[n-1].Key != "k"+strconv.Itoa(n-1) {
		t.Fatalf("no group yet: %d entries from %s, want %d from k0", len(all), all[0].Key, n)
	}
	b.readAs(t, "x", 3)
	got, err := Undelivered(ctx, b.rdb, b.stream, b.group, 4)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"k3", "k4", "k5", "k6"}, keys(got)); diff != "" {
		t.Errorf("after 3 read, limit 4 (-want +got):\n%s", diff)
	}
	b.readAs(t, "x", int64(n))
	if got, err := Undelivered(ctx, b.rdb, b.stream, b.group, 0); err != nil || len(got) != 0 {
		t.Fatalf("caught up: %v, %v; want nothing", keys(got), err)
	}
}

// Deferred reads the entries a consumer parked in the delayed set, with
// their original key and data, across pages.
func TestDeferred(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	delayed := b.stream + ":delayed"
	if got, err := Deferred(ctx, b.rdb, delayed, 0); err != nil || len(got) != 0 {
		t.Fatalf("empty delayed set: %d entries, %v", len(got), err)
	}
	n := undeliveredPage + 3
	b.publishN(t, n)
	r := b.start(t, b.config(t), func(ctx context.Context, e *Entry) error {
		return Defer(errors.New("breaker open"), time.Hour)
	})
	testenv.Eventually(t, 20*time.Second, func() error {
		if c := b.rdb.ZCard(ctx, delayed).Val(); c < int64(n) {
			return fmt.Errorf("%d deferred: %w", c, testenv.ErrNotYet)
		}
		return nil
	})
	r.stop()
	got, err := Deferred(ctx, b.rdb, delayed, 0)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range got {
		if want := "payload-" + strings.TrimPrefix(e.Key, "k"); string(e.Data) != want {
			t.Errorf("deferred %s carries %q, want %q", e.Key, e.Data, want)
		}
		seen[e.Key] = true
	}
	if len(got) != n || len(seen) != n {
		t.Fatalf("Deferred returned %d entries (%d keys), want %d", len(got), len(seen), n)
	}
	if got, err := Deferred(ctx, b.rdb, delayed, 5); err != nil || len(got) != 5 {
		t.Errorf("limit 5: %d entries, %v", len(got), err)
	}
}
