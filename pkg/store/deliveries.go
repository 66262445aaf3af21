package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/channel"
)

// activeUser is the condition, on users aliased u, for an account whose
// channels get alerts: email preferences (unsubscribe, bounce) are about
// email only.
const activeUser = `(u.disabled_at IS NULL AND u.deleted_at IS NULL AND u.verified_at IS NOT NULL)`

// activeChannel is the condition, on channels aliased c, for a channel that
// gets alerts now.
const activeChannel = `(c.verified_at IS NOT NULL AND c.disabled_at IS NULL)`

// alertableUser is the condition for a user whose watches are worth
// checking: one who can get email or has an active channel.
const alertableUser = `(` + eligibleUser + ` OR ` + activeUser + ` AND EXISTS (
	SELECT 1 FROM channels c WHERE c.user_id = u.id AND ` + activeChannel + `))`

// insertChannelClaimsSQL claims one delivery per active channel that wants
// the event, in the transaction that detected it, as insertClaimsSQL does
// for email, with the same rules for a stale baseline ($5, $6) and for
// reserved-only openings ($7).
const insertChannelClaimsSQL = `
INSERT INTO channel_deliveries (channel_id, watch_id, user_id, term, class_nbr, event, epoch)
SELECT c.id, w.id, w.user_id, w.term, w.class_nbr, e.event, e.epoch
FROM unnest($2::text[], $3::text[], $4::int[], $6::timestamptz[], $7::bool[]) AS e(class_nbr, event, epoch, baseline_at, reserved_only)
JOIN class_watches w ON w.term = $1 AND w.class_nbr = e.class_nbr AND w.kind = 'section'
JOIN users u ON u.id = w.user_id
JOIN channels c ON c.user_id = w.user_id
WHERE ` + activeUser + ` AND ` + activeChannel + ` AND ` + unpaused + ` AND ` + channelWants + `
  AND (e.baseline_at >= $5 OR w.created_at <= e.baseline_at)
  AND (NOT e.reserved_only OR w.notify_reserved)
ON CONFLICT (watch_id, event, epoch, channel_id) DO NOTHING
RETURNING class_nbr`

// channelWants is the condition that the channel aliased c takes event e
// of the watch aliased w: a seat_gone notice goes where the seat alert it
// follows was delivered.
const channelWants = `(CASE WHEN e.event = 'seat_gone' THEN 'seat_available' ELSE e.event END = ANY(c.events)
	AND (e.event <> 'seat_gone' OR w.notify_gone AND EXISTS (
		SELECT 1 FROM channel_deliveries p WHERE p.watch_id = w.id AND p.channel_id = c.id
			AND p.event = 'seat_available' AND p.epoch = e.epoch AND p.status = 'sent')))`

// insertWatchChannelClaimsSQL claims channel deliveries of course and
// linked watch alerts, with the arguments of insertWatchClaimsSQL.
const insertWatchChannelClaimsSQL = `
INSERT INTO channel_deliveries (channel_id, watch_id, user_id, term, class_nbr, event, epoch, sections)
SELECT c.id, w.id, w.user_id, w.term, split_part(e.nbrs, ',', 1), e.event, e.epoch, string_to_array(e.nbrs, ',')
FROM unnest($1::bigint[], $2::text[], $3::int[], $4::text[]) AS e(watch_id, event, epoch, nbrs)
JOIN class_watches w ON w.id = e.watch_id
JOIN users u ON u.id = w.user_id
JOIN channels c ON c.user_id = w.user_id
WHERE ` + activeUser + ` AND ` + activeChannel + ` AND ` + unpaused + ` AND ` + channelWants + `
ON CONFLICT (watch_id, event, epoch, channel_id) DO NOTHING
RETURNING class_nbr`

// Delivery is a leased channel claim with everything its message needs.
type Delivery struct {
	ID        int64
	ChannelID int64
	WatchID   int64
	UserID    int64
	Email     string // the owner's, for telling them the channel broke
	Channel   channel.Channel
	Label     string
	Event     catalog.Event
	Epoch     int
	Attempts  int // including this lease
	CreatedAt time.Time
	// Section is the section's current state; it carries only the watch's
	// key and course when the section was never observed.
	Section   catalog.Section
	OpenSeats int
	// Watch says what the watch asks for: a section, any section of a
	// course passing a filter, or a lecture with its labs.
	Watch WatchAbout
}

