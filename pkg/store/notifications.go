package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
)

// MaxSendAge is how long a notification keeps being retried before it is
// marked failed. Retries back off (see DB.SetSendRetry), so an SMTP outage
// of hours delays alerts instead of losing them; a day-old seat alert is no
// longer worth sending.
const MaxSendAge = 24 * time.Hour

// maxSendAge is MaxSendAge in seconds, as the queries take it.
var maxSendAge = MaxSendAge.Seconds()

// Notification statuses.
const (
	StatusPending = "pending"
	StatusSent    = "sent"
	StatusFailed  = "failed"
	StatusSkipped = "skipped"
)

// Notification is a leased claim with everything its email needs.
type Notification struct {
	ID       int64
	WatchID  int64
	UserID   int64
	Email    string
	Event    catalog.Event
	Epoch    int
	Attempts int // including this lease
	// CreatedAt is when the event was detected.
	CreatedAt time.Time
	// Section is the section's current state; it carries only the watch's
	// key and course when the section was never observed.
	Section   catalog.Section
	OpenSeats int
	// Watch says what the watch asks for: a section, any section of a
	// course passing a filter, or a lecture with its labs.
	Watch WatchAbout
}

// WatchAbout is what an alert's watch asks for, beyond its section.
type WatchAbout struct {
	Kind   catalog.WatchKind
	Filter catalog.Filter // a course watch's
	// Sections are the current states of the sections a course or linked
	// alert names (for a linked one, the lecture first); empty for a
	// section watch, whose section is Section.
	Sections []catalog.Section
}

// IdempotencyKey identifies the email of this claim, stable across retries,
// for providers and Message-IDs that deduplicate.
func (n Notification) IdempotencyKey() string {
	return fmt.Sprintf("pmc-%d-%s-%d", n.WatchID, n.Event, n.Epoch)
}

// claimSQL leases pending claims in one statement. SKIP LOCKED lets several
// senders claim at once without waiting on each other; the lease makes a
// claim invisible until it is released, sent or abandoned long enough. The
// user's eligibility is checked again because it may have changed since the
// claim was made (an unsubscribe, a bounce): those claims are skipped, not
// sent. The event is checked again too, on the section's current state
// (stillTrue), since an alert may be sent long after it was claimed (a
// retry after an SMTP outage): a seat alert whose seat is gone (or that a
// later opening superseded; for a watch that asked for reserved seats, a
// seat open only to a reserved group still counts), an instructor alert
// whose instructor is gone, or an old claim on an equally old state is
// skipped, not sent. claimHead and claimTail surround the candidate filter.
const claimHead = `
WITH cand AS (
	SELECT n.id, n.user_id, n.watch_id, n.term, n.class_nbr, n.event, n.epoch, n.created_at FROM notifications n
	WHERE n.status = 'pending' AND (n.lease_until IS NULL OR n.lease_until < now())
		AND n.created_at > now() - make_interval(secs => $1) `

// MaxUnconfirmedAlertAge is how old a claimed alert may be and still be
// sent on a section state that is as old: past it, the section must have
// been observed within that time, or nothing vouches for the alert any more
// (a retry after hours of SMTP and university outage) and it is skipped.
const MaxUnconfirmedAlertAge = time.Hour

// maxUnconfirmedAlertAge is MaxUnconfirmedAlertAge in seconds.
var maxUnconfirmedAlertAge = MaxUnconfirmedAlertAge.Seconds()

