package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
)

// DefaultWatchLimit is how many watches a user may have unless configured
// otherwise.
const DefaultWatchLimit = 10

// Watch is a user's subscription to one section.
type Watch struct {
	ID         int64
	UserID     int64
	Term       string
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
}

// NewWatch is what CreateWatch needs: the section and the course it belongs
// to, since checks are coalesced by course.
type NewWatch struct {
	Term       string
	ClassNbr   string
	Subject    string
	CatalogNbr string
}

// WatchView is a watch with the last observed state of its section, for the
// dashboard.
type WatchView struct {
	Watch
	// State is nil until the section has been observed once.
	State *SectionState
}

const watchColumns = `w.id, w.user_id, w.term, w.class_nbr, w.subject, w.catalog_nbr, w.created_at, w.not_found_at, w.notify_reserved`

// lockUserSQL serialises CreateWatch per user: counting and inserting under
// the row lock is what makes the cap hold when requests race.
const lockUserSQL = `SELECT 1 FROM users WHERE id = $1 FOR UPDATE`

const countWatchesSQL = `SELECT count(*) FROM class_watches WHERE user_id = $1`

const insertWatchSQL = `
INSERT INTO class_watches AS w (user_id, term, class_nbr, subject, catalog_nbr)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (user_id, term, class_nbr) DO NOTHING
RETURNING ` + watchColumns

const watchSlotSQL = `
SELECT count(*),
  max(subject) FILTER (WHERE term = $2 AND class_nbr = $3),
  max(catalog_nbr) FILTER (WHERE term = $2 AND class_nbr = $3)
FROM class_watches WHERE user_id = $1`

const setNotifyReservedSQL = `UPDATE class_watches SET notify_reserved = $3 WHERE id = $1 AND user_id = $2`

const deleteWatchSQL = `DELETE FROM class_watches WHERE id = $1 AND user_id = $2`

const listWatchesSQL = `
SELECT ` + watchColumns + `, ` + stateColumns + `
FROM class_watches w
LEFT JOIN section_states s ON s.term = w.term AND s.class_nbr = w.class_nbr
WHERE w.user_id = $1
ORDER BY w.created_at, w.id`

// CreateWatch subscribes a user to a section. It returns ErrConflict when the
// user already watches it, ErrLimitReached when the user has limit watches,
// and ErrNotFound when the user does not exist. It does not touch the
// section's shared state: writing a fresh observation here could hide a
// 0 → N transition from the other watchers (the original's defect).
func (db *DB) CreateWatch(ctx context.Context, userID int64, nw NewWatch, limit int) (Watch, error) {
	nw.Term = strings.TrimSpace(nw.Term)
	nw.ClassNbr = strings.TrimSpace(nw.ClassNbr)
	nw.Subject = strings.ToUpper(strings.TrimSpace(nw.Subject))
	nw.CatalogNbr = strings.ToUpper(strings.TrimSpace(nw.CatalogNbr))
	key := nw.Term + ":" + nw.ClassNbr
	if nw.Term == "" || nw.ClassNbr == "" || nw.Subject == "" || nw.CatalogNbr == "" {
		return Watch{}, fmt.Errorf("create watch %s: term, class number, subject and catalog number are required", key)
	}

	var w Watch
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
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
		var err error
		w, err = scanWatch(tx.QueryRow(ctx, insertWatchSQL, userID, nw.Term, nw.ClassNbr, nw.Subject, nw.CatalogNbr))
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrConflict
		}
		return err
	})
	if err != nil {
		return Watch{}, fmt.Errorf("create watch %s for user %d: %w", key, userID, err)
	}
	return w, nil
}

// WatchSlot reports how many watches a user has and, when the user already
// watches the section (term, classNbr), its course. It lets a caller refuse
// a watch that CreateWatch would refuse before it spends anything on it;
// CreateWatch still decides, under its lock.
func (db *DB) WatchSlot(ctx context.Context, userID int64, term, classNbr string) (int, *catalog.CourseKey, error) {
	var n int
	var subject, catalogNbr *string
	if err := db.pool.QueryRow(ctx, watchSlotSQL, userID, term, classNbr).Scan(&n, &subject, &catalogNbr); err != nil {
		return 0, nil, fmt.Errorf("watch slot of user %d: %w", userID, err)
	}
	if subject == nil || catalogNbr == nil {
		return n, nil, nil
	}
	return n, &catalog.CourseKey{Term: term, Subject: *subject, CatalogNbr: *catalogNbr}, nil
}

// DeleteWatch removes a user's watch and its notification history. It returns
// ErrNotFound when the watch does not exist or belongs to someone else.
func (db *DB) DeleteWatch(ctx context.Context, userID, watchID int64) error {
	return db.execOne(ctx, fmt.Sprintf("delete watch %d of user %d", watchID, userID), deleteWatchSQL, watchID, userID)
}

// SetNotifyReserved sets whether a user's watch alerts also when only
// reserved seats open. It returns ErrNotFound when the watch does not exist
// or belongs to someone else.
func (db *DB) SetNotifyReserved(ctx context.Context, userID, watchID int64, on bool) error {
	return db.execOne(ctx, fmt.Sprintf("set reserved alerts of watch %d of user %d", watchID, userID), setNotifyReservedSQL, watchID, userID, on)
}

// ListWatches returns a user's watches, oldest first, with their sections'
// states.
func (db *DB) ListWatches(ctx context.Context, userID int64) ([]WatchView, error) {
	rows, err := db.pool.Query(ctx, listWatchesSQL, userID)
	if err != nil {
		return nil, fmt.Errorf("list watches of user %d: %w", userID, err)
	}
	views, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (WatchView, error) {
		var v WatchView
		var st nullableState
		dest := append([]any{&v.ID, &v.UserID, &v.Term, &v.ClassNbr, &v.Subject, &v.CatalogNbr, &v.CreatedAt, &v.NotFoundAt, &v.NotifyReserved}, st.dest()...)
		if err := row.Scan(dest...); err != nil {
			return WatchView{}, err
		}
		var err error
		v.State, err = st.state()
		return v, err
	})
	if err != nil {
		return nil, fmt.Errorf("list watches of user %d: %w", userID, err)
	}
	return views, nil
}

func scanWatch(row pgx.Row) (Watch, error) {
	var w Watch
	err := row.Scan(&w.ID, &w.UserID, &w.Term, &w.ClassNbr, &w.Subject, &w.CatalogNbr, &w.CreatedAt, &w.NotFoundAt, &w.NotifyReserved)
	return w, err
}