// IdempotencyKey identifies the delivery, stable across retries: the
// webhook-id a receiver deduplicates on.
func (d Delivery) IdempotencyKey() string {
	return fmt.Sprintf("pmc-%d-%s-%d-c%d", d.WatchID, d.Event, d.Epoch, d.ChannelID)
}

// claimDeliveriesSQL leases due deliveries as claimDueSQL does for email.
// Deliveries of a channel that is no longer active, or of a user who can no
// longer be alerted, are skipped; deliveries of a channel held back by a
// 429 wait. $5 lets one channel have at most that many deliveries leased in
// one claim, so a user watching many sections cannot crowd others out. A
// delivery whose alert no longer holds on the section's current state
// (stillTrue, $4 MaxUnconfirmedAlertAge) is skipped, as email is.
const claimDeliveriesSQL = `
WITH cand AS (
	SELECT d.id, d.channel_id, d.watch_id, d.user_id, d.term, d.class_nbr, d.event, d.epoch, d.created_at FROM channel_deliveries d
	WHERE d.status = 'pending' AND (d.lease_until IS NULL OR d.lease_until < now())
		AND d.created_at > now() - make_interval(secs => $1)
	ORDER BY d.id
	LIMIT $2
	FOR UPDATE SKIP LOCKED
), elig AS (
	SELECT x.id, x.ok, x.holds, x.held, row_number() OVER (PARTITION BY x.channel_id ORDER BY x.id) AS n FROM (
		SELECT k.id, k.channel_id, (` + activeUser + ` AND ` + activeChannel + `) AS ok, ` + stillTrue + ` AS holds,
			(c.retry_at IS NOT NULL AND c.retry_at > now()) AS held
		FROM cand k JOIN users u ON u.id = k.user_id JOIN channels c ON c.id = k.channel_id
		LEFT JOIN class_watches w ON w.id = k.watch_id
		LEFT JOIN section_states s ON s.term = k.term AND s.class_nbr = k.class_nbr) x
), skipped AS (
	UPDATE channel_deliveries d SET status = 'skipped', lease_until = NULL,
		last_error = CASE WHEN e.ok THEN 'no longer true when it could be sent' ELSE d.last_error END
	FROM elig e WHERE d.id = e.id AND NOT (e.ok AND e.holds)
), leased AS (
	UPDATE channel_deliveries d SET lease_until = now() + make_interval(secs => $3), attempts = d.attempts + 1
	FROM elig e WHERE d.id = e.id AND e.ok AND e.holds AND NOT e.held AND e.n <= $5
	RETURNING d.id, d.channel_id, d.watch_id, d.user_id, d.term, d.class_nbr, d.event, d.epoch, d.attempts, d.created_at, d.sections
)
SELECT l.id, l.channel_id, l.watch_id, l.user_id, u.email, c.kind, c.label, c.config, c.secret,
	l.event, l.epoch, l.attempts, l.created_at, l.term, l.class_nbr, w.subject, w.catalog_nbr, w.kind, w.filters, l.sections, ` + stateColumns + `
FROM leased l
JOIN users u ON u.id = l.user_id
JOIN channels c ON c.id = l.channel_id
JOIN class_watches w ON w.id = l.watch_id
LEFT JOIN section_states s ON s.term = l.term AND s.class_nbr = l.class_nbr
ORDER BY l.id`

const failExhaustedDeliveriesSQL = `
UPDATE channel_deliveries SET status = 'failed', lease_until = NULL,
	last_error = CASE WHEN last_error = '' THEN 'expired unsent' ELSE 'expired unsent: ' || last_error END
WHERE status = 'pending' AND created_at <= now() - make_interval(secs => $1)
	AND (lease_until IS NULL OR lease_until < now())`

