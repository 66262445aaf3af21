package upstream

import (
	"context"
	"testing"
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/check"
	"github.com/pickmyclass/pickmyclass/pkg/testenv"
)

func TestBackoff(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	b := NewBackoff(rdb, prefix+"backoff", time.Minute, 15*time.Minute)
	other := NewBackoff(rdb, prefix+"backoff", time.Minute, 15*time.Minute) // another worker

	if until, err := b.Until(ctx); err != nil || !until.IsZero() {
		t.Fatalf("Until before any 429 = %v, %v; want zero", until, err)
	}
	wait, err := b.RateLimited(ctx, 0)
	if err != nil || wait != time.Minute {
		t.Fatalf("first 429 waits %s, %v; want 1m", wait, err)
	}
	// The same 429 wave seen by another worker does not escalate.
	wait, err = other.RateLimited(ctx, 0)
	if err != nil || wait > time.Minute || wait < 59*time.Second {
		t.Fatalf("concurrent 429 waits %s, %v; want what is left of 1m", wait, err)
	}
	until, err := other.Until(ctx)
	if err != nil || time.Until(until) < 58*time.Second {
		t.Fatalf("Until = %v, %v; want about a minute ahead", until, err)
	}

	// After the wait passes, the next 429 doubles it, up to the cap.
	expire := func() {
		if err := rdb.HSet(ctx, prefix+"backoff", "until", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []time.Duration{2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 15 * time.Minute, 15 * time.Minute} {
		expire()
		if wait, err = b.RateLimited(ctx, 0); err != nil || wait != want {
			t.Fatalf("escalated wait = %s, %v; want %s", wait, err, want)
		}
	}
	// Retry-After longer than the doubling is honoured.
	expire()
	if wait, err = b.RateLimited(ctx, 20*time.Minute); err != nil || wait != 20*time.Minute {
		t.Fatalf("Retry-After 20m gives %s, %v", wait, err)
	}
	// Success resets it.
	if err := b.OK(ctx); err != nil {
		t.Fatal(err)
	}
	if until, err := b.Until(ctx); err != nil || !until.IsZero() {
		t.Fatalf("Until after OK = %v, %v; want zero", until, err)
	}
	if wait, err = b.RateLimited(ctx, 0); err != nil || wait != time.Minute {
		t.Fatalf("first 429 after a reset waits %s, %v; want 1m", wait, err)
	}
}

func TestAnnouncer(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	sub := rdb.Subscribe(ctx, prefix+"updates")
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil { // the subscription confirmation
		t.Fatal(err)
	}
	keys := []catalog.SectionKey{{Term: "2267", ClassNbr: "70412"}}
	if err := NewAnnouncer(rdb, prefix+"updates").Announce(ctx, keys); err != nil {
		t.Fatal(err)
	}
	msg, err := sub.ReceiveMessage(testenv.Context(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	got, err := check.DecodeUpdate([]byte(msg.Payload))
	if err != nil || len(got) != 1 || got[0] != keys[0] {
		t.Fatalf("announced %q (%v), want %v", msg.Payload, err, keys)
	}
}
