package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
)

// ExpiredWatch is a watch stopped at its enrollment deadline, as the
// summary email tells of it.
type ExpiredWatch struct {
	Kind       catalog.WatchKind
	Term       string
	Subject    string
	CatalogNbr string
	ClassNbr   string // empty for a course watch
	Title      string
	Deadline   time.Time
}

// ExpiryMail writes the summary email telling to of the watches that
// stopped.
type ExpiryMail func(to string, watches []ExpiredWatch) (OutboxMail, error)

// expireWatchesSQL stops every live watch whose deadline is past ($1): a
// section or linked watch's is its section's enrollment deadline, a course
// watch's the latest of its present sections', known only when every one
// of them has one. It returns each with what the summary says and whether
// its user takes email.
const expireWatchesSQL = `
WITH due AS (
	SELECT w.id, d.deadline FROM class_watches w
	CROSS JOIN LATERAL (SELECT CASE WHEN w.kind = 'course' THEN (
			SELECT CASE WHEN bool_and(s.enroll_deadline IS NOT NULL) THEN max(s.enroll_deadline) END
			FROM section_states s
			WHERE s.term = w.term AND s.subject = w.subject AND s.catalog_nbr = w.catalog_nbr AND s.not_found_at IS NULL)
		ELSE (SELECT s.enroll_deadline FROM section_states s WHERE s.term = w.term AND s.class_nbr = w.class_nbr) END AS deadline) d
	WHERE w.expired_at IS NULL AND d.deadline <= $1
	FOR UPDATE OF w SKIP LOCKED
)
UPDATE class_watches w SET expired_at = $1
FROM due, users u
WHERE w.id = due.id AND u.id = w.user_id
RETURNING w.user_id, u.email, ` + eligibleUser + `, w.kind, w.term, w.subject, w.catalog_nbr, w.class_nbr, due.deadline,
	coalesce((SELECT s.title FROM section_states s WHERE s.term = w.term AND s.subject = w.subject AND s.catalog_nbr = w.catalog_nbr
		ORDER BY s.class_nbr = w.class_nbr DESC LIMIT 1), '')`

// expiryMailLife is how long a summary email waits in the outbox at most.
const expiryMailLife = 7 * 24 * time.Hour

// ExpireWatches stops the watches whose enrollment deadline passed by now
// and queues, in the same transaction, one summary email per user who
// takes email, so each user is told once. It returns how many watches
// stopped. Every instance may run it: a watch is stopped once.
func (db *DB) ExpireWatches(ctx context.Context, now time.Time, mail ExpiryMail) (int, error) {
	n := 0
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, expireWatchesSQL, now)
		if err != nil {
			return err
		}
		type userWatches struct {
			email   string
			mail    bool
			watches []ExpiredWatch
		}
		byUser := map[int64]*userWatches{}
		var order []int64
		for rows.Next() {
			var id int64
			var email string
			var ok bool
			var w ExpiredWatch
			if err := rows.Scan(&id, &email, &ok, &w.Kind, &w.Term, &w.Subject, &w.CatalogNbr, &w.ClassNbr, &w.Deadline, &w.Title); err != nil {
				rows.Close()
				return err
			}
			n++
			u := byUser[id]
			if u == nil {
				u = &userWatches{email: email, mail: ok}
				byUser[id] = u
				order = append(order, id)
			}
			u.watches = append(u.watches, w)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, id := range order {
			u := byUser[id]
			if !u.mail {
				continue
			}
			m, err := mail(u.email, u.watches)
			if err != nil {
				return fmt.Errorf("summary for user %d: %w", id, err)
			}
			if m.ExpiresAt.IsZero() {
				m.ExpiresAt = now.Add(expiryMailLife)
			}
			if _, err := tx.Exec(ctx, queueMailSQL, m.To, m.Subject, m.Text, m.HTML, m.ExpiresAt); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("expire watches: %w", err)
	}
	return n, nil
}
