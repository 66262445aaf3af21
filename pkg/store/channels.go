package store

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/channel"
)

// MaxChannels is how many alert channels one user may have.
const MaxChannels = 10

// Verification limits: a code is good for VerifyCodeTTL and
// maxVerifyAttempts guesses.
const (
	VerifyCodeTTL     = 30 * time.Minute
	maxVerifyAttempts = 5
)

// Errors of channel verification.
var (
	// ErrBadCode means the verification code is wrong, expired or out of
	// attempts.
	ErrBadCode = errors.New("store: wrong or expired code")
)

// AllEvents are the events a channel can get.
var AllEvents = []catalog.Event{catalog.EventSeatAvailable, catalog.EventInstructorAssigned}

// Channel is a user's alert channel, secret included.
type Channel struct {
	ID             int64
	UserID         int64
	Kind           channel.Kind
	Label          string
	Config         channel.Config
	Secret         string
	Events         []catalog.Event
	VerifiedAt     *time.Time
	DisabledAt     *time.Time
	DisabledReason string
	LastSentAt     *time.Time
	CreatedAt      time.Time
}

// Active reports whether the channel gets alerts.
func (c Channel) Active() bool { return c.VerifiedAt != nil && c.DisabledAt == nil }

// Wants reports whether the channel gets event ev.
func (c Channel) Wants(ev catalog.Event) bool {
	for _, e := range c.Events {
		if e == ev {
			return true
		}
	}
	return false
}

// Destination is where the channel sends, with anything secret left out:
// Discord and Slack webhook URLs carry their token in the path, so only the
// host is shown.
func (c Channel) Destination() string {
	raw := c.Config.URL
	if c.Kind == channel.KindWebPush {
		raw = c.Config.Endpoint
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	switch c.Kind {
	case channel.KindNtfy:
		return u.Host + u.Path
	case channel.KindWebhook:
		return u.Host + "/…"
	}
	return u.Host
}

// NewChannel is what CreateChannel needs.
type NewChannel struct {
	UserID int64
	Kind   channel.Kind
	Label  string
	Config channel.Config
	Secret string
	Events []catalog.Event
	// Code, when set, is the verification code the user must enter;
	// otherwise the channel is verified at once (a push subscription made
	// by the user's own browser).
	Code string
}

// channelColumns are a channel's columns, on channels named c, with the
// time of its last delivery.
const channelColumns = `c.id, c.user_id, c.kind, c.label, c.config, c.secret, c.events, c.verified_at, c.disabled_at,
	c.disabled_reason, (SELECT max(d.sent_at) FROM channel_deliveries d WHERE d.channel_id = c.id), c.created_at`

func scanChannel(row pgx.Row) (Channel, error) {
	var c Channel
	var cfg []byte
	var events []string
	err := row.Scan(&c.ID, &c.UserID, &c.Kind, &c.Label, &cfg, &c.Secret, &events, &c.VerifiedAt, &c.DisabledAt,
		&c.DisabledReason, &c.LastSentAt, &c.CreatedAt)
	if err != nil {
		return Channel{}, err
	}
	if err := json.Unmarshal(cfg, &c.Config); err != nil {
		return Channel{}, fmt.Errorf("channel %d config: %w", c.ID, err)
	}
	c.Events = make([]catalog.Event, len(events))
	for i, e := range events {
		c.Events[i] = catalog.Event(e)
	}
	return c, nil
}

func eventStrings(evs []catalog.Event) []string {
	out := make([]string, 0, len(evs))
	for _, e := range evs {
		out = append(out, string(e))
	}
	return out
}

func codeHash(code string) []byte {
	h := sha256.Sum256([]byte(code))
	return h[:]
}

// createChannelSQL inserts unless the user already has MaxChannels; a push
// subscription already stored for the user is updated instead (its keys
// may have changed), keeping its choices.
const createChannelSQL = `
WITH n AS (SELECT count(*) AS cnt FROM channels WHERE user_id = $1)
INSERT INTO channels AS c (user_id, kind, label, config, secret, events, verify_code_hash, verify_expires_at, verified_at)
SELECT $1, $2, $3, $4, $5, $6, $7, CASE WHEN $7::bytea IS NOT NULL THEN now() + make_interval(secs => $8) END,
	CASE WHEN $7::bytea IS NULL THEN now() END
FROM n WHERE n.cnt < $9 OR $2 = 'webpush' AND EXISTS (
	SELECT 1 FROM channels WHERE user_id = $1 AND kind = 'webpush' AND config ->> 'endpoint' = $4::jsonb ->> 'endpoint')
ON CONFLICT (user_id, (config ->> 'endpoint')) WHERE kind = 'webpush'
DO UPDATE SET config = EXCLUDED.config, secret = EXCLUDED.secret, label = EXCLUDED.label,
	verified_at = COALESCE(c.verified_at, now()), disabled_at = NULL, disabled_reason = '', disabled_notified_at = NULL
RETURNING ` + channelColumns

// CreateChannel stores a channel. It returns ErrLimitReached when the user
// already has MaxChannels.
func (db *DB) CreateChannel(ctx context.Context, nc NewChannel) (Channel, error) {
	if !nc.Kind.Valid() {
		return Channel{}, fmt.Errorf("create channel: unknown kind %q", nc.Kind)
	}
	cfg, err := json.Marshal(nc.Config)
	if err != nil {
		return Channel{}, fmt.Errorf("create channel: %w", err)
	}
	if nc.Events == nil {
		nc.Events = AllEvents
	}
	var hash []byte
	if nc.Code != "" {
		hash = codeHash(nc.Code)
	}
	c, err := scanChannel(db.pool.QueryRow(ctx, createChannelSQL, nc.UserID, nc.Kind, nc.Label, cfg, nc.Secret,
		eventStrings(nc.Events), hash, VerifyCodeTTL.Seconds(), MaxChannels))
	if errors.Is(err, pgx.ErrNoRows) {
		return Channel{}, fmt.Errorf("create channel for user %d: %w", nc.UserID, ErrLimitReached)
	}
	if err != nil {
		return Channel{}, fmt.Errorf("create channel for user %d: %w", nc.UserID, err)
	}
	return c, nil
}

const (
	listChannelsSQL  = `SELECT ` + channelColumns + ` FROM channels c WHERE c.user_id = $1 ORDER BY c.id`
	getChannelSQL    = `SELECT ` + channelColumns + ` FROM channels c WHERE c.id = $2 AND c.user_id = $1`
	deleteChannelSQL = `DELETE FROM channels WHERE id = $2 AND user_id = $1`
	setEventsSQL     = `UPDATE channels SET events = $3 WHERE id = $2 AND user_id = $1`
	setCodeSQL       = `
UPDATE channels SET verify_code_hash = $3, verify_expires_at = now() + make_interval(secs => $4), verify_attempts = 0
WHERE id = $2 AND user_id = $1 AND verified_at IS NULL`
	// verifySQL counts the attempt and verifies in one statement, so
	// concurrent guesses cannot exceed the limit.
	verifySQL = `
UPDATE channels SET verify_attempts = verify_attempts + 1,
	verified_at = CASE WHEN verify_code_hash = $3 THEN now() END,
	verify_code_hash = CASE WHEN verify_code_hash = $3 THEN NULL ELSE verify_code_hash END
WHERE id = $2 AND user_id = $1 AND verified_at IS NULL AND verify_code_hash IS NOT NULL
	AND verify_expires_at > now() AND verify_attempts < $4
RETURNING verified_at IS NOT NULL`
)

// ListChannels returns the user's channels, oldest first.
func (db *DB) ListChannels(ctx context.Context, userID int64) ([]Channel, error) {
	rows, err := db.pool.Query(ctx, listChannelsSQL, userID)
	if err != nil {
		return nil, fmt.Errorf("list channels of user %d: %w", userID, err)
	}
	cs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Channel, error) { return scanChannel(row) })
	if err != nil {
		return nil, fmt.Errorf("list channels of user %d: %w", userID, err)
	}
	return cs, nil
}