// stillTrue is the condition that a claimed alert still holds when it goes
// out: on the claim aliased k (its event, epoch and created_at), its watch
// aliased w and its section's current state aliased s (LEFT JOINed), with
// $4 holding MaxUnconfirmedAlertAge in seconds. The seat is still open in
// the same opening (epoch; a reserved seat counts for a watch that asked for
// those), or the instructor still named; and the section was observed
// within MaxUnconfirmedAlertAge, or the claim is that recent.
const stillTrue = `(w.id IS NOT NULL AND ` + unpaused + `
	AND CASE WHEN w.kind <> 'section' THEN
		-- A course or linked alert holds while its watch's opening does
		-- (a gone notice while it is still gone), on a section observed
		-- within MaxUnconfirmedAlertAge or a claim that recent.
		w.alert_epoch = k.epoch AND w.alert_open = (k.event = 'seat_available')
		AND (s.observed_at > now() - make_interval(secs => $4) OR k.created_at > now() - make_interval(secs => $4))
	ELSE s.term IS NOT NULL AND s.not_found_at IS NULL
		AND (s.observed_at > now() - make_interval(secs => $4) OR k.created_at > now() - make_interval(secs => $4))
		AND CASE k.event
			WHEN 'seat_available' THEN s.seat_epoch = k.epoch
				AND (s.open_seats > 0 OR w.notify_reserved AND s.status = 'open' AND s.capacity > s.enrolled)
			WHEN 'instructor_assigned' THEN s.instructor_epoch = k.epoch AND EXISTS (
				SELECT 1 FROM jsonb_array_elements(s.instructors) i WHERE lower(btrim(i->>'name')) NOT IN ('', 'staff'))
			WHEN 'seat_gone' THEN s.seat_epoch = k.epoch AND s.open_seats <= 0
			ELSE false END
	END)`

// unpaused is the condition, on a watch aliased w and its user aliased u,
// that alerts may be claimed and sent for it now: it has not expired, and
// neither it nor all of its user's alerts are paused.
const unpaused = `(w.expired_at IS NULL AND (w.paused_until IS NULL OR w.paused_until <= now())
	AND (u.alerts_paused_until IS NULL OR u.alerts_paused_until <= now()))`

const claimTail = `
	ORDER BY n.id
	LIMIT $2
	FOR UPDATE SKIP LOCKED
), elig AS (
	SELECT k.id, ` + eligibleUser + ` AS ok, ` + stillTrue + ` AS holds
	FROM cand k JOIN users u ON u.id = k.user_id
	LEFT JOIN class_watches w ON w.id = k.watch_id
	LEFT JOIN section_states s ON s.term = k.term AND s.class_nbr = k.class_nbr
), skipped AS (
	UPDATE notifications n SET status = 'skipped', lease_until = NULL,
		last_error = CASE WHEN e.ok THEN 'no longer true when it could be sent' ELSE n.last_error END
	FROM elig e WHERE n.id = e.id AND NOT (e.ok AND e.holds)
), leased AS (
	UPDATE notifications n SET lease_until = now() + make_interval(secs => $3), attempts = n.attempts + 1
	FROM elig e WHERE n.id = e.id AND e.ok AND e.holds
	RETURNING n.id, n.watch_id, n.user_id, n.term, n.class_nbr, n.event, n.epoch, n.attempts, n.created_at, n.sections
)
SELECT l.id, l.watch_id, l.user_id, u.email, l.event, l.epoch, l.attempts, l.created_at,
	l.term, l.class_nbr, w.subject, w.catalog_nbr, w.kind, w.filters, l.sections, ` + stateColumns + `
FROM leased l
JOIN users u ON u.id = l.user_id
JOIN class_watches w ON w.id = l.watch_id
LEFT JOIN section_states s ON s.term = l.term AND s.class_nbr = l.class_nbr
ORDER BY l.id`

const (
	claimPendingSQL = claimHead + `AND (n.term, n.class_nbr) IN (SELECT * FROM unnest($5::text[], $6::text[]))` + claimTail
	claimDueSQL     = claimHead + claimTail
)

// failExhaustedSQL retires pending claims older than MaxSendAge that nobody
// holds.
const failExhaustedSQL = `
UPDATE notifications SET status = 'failed', lease_until = NULL,
	last_error = CASE WHEN last_error = '' THEN 'expired unsent' ELSE 'expired unsent: ' || last_error END
WHERE status = 'pending' AND created_at <= now() - make_interval(secs => $1)
	AND (lease_until IS NULL OR lease_until < now())`

