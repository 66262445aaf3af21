package notify

import (
	"context"
	"errors"
	"fmt"
)

// ErrPermanent marks a send that will never succeed as it stands, such as a
// recipient the server rejects with 550. Callers mark the notification
// failed instead of retrying; every other send error is temporary.
var ErrPermanent = errors.New("notify: permanent delivery failure")

// Email is one message to one recipient.
type Email struct {
	To      string // an RFC 5322 address: "ada@example.edu" or "Ada <ada@example.edu>"
	Subject string
	HTML    string
	Text    string
	// Headers are extra header fields, such as List-Unsubscribe. They may not
	// replace the fields the sender sets itself (From, To, Subject, Date,
	// Message-ID and the MIME fields).
	Headers map[string]string
	// MessageID is the Message-ID without angle brackets. The same
	// notification claim must always produce the same ID: it is the
	// idempotency key that lets a mailbox provider drop a duplicate of a
	// send we retried after a lost reply. A value without "@" gets the
	// sender's domain appended; an empty one gets a random ID.
	MessageID string
}

// Sender sends email.
type Sender interface {
	// Send delivers e or returns why not; errors.Is(err, ErrPermanent)
	// reports a failure that retrying will not fix.
	Send(ctx context.Context, e Email) error
}

// Limiter paces sends. A token bucket shared through Redis satisfies it, so
// every worker together stays under the provider's rate limit.
type Limiter interface {
	// Wait blocks until one send may proceed or ctx ends.
	Wait(ctx context.Context) error
}

// NewThrottled returns a Sender that waits for l before each send through s.
func NewThrottled(s Sender, l Limiter) Sender {
	return throttled{s: s, l: l}
}

type throttled struct {
	s Sender
	l Limiter
}

func (t throttled) Send(ctx context.Context, e Email) error {
	if err := t.l.Wait(ctx); err != nil {
		return fmt.Errorf("wait for send budget: %w", err)
	}
	return t.s.Send(ctx, e)
}
