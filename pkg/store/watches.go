package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
)

// DefaultWatchLimit is how many watches a user may have unless configured
// otherwise.
const DefaultWatchLimit = 10

// Watch is a user's subscription to a section, to any section of a course
// that passes a filter, or to a lecture with its labs.
type Watch struct {
	ID     int64
	UserID int64
	Kind   catalog.WatchKind
	Term   string
	// ClassNbr is the section (the lecture of a linked watch); empty for a
	// course watch.
	ClassNbr   string
	Subject    string
	CatalogNbr string
	CreatedAt  time.Time
	// NotFoundAt is set when the section was missing from its course at the
	// last check; such a watch is not checked again until the section shows
	// up in another check of its course.
	NotFoundAt *time.Time
	// NotifyReserved asks for an alert also when only seats reserved for
	// some students open.
	NotifyReserved bool
	// Filter narrows a course watch.
	Filter catalog.Filter
	// NotifyGone asks for one notice when the seats alerted about are
	// taken again.
	NotifyGone bool
	// PausedUntil holds the watch's alerts back until then.
	PausedUntil *time.Time
	// ExpiredAt is when the watch stopped at its enrollment deadline.
	ExpiredAt *time.Time
	// AlertOpen and AlertNbrs are a course or linked watch's last alert:
	// whether it still holds and the sections it named.
	AlertOpen bool
	AlertNbrs []string
}

// Paused reports whether the watch's alerts are held back at now.
func (w Watch) Paused(now time.Time) bool { return w.PausedUntil != nil && w.PausedUntil.After(now) }

// NewWatch is what CreateWatch needs: the section or course, and the
// course, since checks are coalesced by course.
type NewWatch struct {
	// Kind defaults to a section watch.
	Kind       catalog.WatchKind
	Term       string
	ClassNbr   string // empty for a course watch
	Subject    string
	CatalogNbr string
	Filter     catalog.Filter
	// NotifyReserved and NotifyGone are the watch's first settings.
	NotifyReserved bool
	NotifyGone     bool
	// Open is whether a linked watch's lecture and a lab have seats as
	// the caller saw them: it is the watch's baseline, so a combination
	// already open when the watch is made is not announced as new.
	Open bool
}

// WatchView is a watch with the last observed state of its section, for the
// dashboard.
type WatchView struct {
	Watch
	// State is nil until the section has been observed once, and for a
	// course watch.
	State *SectionState
	// Course holds, for a course or linked watch, the stored states of its
	// course's sections that are not missing, by section code.
	Course []*SectionState
}

// Deadline is the last moment the watch can be of use: its section's
// enrollment deadline, or for a course watch the latest of its sections';
// zero when unknown.
func (v WatchView) Deadline() time.Time {
	if v.Kind != catalog.WatchCourse {
		if v.State == nil {
			return time.Time{}
		}
		return v.State.Section.EnrollDeadline
	}
	var d time.Time
	for _, st := range v.Course {
		if st.Section.EnrollDeadline.After(d) {
			d = st.Section.EnrollDeadline
		}
	}
	return d
}

const watchColumns = `w.id, w.user_id, w.kind, w.term, w.class_nbr, w.subject, w.catalog_nbr, w.created_at, w.not_found_at,
	w.notify_reserved, w.filters, w.notify_gone, w.paused_until, w.expired_at, w.alert_open, w.alert_nbrs`

// watchDest scans watchColumns into w; the filter is decoded by decode.
type watchDest struct {
	w      Watch
	filter []byte
}

func (d *watchDest) dest() []any {
	w := &d.w
	return []any{&w.ID, &w.UserID, &w.Kind, &w.Term, &w.ClassNbr, &w.Subject, &w.CatalogNbr, &w.CreatedAt, &w.NotFoundAt,
		&w.NotifyReserved, &d.filter, &w.NotifyGone, &w.PausedUntil, &w.ExpiredAt, &w.AlertOpen, &w.AlertNbrs}
}

func (d *watchDest) decode() (Watch, error) {
	if err := json.Unmarshal(d.filter, &d.w.Filter); err != nil {
		return d.w, fmt.Errorf("filter of watch %d: %w", d.w.ID, err)
	}
	return d.w, nil
}

// lockUserSQL serialises CreateWatch per user: counting and inserting under
// the row lock is what makes the cap hold when requests race.
const lockUserSQL = `SELECT 1 FROM users WHERE id = $1 FOR UPDATE`

// Expired watches do not count toward the limit.
const countWatchesSQL = `SELECT count(*) FROM class_watches WHERE user_id = $1 AND expired_at IS NULL`

// insertWatchSQL adds a watch unless the user has one of the same kind on
// the same section (course, for a course watch); a linked watch starts
// from its caller's view of the combination.
const insertWatchSQL = `
INSERT INTO class_watches AS w (user_id, kind, term, class_nbr, subject, catalog_nbr, filters, notify_reserved, notify_gone, alert_open)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT DO NOTHING
RETURNING ` + watchColumns