const markSentSQL = `
UPDATE notifications SET status = 'sent', sent_at = now(), message_id = $2, lease_until = NULL
WHERE id = $1 AND status <> 'sent'`

// releaseSQL gives a claim back with a back-off: the lease is kept for $4
// seconds after the first failed attempt, doubling up to $5, so a sweep does
// not hammer a mail server that is down.
const releaseSQL = `
UPDATE notifications SET
	status = CASE WHEN created_at <= now() - make_interval(secs => $3) THEN 'failed' ELSE 'pending' END,
	lease_until = now() + least(make_interval(secs => $5), make_interval(secs => $4) * power(2, least(greatest(attempts, 1), 20) - 1)),
	last_error = $2
WHERE id = $1 AND status = 'pending'`

const markFailedSQL = `
UPDATE notifications SET status = 'failed', lease_until = NULL, last_error = $2
WHERE id = $1 AND status = 'pending'`

const notificationExistsSQL = `SELECT EXISTS (SELECT 1 FROM notifications WHERE id = $1)`

// ClaimPending leases up to limit pending notifications of the given sections
// for lease. A leased notification is not returned again until lease passes
// or it is released; the caller must MarkSent or Release each one.
func (db *DB) ClaimPending(ctx context.Context, sections []catalog.SectionKey, lease time.Duration, limit int) ([]Notification, error) {
	if len(sections) == 0 {
		return nil, nil
	}
	terms := make([]string, len(sections))
	nbrs := make([]string, len(sections))
	for i, k := range sections {
		terms[i], nbrs[i] = k.Term, k.ClassNbr
	}
	ns, err := db.claim(ctx, claimPendingSQL, maxSendAge, limit, lease.Seconds(), maxUnconfirmedAlertAge, terms, nbrs)
	if err != nil {
		return nil, fmt.Errorf("claim pending notifications of %d sections: %w", len(sections), err)
	}
	return ns, nil
}

// ClaimDue is ClaimPending for every section: the periodic sweep that sends
// claims whose first send failed or whose sender died. It also marks failed
// the claims older than MaxSendAge.
func (db *DB) ClaimDue(ctx context.Context, lease time.Duration, limit int) ([]Notification, error) {
	if _, err := db.pool.Exec(ctx, failExhaustedSQL, maxSendAge); err != nil {
		return nil, fmt.Errorf("claim due notifications: fail exhausted: %w", err)
	}
	ns, err := db.claim(ctx, claimDueSQL, maxSendAge, limit, lease.Seconds(), maxUnconfirmedAlertAge)
	if err != nil {
		return nil, fmt.Errorf("claim due notifications: %w", err)
	}
	return ns, nil
}

func (db *DB) claim(ctx context.Context, sql string, args ...any) ([]Notification, error) {
	rows, err := db.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	ns, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Notification, error) {
		var n Notification
		var c claimedWatch
		var st nullableState
		dest := append([]any{&n.ID, &n.WatchID, &n.UserID, &n.Email, &n.Event, &n.Epoch, &n.Attempts, &n.CreatedAt},
			append(c.dest(), st.dest()...)...)
		if err := row.Scan(dest...); err != nil {
			return Notification{}, err
		}
		n.Section, n.OpenSeats, n.Watch, err = c.resolve(&st)
		return n, err
	})
	if err != nil {
		return nil, err
	}
	for i := range ns {
		if err := db.namedSections(ctx, &ns[i].Watch, ns[i].Section.Term); err != nil {
			return nil, err
		}
	}
	return ns, nil
}

// claimedWatch scans what a claim query returns about the claim's watch
// and section: term, class number, subject, catalog number, kind, filter
// and the sections a course or linked alert names.
type claimedWatch struct {
	term, classNbr, subject, catalogNbr string
	kind                                catalog.WatchKind
	filter                              []byte
	sections                            []string
}

