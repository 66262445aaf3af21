package notifytest_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pickmyclass/pickmyclass/pkg/notify"
	"github.com/pickmyclass/pickmyclass/pkg/notify/notifytest"
)

func TestRecorderWaitsForConcurrentSends(t *testing.T) {
	t.Parallel()
	var r notifytest.Recorder
	var wg sync.WaitGroup
	for _, to := range []string{"a@x.test", "b@x.test", "c@x.test"} {
		wg.Go(func() {
			if err := r.Send(context.Background(), notify.Email{To: to}); err != nil {
				t.Error(err)
			}
		})
	}
	got := r.WaitFor(t, 3, 5*time.Second)
	wg.Wait()
	if len(got) != 3 {
		t.Errorf("WaitFor returned %d emails, want 3", len(got))
	}
}

func TestRecorderSendFunc(t *testing.T) {
	t.Parallel()
	rejected := errors.Join(notify.ErrPermanent, errors.New("550 no such user"))
	r := notifytest.Recorder{SendFunc: func(_ context.Context, e notify.Email) error {
		if e.To == "gone@x.test" {
			return rejected
		}
		return nil
	}}
	if err := r.Send(context.Background(), notify.Email{To: "gone@x.test"}); !errors.Is(err, notify.ErrPermanent) {
		t.Errorf("Send = %v, want ErrPermanent", err)
	}
	if err := r.Send(context.Background(), notify.Email{To: "ok@x.test"}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]notify.Email{{To: "ok@x.test"}}, r.Emails()); diff != "" {
		t.Errorf("emails (-want +got):\n%s", diff)
	}
}
