// Package mailer sends the notifications that the check pipeline claimed:
// render, send over SMTP, then record the send — or release the claim so a
// later attempt sends it. A send that was accepted is recorded before the
// check is acked and is never repeated.
package mailer

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/rs/zerolog"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asu"
	"github.com/pickmyclass/pickmyclass/pkg/notify"
	"github.com/pickmyclass/pickmyclass/pkg/store"
)

// Store is the claims part of the database.
type Store interface {
	ClaimPending(ctx context.Context, sections []catalog.SectionKey, lease time.Duration, limit int) ([]store.Notification, error)
	ClaimDue(ctx context.Context, lease time.Duration, limit int) ([]store.Notification, error)
	MarkSent(ctx context.Context, id int64, messageID string) error
	Release(ctx context.Context, id int64, sendErr string) error
	MarkFailed(ctx context.Context, id int64, sendErr string) error
}

// Mailer sends claimed notifications.
type Mailer struct {
	Store   Store
	Sender  notify.Sender
	Signer  *notify.Signer
	BaseURL string        // public URL of the web app, for links
	Domain  string        // Message-ID domain
	Lease   time.Duration // how long a claim is ours while we send it
	Now     func() time.Time
}

// SendPending sends every pending notification of the sections.
func (m *Mailer) SendPending(ctx context.Context, keys []catalog.SectionKey) error {
	claimed := m.Now()
	notes, err := m.Store.ClaimPending(ctx, keys, m.Lease, 1000)
	if err != nil {
		return fmt.Errorf("claim pending: %w", err)
	}
	return m.send(ctx, claimed, notes)
}

// Sweep sends pending notifications of any section — the ones whose earlier
// send failed — until none is left or ctx ends. It returns how many it sent.
func (m *Mailer) Sweep(ctx context.Context) (int, error) {
	sent := 0
	for {
		claimed := m.Now()
		notes, err := m.Store.ClaimDue(ctx, m.Lease, 100)
		if err != nil {
			return sent, fmt.Errorf("claim due: %w", err)
		}
		if len(notes) == 0 {
			return sent, nil
		}
		if err := m.send(ctx, claimed, notes); err != nil {
			return sent, err
		}
		sent += len(notes)
	}
}

// Run sweeps every interval until ctx ends.
func (m *Mailer) Run(ctx context.Context, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if _, err := m.Sweep(ctx); err != nil && ctx.Err() == nil {
				zerolog.Ctx(ctx).Warn().Err(err).Msg("notification sweep")
			}
		}
	}
}

// send sends notes claimed at claimed. Every send must finish while the
// claim is still ours: once the lease lapses another worker may claim and
// send the same notification, so a send still waiting (for the shared send
// budget, for a slow server) when a quarter of the lease is left gives up and
// releases the claim instead.
func (m *Mailer) send(ctx context.Context, claimed time.Time, notes []store.Notification) error {
	ctx, cancel := context.WithDeadline(ctx, claimed.Add(m.Lease-m.Lease/4))
	defer cancel()
	var errs []error
	for _, n := range notes {
		if err := m.sendOne(ctx, n); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (m *Mailer) sendOne(ctx context.Context, n store.Notification) error {
	log := zerolog.Ctx(ctx).With().Int64("notification_id", n.ID).Str("section", n.Section.Key().String()).
		Str("event", string(n.Event)).Logger()
	email, err := m.render(n)
	if err != nil {
		// A template that cannot render this notification never will.
		if ferr := m.Store.MarkFailed(ctx, n.ID, err.Error()); ferr != nil {
			return errors.Join(err, ferr)
		}
		return err
	}
	if err := m.Sender.Send(ctx, email); err != nil {
		if errors.Is(err, notify.ErrPermanent) {
			if ferr := m.Store.MarkFailed(context.WithoutCancel(ctx), n.ID, err.Error()); ferr != nil {
				return errors.Join(err, ferr)
			}
			log.Warn().Err(err).Msg("email rejected permanently")
			return nil
		}
		if rerr := m.Store.Release(context.WithoutCancel(ctx), n.ID, err.Error()); rerr != nil {
			return errors.Join(err, rerr)
		}
		return fmt.Errorf("send notification %d: %w", n.ID, err)
	}
	// The SMTP server accepted it: record that even if we are shutting down,
	// so no retry sends it again.
	if err := m.Store.MarkSent(context.WithoutCancel(ctx), n.ID, email.MessageID); err != nil {
		return fmt.Errorf("record sent notification %d: %w", n.ID, err)
	}
	log.Info().Msg("email sent")
	return nil
}

func (m *Mailer) render(n store.Notification) (notify.Email, error) {
	token := m.Signer.Sign(n.UserID, notify.PurposeUnsubscribe, m.Now().Add(notify.UnsubscribeTTL))
	query := "?token=" + url.QueryEscape(token)
	// A course or linked alert links each section it names.
	var classURLs []string
	for _, s := range n.Watch.Sections {
		classURLs = append(classURLs, m.classURL(s))
	}
	return notify.RenderAlert(notify.Alert{
		Event:                  n.Event,
		To:                     n.Email,
		Section:                n.Section,
		TermName:               asu.TermName(n.Section.Term),
		OpenSeats:              n.OpenSeats,
		Capacity:               n.Section.Capacity,
		HasReservedSeats:       n.Section.HasReservedSeats,
		ClassURL:               m.classURL(n.Section),
		DashboardURL:           m.BaseURL + "/dashboard",
		UnsubscribeURL:         m.BaseURL + notify.UnsubscribePath + query,
		ListUnsubscribePostURL: m.BaseURL + notify.OneClickUnsubscribePath + query,
		MessageID:              "<" + n.IdempotencyKey() + "@" + m.Domain + ">",
		Kind:                   n.Watch.Kind,
		Filter:                 n.Watch.Filter,
		Sections:               n.Watch.Sections,
		ClassURLs:              classURLs,
	})
}

// classURL is the link to the university's page of s, through the web
// app's redirect.
func (m *Mailer) classURL(s catalog.Section) string {
	return m.BaseURL + "/go/asu?" + url.Values{"term": {s.Term}, "classNbr": {s.ClassNbr}}.Encode()
}
