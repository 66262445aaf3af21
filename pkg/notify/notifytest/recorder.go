// Package notifytest provides a notify.Sender that records emails instead of
// sending them, for unit tests of code that sends alerts. Tests that need
// the real wire format use the SMTP sink in notify/smtptest instead.
package notifytest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/notify"
)

// Recorder is a notify.Sender that keeps what it is asked to send. The zero
// value records every email; its methods are safe for concurrent use.
type Recorder struct {
	// SendFunc, when set, decides each send's result, for example returning
	// an error wrapping notify.ErrPermanent. Only emails for which it
	// returns nil are recorded, as only those were "sent".
	SendFunc func(ctx context.Context, e notify.Email) error

	mu      sync.Mutex
	emails  []notify.Email
	changed chan struct{} // closed and replaced whenever emails grows
}

var _ notify.Sender = (*Recorder)(nil)

// Send records e unless ctx has ended or SendFunc fails it.
func (r *Recorder) Send(ctx context.Context, e notify.Email) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if r.SendFunc != nil {
		if err := r.SendFunc(ctx, e); err != nil {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.emails = append(r.emails, e)
	if r.changed != nil {
		close(r.changed)
		r.changed = nil
	}
	return nil
}

// Emails returns the emails sent so far, oldest first.
func (r *Recorder) Emails() []notify.Email {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]notify.Email(nil), r.emails...)
}

// WaitFor waits until at least n emails were sent and returns them, failing
// the test if that takes longer than timeout.
func (r *Recorder) WaitFor(t testing.TB, n int, timeout time.Duration) []notify.Email {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		r.mu.Lock()
		if len(r.emails) >= n {
			emails := append([]notify.Email(nil), r.emails...)
			r.mu.Unlock()
			return emails
		}
		if r.changed == nil {
			r.changed = make(chan struct{})
		}
		changed, have := r.changed, len(r.emails)
		r.mu.Unlock()
		select {
		case <-changed:
		case <-timer.C:
			t.Fatalf("notifytest: %d emails sent after %s, want %d", have, timeout, n)
			return nil
		}
	}
}