// ClaimDeliveries leases up to limit due channel deliveries for lease, at
// most perChannel of one channel. It also marks failed the deliveries
// older than MaxSendAge. The caller must MarkDeliverySent,
// ReleaseDelivery or FailDelivery each one.
func (db *DB) ClaimDeliveries(ctx context.Context, lease time.Duration, limit, perChannel int) ([]Delivery, error) {
	if _, err := db.pool.Exec(ctx, failExhaustedDeliveriesSQL, maxSendAge); err != nil {
		return nil, fmt.Errorf("claim deliveries: fail exhausted: %w", err)
	}
	rows, err := db.pool.Query(ctx, claimDeliveriesSQL, maxSendAge, limit, lease.Seconds(), maxUnconfirmedAlertAge, perChannel)
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	ds, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Delivery, error) {
		var d Delivery
		var cfg []byte
		var c claimedWatch
		var st nullableState
		dest := append([]any{&d.ID, &d.ChannelID, &d.WatchID, &d.UserID, &d.Email, &d.Channel.Kind, &d.Label, &cfg,
			&d.Channel.Secret, &d.Event, &d.Epoch, &d.Attempts, &d.CreatedAt}, append(c.dest(), st.dest()...)...)
		if err := row.Scan(dest...); err != nil {
			return Delivery{}, err
		}
		if err := json.Unmarshal(cfg, &d.Channel.Config); err != nil {
			return Delivery{}, fmt.Errorf("channel %d config: %w", d.ChannelID, err)
		}
		var err error
		d.Section, d.OpenSeats, d.Watch, err = c.resolve(&st)
		if err != nil {
			return Delivery{}, err
		}
		return d, nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	for i := range ds {
		if err := db.namedSections(ctx, &ds[i].Watch, ds[i].Section.Term); err != nil {
			return nil, fmt.Errorf("claim deliveries: %w", err)
		}
	}
	return ds, nil
}

const (
	markDeliverySentSQL = `
UPDATE channel_deliveries SET status = 'sent', sent_at = now(), lease_until = NULL
WHERE id = $1 AND status <> 'sent'`
	// releaseDeliverySQL backs off as releaseSQL does, but never less than
	// the server's Retry-After ($6 seconds).
	releaseDeliverySQL = `
UPDATE channel_deliveries SET
	status = CASE WHEN created_at <= now() - make_interval(secs => $3) THEN 'failed' ELSE 'pending' END,
	lease_until = now() + greatest(make_interval(secs => $6),
		least(make_interval(secs => $5), make_interval(secs => $4) * power(2, least(greatest(attempts, 1), 20) - 1))),
	last_error = $2
WHERE id = $1 AND status = 'pending'`
	// holdChannelSQL holds every delivery of a channel until its Retry-After.
	holdChannelSQL = `
UPDATE channels SET retry_at = greatest(coalesce(retry_at, now()), now() + make_interval(secs => $2)) WHERE id = $1`
	// deferDeliverySQL gives a claim back unsent without counting an
	// attempt: the channel's rate limit held it.
	deferDeliverySQL = `
UPDATE channel_deliveries SET lease_until = now() + make_interval(secs => $2), attempts = greatest(attempts - 1, 0)
WHERE id = $1 AND status = 'pending'`
	failDeliverySQL = `
UPDATE channel_deliveries SET status = 'failed', lease_until = NULL, last_error = $2
WHERE id = $1 AND status = 'pending'`
	disableChannelSQL = `
UPDATE channels SET disabled_at = now(), disabled_reason = $2
WHERE id = $1 AND disabled_at IS NULL`
	deliveryExistsSQL = `SELECT EXISTS (SELECT 1 FROM channel_deliveries WHERE id = $1)`
)

// MarkDeliverySent records that delivery id was sent. It is final; marking
// it twice keeps the first record.
func (db *DB) MarkDeliverySent(ctx context.Context, id int64) error {
	if _, err := db.pool.Exec(ctx, markDeliverySentSQL, id); err != nil {
		return fmt.Errorf("mark delivery %d sent: %w", id, err)
	}
	return nil
}

// ReleaseDelivery gives a leased delivery back after a temporary failure,
// to be retried after the back-off of SetSendRetry and no sooner than
// retryAfter; once older than MaxSendAge it is marked failed instead. A
// retryAfter also holds the channel's other deliveries that long.
func (db *DB) ReleaseDelivery(ctx context.Context, d Delivery, sendErr string, retryAfter time.Duration) error {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if retryAfter > 0 {
			if _, err := tx.Exec(ctx, holdChannelSQL, d.ChannelID, retryAfter.Seconds()); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, releaseDeliverySQL, d.ID, sendErr, maxSendAge, db.retryBase.Seconds(), db.retryMax.Seconds(),
			retryAfter.Seconds())
		return err
	})
	if err != nil {
		return fmt.Errorf("release delivery %d: %w", d.ID, err)
	}
	return nil
}