// GetChannel returns the user's channel id, or ErrNotFound.
func (db *DB) GetChannel(ctx context.Context, userID, id int64) (Channel, error) {
	c, err := scanChannel(db.pool.QueryRow(ctx, getChannelSQL, userID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Channel{}, fmt.Errorf("get channel %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Channel{}, fmt.Errorf("get channel %d: %w", id, err)
	}
	return c, nil
}

// DeleteChannel removes the user's channel and its pending deliveries.
func (db *DB) DeleteChannel(ctx context.Context, userID, id int64) error {
	return db.execOne(ctx, fmt.Sprintf("delete channel %d", id), deleteChannelSQL, userID, id)
}

// SetChannelEvents sets which events the channel gets.
func (db *DB) SetChannelEvents(ctx context.Context, userID, id int64, events []catalog.Event) error {
	return db.execOne(ctx, fmt.Sprintf("set events of channel %d", id), setEventsSQL, userID, id, eventStrings(events))
}

// SetChannelCode replaces an unverified channel's verification code, for a
// resend.
func (db *DB) SetChannelCode(ctx context.Context, userID, id int64, code string) error {
	return db.execOne(ctx, fmt.Sprintf("set code of channel %d", id), setCodeSQL, userID, id, codeHash(code), VerifyCodeTTL.Seconds())
}

// VerifyChannel marks the channel verified when code is its current code.
// A wrong, expired or exhausted code is ErrBadCode; each call spends one of
// the code's attempts.
func (db *DB) VerifyChannel(ctx context.Context, userID, id int64, code string) error {
	var ok bool
	err := db.pool.QueryRow(ctx, verifySQL, userID, id, codeHash(code), maxVerifyAttempts).Scan(&ok)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("verify channel %d: %w", id, ErrBadCode)
	}
	if err != nil {
		return fmt.Errorf("verify channel %d: %w", id, err)
	}
	if !ok {
		return fmt.Errorf("verify channel %d: %w", id, ErrBadCode)
	}
	return nil
}

// ExportChannel is one alert channel in the data download, its secret and
// the secret parts of its URL left out.
type ExportChannel struct {
	Kind           string
	Label          string
	Destination    string
	Events         []string
	CreatedAt      time.Time
	VerifiedAt     *time.Time
	DisabledAt     *time.Time
	DisabledReason string
	LastSentAt     *time.Time
}

func (db *DB) exportChannels(ctx context.Context, userID int64) ([]ExportChannel, error) {
	cs, err := db.ListChannels(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := make([]ExportChannel, len(cs))
	for i, c := range cs {
		out[i] = ExportChannel{
			Kind: string(c.Kind), Label: c.Label, Destination: c.Destination(), Events: eventStrings(c.Events),
			CreatedAt: c.CreatedAt, VerifiedAt: c.VerifiedAt, DisabledAt: c.DisabledAt, DisabledReason: c.DisabledReason,
			LastSentAt: c.LastSentAt,
		}
	}
	return out, nil
}