func (c *claimedWatch) dest() []any {
	return []any{&c.term, &c.classNbr, &c.subject, &c.catalogNbr, &c.kind, &c.filter, &c.sections}
}

// resolve returns the claim's section (its current state, or its key and
// course when never observed), its open seats and what the watch asks for;
// the named sections are filled in by namedSections.
func (c *claimedWatch) resolve(st *nullableState) (catalog.Section, int, WatchAbout, error) {
	about := WatchAbout{Kind: c.kind}
	if err := json.Unmarshal(c.filter, &about.Filter); err != nil {
		return catalog.Section{}, 0, about, fmt.Errorf("watch filter: %w", err)
	}
	for _, n := range c.sections {
		about.Sections = append(about.Sections, catalog.Section{Term: c.term, ClassNbr: n, Subject: c.subject, CatalogNbr: c.catalogNbr})
	}
	s, err := st.state()
	if err != nil || s == nil {
		return catalog.Section{Term: c.term, ClassNbr: c.classNbr, Subject: c.subject, CatalogNbr: c.catalogNbr}, 0, about, err
	}
	return s.Section, s.OpenSeats, about, nil
}

// namedSections replaces the keys of the sections a course or linked
// alert names with their current states.
func (db *DB) namedSections(ctx context.Context, about *WatchAbout, term string) error {
	if len(about.Sections) == 0 {
		return nil
	}
	nbrs := make([]string, len(about.Sections))
	for i, s := range about.Sections {
		nbrs[i] = s.ClassNbr
	}
	states, err := db.SectionStates(ctx, term, nbrs)
	if err != nil {
		return err
	}
	for i, n := range nbrs {
		if st := states[n]; st != nil {
			about.Sections[i] = st.Section
		}
	}
	return nil
}

// MarkSent records that notification id was sent as messageID. It is final:
// a sent notification is never claimed or released again. Marking it sent
// twice is not an error and keeps the first record.
func (db *DB) MarkSent(ctx context.Context, id int64, messageID string) error {
	return db.updateNotification(ctx, fmt.Sprintf("mark notification %d sent", id), markSentSQL, id, messageID)
}

// Release gives a leased notification back after a failed send, recording
// sendErr, so a later claim retries it after a back-off; once it is older
// than MaxSendAge it is marked failed instead. Releasing a notification that is no longer pending
// (it was sent, skipped or failed) changes nothing.
func (db *DB) Release(ctx context.Context, id int64, sendErr string) error {
	return db.updateNotification(ctx, fmt.Sprintf("release notification %d", id), releaseSQL, id, sendErr, maxSendAge,
		db.retryBase.Seconds(), db.retryMax.Seconds())
}

// MarkFailed gives up on a notification that can never be sent (the mail
// server rejected the address for good); it is not retried.
func (db *DB) MarkFailed(ctx context.Context, id int64, sendErr string) error {
	return db.updateNotification(ctx, fmt.Sprintf("fail notification %d", id), markFailedSQL, id, sendErr)
}

// updateNotification runs a conditional update of a notification.
func (db *DB) updateNotification(ctx context.Context, op, sql string, args ...any) error {
	return db.conditionalUpdate(ctx, notificationExistsSQL, op, sql, args...)
}

// conditionalUpdate runs a conditional update of the row whose id is
// args[0], telling a row that does not exist (ErrNotFound, by existsSQL)
// from one whose status made the update moot.
func (db *DB) conditionalUpdate(ctx context.Context, existsSQL, op, sql string, args ...any) error {
	tag, err := db.pool.Exec(ctx, sql, args...)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if tag.RowsAffected() > 0 {
		return nil
	}
	var exists bool
	if err := db.pool.QueryRow(ctx, existsSQL, args[0]).Scan(&exists); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if !exists {
		return fmt.Errorf("%s: %w", op, ErrNotFound)
	}
	return nil
}
