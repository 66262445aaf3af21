// Package outbox sends the account email the web app queues in PostgreSQL
// (verification and password-reset links, notices): requests only queue,
// so none waits on SMTP, and a failed send is retried with back-off until
// the mail expires. Every API instance may run a Sender: claims are leased.
package outbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/pickmyclass/pickmyclass/pkg/notify"
	"github.com/pickmyclass/pickmyclass/pkg/store"
)

// Config tunes a Sender; zero values take the defaults.
type Config struct {
	// Poll is how often the outbox is read when nothing wakes the sender
	// (default 5s): mail another instance queued, and retries.
	Poll time.Duration
	// Lease is how long a claimed mail is held while it is sent (default 1m).
	Lease time.Duration
	// RetryBase and RetryMax shape the doubling back-off of a failed send
	// (defaults 10s and 5m).
	RetryBase, RetryMax time.Duration
	// SendTimeout bounds one SMTP session (default 30s).
	SendTimeout time.Duration
}

// Sender delivers the outbox through an SMTP sender.
type Sender struct {
	db   *store.DB
	mail notify.Sender
	log  zerolog.Logger
	cfg  Config
	wake chan struct{}
}

// batch is how many mails one claim takes.
const batch = 20

// New returns a Sender; call Run to start it.
func New(db *store.DB, mail notify.Sender, log zerolog.Logger, cfg Config) *Sender {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.Poll, 5*time.Second)
	def(&cfg.Lease, time.Minute)
	def(&cfg.RetryBase, 10*time.Second)
	def(&cfg.RetryMax, 5*time.Minute)
	def(&cfg.SendTimeout, 30*time.Second)
	return &Sender{db: db, mail: mail, log: log, cfg: cfg, wake: make(chan struct{}, 1)}
}

// Wake asks the sender to read the outbox now; it never blocks.
func (s *Sender) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run sends due mail until ctx ends.
func (s *Sender) Run(ctx context.Context) error {
	tick := time.NewTicker(s.cfg.Poll)
	defer tick.Stop()
	for {
		s.drain(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-s.wake:
		case <-tick.C:
		}
	}
}

// drain sends every due mail, batch by batch.
func (s *Sender) drain(ctx context.Context) {
	for ctx.Err() == nil {
		now := time.Now()
		mails, err := s.db.ClaimMail(ctx, now, now.Add(s.cfg.Lease), batch)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Error().Err(err).Msg("outbox: claim")
			}
			return
		}
		for _, m := range mails {
			s.send(ctx, m)
		}
		if len(mails) < batch {
			return
		}
	}
}

func (s *Sender) send(ctx context.Context, m store.QueuedMail) {
	sctx, cancel := context.WithTimeout(ctx, s.cfg.SendTimeout)
	err := s.mail.Send(sctx, notify.Email{
		To: m.To, Subject: m.Subject, Text: m.Text, HTML: m.HTML,
		// The same mail keeps its Message-ID across retries, so a provider
		// drops a duplicate of a send whose reply was lost.
		MessageID: fmt.Sprintf("account-%d", m.ID),
	})
	cancel()
	log := s.log.With().Int64("mail", m.ID).Str("subject", m.Subject).Int("attempts", m.Attempts).Logger()
	switch {
	case err == nil || errors.Is(err, notify.ErrPermanent):
		if err != nil {
			log.Warn().Err(err).Msg("outbox: recipient refused; mail dropped")
		}
		if derr := s.db.MailDone(ctx, m.ID); derr != nil {
			log.Error().Err(derr).Msg("outbox: remove mail")
		}
	default:
		next := time.Now().Add(s.backoff(m.Attempts))
		log.Warn().Err(err).Time("retry_at", next).Msg("outbox: send failed")
		if rerr := s.db.RetryMail(ctx, m.ID, next, err.Error()); rerr != nil {
			log.Error().Err(rerr).Msg("outbox: release mail")
		}
	}
}

// backoff is the wait after the attempts-th failed send: RetryBase,
// doubling, at most RetryMax.
func (s *Sender) backoff(attempts int) time.Duration {
	d := s.cfg.RetryBase
	for i := 1; i < attempts && d < s.cfg.RetryMax; i++ {
		d *= 2
	}
	return min(d, s.cfg.RetryMax)
}
