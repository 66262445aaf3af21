package notify_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pickmyclass/pickmyclass/pkg/notify"
)

type senderFunc func(ctx context.Context, e notify.Email) error

func (f senderFunc) Send(ctx context.Context, e notify.Email) error { return f(ctx, e) }

type limiterFunc func(ctx context.Context) error

func (f limiterFunc) Wait(ctx context.Context) error { return f(ctx) }

func TestThrottledWaitsBeforeEachSend(t *testing.T) {
	t.Parallel()
	var calls []string
	s := notify.NewThrottled(
		senderFunc(func(_ context.Context, e notify.Email) error {
			calls = append(calls, "send "+e.To)
			return nil
		}),
		limiterFunc(func(context.Context) error {
			calls = append(calls, "wait")
			return nil
		}),
	)
	for _, to := range []string{"a@x.test", "b@x.test"} {
		if err := s.Send(context.Background(), notify.Email{To: to}); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff([]string{"wait", "send a@x.test", "wait", "send b@x.test"}, calls); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

func TestThrottledLimiterErrorSkipsSend(t *testing.T) {
	t.Parallel()
	s := notify.NewThrottled(
		senderFunc(func(context.Context, notify.Email) error {
			t.Error("sent despite the limiter failing")
			return nil
		}),
		limiterFunc(func(context.Context) error { return context.DeadlineExceeded }),
	)
	err := s.Send(context.Background(), notify.Email{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Send = %v, want context.DeadlineExceeded", err)
	}
	if errors.Is(err, notify.ErrPermanent) {
		t.Error("a limiter error is permanent")
	}
}