// DeferDelivery gives a leased delivery back unsent, for wait, without
// counting the attempt.
func (db *DB) DeferDelivery(ctx context.Context, id int64, wait time.Duration) error {
	return db.updateDelivery(ctx, fmt.Sprintf("defer delivery %d", id), deferDeliverySQL, id, wait.Seconds())
}

// FailDelivery gives up on a delivery; when disable is set, its channel is
// disabled too with reason, and disabled reports whether this call disabled
// it (it was not already).
func (db *DB) FailDelivery(ctx context.Context, d Delivery, sendErr string, disable bool, reason string) (disabled bool, err error) {
	err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, failDeliverySQL, d.ID, sendErr); err != nil {
			return err
		}
		if !disable {
			return nil
		}
		tag, err := tx.Exec(ctx, disableChannelSQL, d.ChannelID, reason)
		disabled = tag.RowsAffected() > 0
		return err
	})
	if err != nil {
		return false, fmt.Errorf("fail delivery %d: %w", d.ID, err)
	}
	return disabled, nil
}

// updateDelivery runs a conditional update of a channel delivery.
func (db *DB) updateDelivery(ctx context.Context, op, sql string, args ...any) error {
	return db.conditionalUpdate(ctx, deliveryExistsSQL, op, sql, args...)
}

// DisabledChannel is a channel whose owner must be told it was disabled.
type DisabledChannel struct {
	ID     int64
	UserID int64
	Email  string
	Kind   channel.Kind
	Label  string
	Reason string
}

// claimDisabledSQL marks up to $1 disabled channels as notified and returns
// them with their owner, when the owner can get email. Marking first means
// two workers never both send the notice; a failed send hands it back with
// UnclaimDisabledNotice.
// An owner who cannot get email is marked told too, or their channel would
// be picked again forever.
const claimDisabledSQL = `
WITH picked AS (
	SELECT id FROM channels WHERE disabled_at IS NOT NULL AND disabled_notified_at IS NULL
	ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED
), told AS (
	UPDATE channels c SET disabled_notified_at = now() FROM picked p WHERE c.id = p.id
	RETURNING c.id, c.user_id, c.kind, c.label, c.disabled_reason
)
SELECT c.id, c.user_id, u.email, c.kind, c.label, c.disabled_reason
FROM told c JOIN users u ON u.id = c.user_id
WHERE ` + eligibleUser + `
ORDER BY c.id`

const unclaimDisabledSQL = `UPDATE channels SET disabled_notified_at = NULL WHERE id = $1`

// ClaimDisabledNotices returns channels disabled since their owner was last
// told, marking them told.
func (db *DB) ClaimDisabledNotices(ctx context.Context, limit int) ([]DisabledChannel, error) {
	rows, err := db.pool.Query(ctx, claimDisabledSQL, limit)
	if err != nil {
		return nil, fmt.Errorf("claim disabled channel notices: %w", err)
	}
	cs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (DisabledChannel, error) {
		var c DisabledChannel
		err := row.Scan(&c.ID, &c.UserID, &c.Email, &c.Kind, &c.Label, &c.Reason)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("claim disabled channel notices: %w", err)
	}
	return cs, nil
}

// UnclaimDisabledNotice hands a notice back after its email failed.
func (db *DB) UnclaimDisabledNotice(ctx context.Context, id int64) error {
	if _, err := db.pool.Exec(ctx, unclaimDisabledSQL, id); err != nil {
		return fmt.Errorf("unclaim disabled notice %d: %w", id, err)
	}
	return nil
}

// ChannelDeliveryStatus counts one channel's deliveries by status.
func (db *DB) ChannelDeliveryStatus(ctx context.Context, channelID int64) (map[string]int, error) {
	rows, err := db.pool.Query(ctx, `SELECT status, count(*) FROM channel_deliveries WHERE channel_id = $1 GROUP BY status`, channelID)
	if err != nil {
		return nil, fmt.Errorf("delivery status of channel %d: %w", channelID, err)
	}
	out := map[string]int{}
	var status string
	var n int
	if _, err := pgx.ForEachRow(rows, []any{&status, &n}, func() error { out[status] = n; return nil }); err != nil {
		return nil, fmt.Errorf("delivery status of channel %d: %w", channelID, err)
	}
	return out, nil
}