// watchSlotSQL counts the live watches and finds one of the same kind on
// the same section or course.
const watchSlotSQL = `
SELECT count(*) FILTER (WHERE expired_at IS NULL),
  bool_or(kind = $2 AND term = $3 AND CASE WHEN $2 = 'course' THEN subject = $5 AND catalog_nbr = $6 ELSE class_nbr = $4 END)
FROM class_watches WHERE user_id = $1`

const deleteWatchSQL = `DELETE FROM class_watches WHERE id = $1 AND user_id = $2`

const listWatchesSQL = `
SELECT ` + watchColumns + `, ` + stateColumns + `
FROM class_watches w
LEFT JOIN section_states s ON s.term = w.term AND s.class_nbr = w.class_nbr AND w.kind <> 'course'
WHERE w.user_id = $1
ORDER BY w.created_at, w.id`

// listCoursesSQL reads the present sections of the courses of a user's
// course and linked watches.
const listCoursesSQL = `
SELECT ` + stateColumns + `
FROM section_states s
WHERE s.not_found_at IS NULL AND (s.term, s.subject, s.catalog_nbr) IN (
	SELECT term, subject, catalog_nbr FROM class_watches WHERE user_id = $1 AND kind <> 'section')
ORDER BY s.term, s.subject, s.catalog_nbr, s.section, s.class_nbr`

// normalize checks a new watch and puts it in canonical form.
func (nw NewWatch) normalize() (NewWatch, error) {
	nw.Term = strings.TrimSpace(nw.Term)
	nw.ClassNbr = strings.TrimSpace(nw.ClassNbr)
	nw.Subject = strings.ToUpper(strings.TrimSpace(nw.Subject))
	nw.CatalogNbr = strings.ToUpper(strings.TrimSpace(nw.CatalogNbr))
	if nw.Kind == "" {
		nw.Kind = catalog.WatchSection
	}
	switch {
	case !nw.Kind.Valid():
		return nw, fmt.Errorf("unknown watch kind %q", nw.Kind)
	case nw.Term == "" || nw.Subject == "" || nw.CatalogNbr == "":
		return nw, errors.New("term, subject and catalog number are required")
	case nw.Kind == catalog.WatchCourse && nw.ClassNbr != "":
		return nw, errors.New("a course watch names no class number")
	case nw.Kind != catalog.WatchCourse && nw.ClassNbr == "":
		return nw, errors.New("class number is required")
	case nw.Kind != catalog.WatchCourse && !nw.Filter.IsZero():
		return nw, errors.New("only a course watch has a filter")
	}
	f, err := nw.Filter.Normalize()
	nw.Filter = f
	return nw, err
}

// CreateWatch subscribes a user to a section, a course or a lecture with
// its labs. It returns ErrConflict when the user already has that watch,
// ErrLimitReached when the user has limit live watches, and ErrNotFound
// when the user does not exist. It does not touch the section's shared
// state: writing a fresh observation here could hide a 0 → N transition
// from the other watchers (the original's defect).
func (db *DB) CreateWatch(ctx context.Context, userID int64, nw NewWatch, limit int) (Watch, error) {
	nw, err := nw.normalize()
	key := nw.Term + ":" + nw.ClassNbr
	if nw.Kind == catalog.WatchCourse {
		key = nw.Term + ":" + nw.Subject + " " + nw.CatalogNbr
	}
	if err != nil {
		return Watch{}, fmt.Errorf("create %s watch %s: %w", nw.Kind, key, err)
	}
	filter, err := json.Marshal(nw.Filter)
	if err != nil {
		return Watch{}, fmt.Errorf("create %s watch %s: %w", nw.Kind, key, err)
	}

	var w Watch
	err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx, lockUserSQL, userID).Scan(&one); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return ErrNotFound
			}
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, countWatchesSQL, userID).Scan(&n); err != nil {
			return err
		}
		if n >= limit {
			return ErrLimitReached
		}
		var d watchDest
		err := tx.QueryRow(ctx, insertWatchSQL, userID, nw.Kind, nw.Term, nw.ClassNbr, nw.Subject, nw.CatalogNbr,
			filter, nw.NotifyReserved, nw.NotifyGone, nw.Kind == catalog.WatchLinked && nw.Open).Scan(d.dest()...)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrConflict
		}
		if err != nil {
			return err
		}
		w, err = d.decode()
		return err
	})
	if err != nil {
		return Watch{}, fmt.Errorf("create %s watch %s for user %d: %w", nw.Kind, key, userID, err)
	}
	return w, nil
}

// WatchSlot reports how many live watches a user has and whether the user
// already has the watch nw would make. It lets a caller refuse a watch that
// CreateWatch would refuse before it spends anything on it; CreateWatch
// still decides, under its lock.
func (db *DB) WatchSlot(ctx context.Context, userID int64, nw NewWatch) (n int, dup bool, err error) {
	if nw.Kind == "" {
		nw.Kind = catalog.WatchSection
	}
	var d *bool
	if err := db.pool.QueryRow(ctx, watchSlotSQL, userID, nw.Kind, strings.TrimSpace(nw.Term), strings.TrimSpace(nw.ClassNbr),
		strings.ToUpper(strings.TrimSpace(nw.Subject)), strings.ToUpper(strings.TrimSpace(nw.CatalogNbr))).Scan(&n, &d); err != nil {
		return 0, false, fmt.Errorf("watch slot of user %d: %w", userID, err)
	}
	return n, d != nil && *d, nil
}

