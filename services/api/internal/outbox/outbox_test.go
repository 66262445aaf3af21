package outbox

import (
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func TestBackoffDoublesToTheCap(t *testing.T) {
	t.Parallel()
	s := New(nil, nil, zerolog.Nop(), Config{RetryBase: time.Second, RetryMax: 10 * time.Second})
	for attempts, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 5: 10 * time.Second, 40: 10 * time.Second} {
		if got := s.backoff(attempts); got != want {
			t.Errorf("backoff(%d) = %s, want %s", attempts, got, want)
		}
	}
}

// TestWakeNeverBlocks: a request that queues mail wakes the sender without
// waiting for it, however many wake it at once.
func TestWakeNeverBlocks(t *testing.T) {
	t.Parallel()
	s := New(nil, nil, zerolog.Nop(), Config{})
	done := make(chan struct{})
	go func() {
		for range 100 {
			s.Wake()
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Wake blocked")
	}
	if len(s.wake) != 1 {
		t.Errorf("%d pending wake-ups, want 1", len(s.wake))
	}
}
