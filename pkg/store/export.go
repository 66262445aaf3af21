package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Export is everything stored about one user, for the data download.
type Export struct {
	Account       ExportAccount
	Watches       []WatchView
	Notifications []ExportNotification
	Channels      []ExportChannel
}

// ExportAccount is the account row without its password hash.
type ExportAccount struct {
	Email           string
	CreatedAt       time.Time
	VerifiedAt      *time.Time
	AgeConfirmedAt  *time.Time
	TermsAcceptedAt *time.Time
	NotifyEmail     bool
	UnsubscribedAt  *time.Time
	BouncedAt       *time.Time
	ComplainedAt    *time.Time
	DisabledAt      *time.Time
	// AlertsPausedUntil holds every alert back until then.
	AlertsPausedUntil *time.Time
}

// ExportNotification is one alert the user was (or was to be) sent.
type ExportNotification struct {
	Term     string
	ClassNbr string
	Event    string
	// Sections are what a course or linked alert named.
	Sections  []string
	Status    string
	CreatedAt time.Time
	SentAt    *time.Time
}

const (
	exportAccountSQL = `
SELECT email, created_at, verified_at, age_confirmed_at, accepted_terms_at, notify_email,
       unsubscribed_at, bounced_at, complained_at, disabled_at, alerts_paused_until
FROM users WHERE id = $1 AND deleted_at IS NULL`
	exportNotificationsSQL = `
SELECT term, class_nbr, event, sections, status, created_at, sent_at
FROM notifications WHERE user_id = $1 ORDER BY created_at, id`
)

// ExportUser gathers the user's account, watches with their sections'
// states, and notification history.
func (db *DB) ExportUser(ctx context.Context, id int64) (Export, error) {
	var x Export
	a := &x.Account
	err := db.pool.QueryRow(ctx, exportAccountSQL, id).Scan(&a.Email, &a.CreatedAt, &a.VerifiedAt, &a.AgeConfirmedAt,
		&a.TermsAcceptedAt, &a.NotifyEmail, &a.UnsubscribedAt, &a.BouncedAt, &a.ComplainedAt, &a.DisabledAt, &a.AlertsPausedUntil)
	if errors.Is(err, pgx.ErrNoRows) {
		return Export{}, fmt.Errorf("export user %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Export{}, fmt.Errorf("export user %d: %w", id, err)
	}
	if x.Watches, err = db.ListWatches(ctx, id); err != nil {
		return Export{}, fmt.Errorf("export user %d: %w", id, err)
	}
	rows, err := db.pool.Query(ctx, exportNotificationsSQL, id)
	if err != nil {
		return Export{}, fmt.Errorf("export user %d: %w", id, err)
	}
	x.Notifications, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (ExportNotification, error) {
		var n ExportNotification
		err := row.Scan(&n.Term, &n.ClassNbr, &n.Event, &n.Sections, &n.Status, &n.CreatedAt, &n.SentAt)
		return n, err
	})
	if err != nil {
		return Export{}, fmt.Errorf("export user %d: %w", id, err)
	}
	if x.Channels, err = db.exportChannels(ctx, id); err != nil {
		return Export{}, fmt.Errorf("export user %d: %w", id, err)
	}
	return x, nil
}