// DeleteWatch removes a user's watch and its notification history. It returns
// ErrNotFound when the watch does not exist or belongs to someone else.
func (db *DB) DeleteWatch(ctx context.Context, userID, watchID int64) error {
	return db.execOne(ctx, fmt.Sprintf("delete watch %d of user %d", watchID, userID), deleteWatchSQL, watchID, userID)
}

// WatchOptions are a watch's settings a user may change; nil leaves one
// as it is.
type WatchOptions struct {
	NotifyReserved *bool
	NotifyGone     *bool
	// Filter replaces a course watch's filter.
	Filter *catalog.Filter
	// PausedUntil pauses the watch's alerts until then; a time not in the
	// future resumes them.
	PausedUntil *time.Time
}

const setWatchOptionsSQL = `
UPDATE class_watches SET notify_reserved = coalesce($3, notify_reserved), notify_gone = coalesce($4, notify_gone),
	filters = coalesce($5, filters),
	paused_until = CASE WHEN $6::timestamptz IS NULL THEN paused_until WHEN $6 > now() THEN $6 ELSE NULL END
WHERE id = $1 AND user_id = $2 AND ($5::jsonb IS NULL OR kind = 'course')`

// SetWatchOptions changes a user's watch. It returns ErrNotFound when the
// watch does not exist, belongs to someone else, or is given a filter but
// is not a course watch.
func (db *DB) SetWatchOptions(ctx context.Context, userID, watchID int64, o WatchOptions) error {
	op := fmt.Sprintf("set options of watch %d of user %d", watchID, userID)
	var filter []byte
	if o.Filter != nil {
		f, err := o.Filter.Normalize()
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		if filter, err = json.Marshal(f); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
	}
	return db.execOne(ctx, op, setWatchOptionsSQL, watchID, userID, o.NotifyReserved, o.NotifyGone, filter, o.PausedUntil)
}

// SetNotifyReserved sets whether a user's watch alerts also when only
// reserved seats open. It returns ErrNotFound when the watch does not exist
// or belongs to someone else.
func (db *DB) SetNotifyReserved(ctx context.Context, userID, watchID int64, on bool) error {
	return db.SetWatchOptions(ctx, userID, watchID, WatchOptions{NotifyReserved: &on})
}

const setAlertsPausedSQL = `
UPDATE users SET alerts_paused_until = CASE WHEN $2::timestamptz > now() THEN $2 ELSE NULL END WHERE id = $1`

// PauseAlerts holds every alert of a user back until then; a time not in
// the future (or nil) resumes them.
func (db *DB) PauseAlerts(ctx context.Context, userID int64, until *time.Time) error {
	return db.execOne(ctx, fmt.Sprintf("pause alerts of user %d", userID), setAlertsPausedSQL, userID, until)
}

// ListWatches returns a user's watches, oldest first, with their sections'
// states (and their courses', for course and linked watches).
func (db *DB) ListWatches(ctx context.Context, userID int64) ([]WatchView, error) {
	rows, err := db.pool.Query(ctx, listWatchesSQL, userID)
	if err != nil {
		return nil, fmt.Errorf("list watches of user %d: %w", userID, err)
	}
	views, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (WatchView, error) {
		var d watchDest
		var st nullableState
		if err := row.Scan(append(d.dest(), st.dest()...)...); err != nil {
			return WatchView{}, err
		}
		w, err := d.decode()
		if err != nil {
			return WatchView{}, err
		}
		v := WatchView{Watch: w}
		v.State, err = st.state()
		return v, err
	})
	if err != nil {
		return nil, fmt.Errorf("list watches of user %d: %w", userID, err)
	}
	if !slices.ContainsFunc(views, func(v WatchView) bool { return v.Kind != catalog.WatchSection }) {
		return views, nil
	}
	rows, err = db.pool.Query(ctx, listCoursesSQL, userID)
	if err != nil {
		return nil, fmt.Errorf("list watched courses of user %d: %w", userID, err)
	}
	states, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*SectionState, error) {
		var st nullableState
		if err := row.Scan(st.dest()...); err != nil {
			return nil, err
		}
		return st.state()
	})
	if err != nil {
		return nil, fmt.Errorf("list watched courses of user %d: %w", userID, err)
	}
	for i := range views {
		v := &views[i]
		if v.Kind == catalog.WatchSection {
			continue
		}
		for _, st := range states {
			if st.Section.Term == v.Term && st.Section.Subject == v.Subject && st.Section.CatalogNbr == v.CatalogNbr {
				v.Course = append(v.Course, st)
			}
		}
	}
	return views, nil
}
