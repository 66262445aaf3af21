package store

// The operator's and the admin pages' queries: promoting an administrator,
// the overview, user search, disabling accounts, watched sections and the
// audit log.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
)

// promoteAdminSQL promotes a live account whose email is confirmed; a
// deleted or unconfirmed one stays as it is.
const promoteAdminSQL = `
UPDATE users SET is_admin = true
WHERE email = $1 AND deleted_at IS NULL AND verified_at IS NOT NULL
RETURNING ` + userColumns

// PromoteAdmin makes the account with email an administrator and returns
// it. Promoting an administrator again is not an error. It returns
// ErrNotFound when no live account has the email, whatever its case, and
// ErrUnverified when the account's email is not confirmed: anyone can
// register any address, so an unconfirmed account proves nothing about who
// holds it.
func (db *DB) PromoteAdmin(ctx context.Context, email string) (User, error) {
	email = NormalizeEmail(email)
	u, err := scanUser(db.pool.QueryRow(ctx, promoteAdminSQL, email))
	if errors.Is(err, pgx.ErrNoRows) {
		if _, gerr := db.GetUserByEmail(ctx, email); gerr == nil {
			return User{}, fmt.Errorf("promote %s to admin: %w", email, ErrUnverified)
		}
		return User{}, fmt.Errorf("promote %s to admin: %w", email, ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("promote %s to admin: %w", email, err)
	}
	return u, nil
}

// Overview is the operator's summary of the accounts and watches.
type Overview struct {
	Users           int
	VerifiedUsers   int
	DisabledUsers   int
	Admins          int
	Watches         int
	Sections        int // distinct watched sections
	EmailsSent      int // since the Since given to AdminOverview
	EmailsFailed    int
	EmailsPending   int
	BouncedUsers    int
	ComplainedUsers int
}

const overviewSQL = `
SELECT
  (SELECT count(*) FROM users WHERE deleted_at IS NULL),
  (SELECT count(*) FROM users WHERE deleted_at IS NULL AND verified_at IS NOT NULL),
  (SELECT count(*) FROM users WHERE deleted_at IS NULL AND disabled_at IS NOT NULL),
  (SELECT count(*) FROM users WHERE deleted_at IS NULL AND is_admin),
  (SELECT count(*) FROM class_watches),
  (SELECT count(*) FROM (SELECT DISTINCT term, class_nbr FROM class_watches) s),
  (SELECT count(*) FROM notifications WHERE status = 'sent' AND sent_at >= $1),
  (SELECT count(*) FROM notifications WHERE status = 'failed' AND created_at >= $1),
  (SELECT count(*) FROM notifications WHERE status = 'pending'),
  (SELECT count(*) FROM users WHERE deleted_at IS NULL AND bounced_at IS NOT NULL),
  (SELECT count(*) FROM users WHERE deleted_at IS NULL AND complained_at IS NOT NULL)`

// AdminOverview counts accounts, watches and the emails sent since since.
func (db *DB) AdminOverview(ctx context.Context, since time.Time) (Overview, error) {
	var o Overview
	err := db.pool.QueryRow(ctx, overviewSQL, since).Scan(&o.Users, &o.VerifiedUsers, &o.DisabledUsers, &o.Admins,
		&o.Watches, &o.Sections, &o.EmailsSent, &o.EmailsFailed, &o.EmailsPending, &o.BouncedUsers, &o.ComplainedUsers)
	if err != nil {
		return Overview{}, fmt.Errorf("admin overview: %w", err)
	}
	return o, nil
}

// UserSummary is an account with its activity counts, for the admin pages.
type UserSummary struct {
	User
	Watches    int
	EmailsSent int
}

const searchUsersSQL = `
SELECT ` + userColumns + `,
  (SELECT count(*) FROM class_watches w WHERE w.user_id = users.id),
  (SELECT count(*) FROM notifications n WHERE n.user_id = users.id AND n.status = 'sent')
FROM users
WHERE deleted_at IS NULL AND email LIKE $1 ESCAPE '\'
ORDER BY created_at DESC, id DESC
LIMIT $2`

// SearchUsers returns up to limit live accounts whose email contains query,
// newest first.
func (db *DB) SearchUsers(ctx context.Context, query string, limit int) ([]UserSummary, error) {
	pattern := "%" + likeEscaper.Replace(NormalizeEmail(query)) + "%"
	rows, err := db.pool.Query(ctx, searchUsersSQL, pattern, limit)
	if err != nil {
		return nil, fmt.Errorf("search users: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (UserSummary, error) {
		var s UserSummary
		err := row.Scan(append(userDest(&s.User), &s.Watches, &s.EmailsSent)...)
		return s, err
	})
	if err != nil {
		return nil, fmt.Errorf("search users: %w", err)
	}
	return out, nil
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

const (
	disableSQL = `UPDATE users SET disabled_at = COALESCE(disabled_at, now()) WHERE id = $1 AND deleted_at IS NULL`
	enableSQL  = `UPDATE users SET disabled_at = NULL WHERE id = $1 AND deleted_at IS NULL`
	endSessSQL = `DELETE FROM sessions WHERE user_id = $1`
)

// SetDisabled disables (ending its sessions) or re-enables a live account.
func (db *DB) SetDisabled(ctx context.Context, id int64, disabled bool) error {
	q := enableSQL
	if disabled {
		q = disableSQL
	}
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, q, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		if disabled {
			_, err = tx.Exec(ctx, endSessSQL, id)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("set user %d disabled=%t: %w", id, disabled, err)
	}
	return nil
}

// WatchedSection is a section at least one user watches, for the admin
// pages.
type WatchedSection struct {
	Key        catalog.SectionKey
	Subject    string
	CatalogNbr string
	Watchers   int
	// State is nil until the section has been observed.
	State *SectionState
}

const watchedSectionsSQL = `
SELECT c.term, c.class_nbr, c.subject, c.catalog_nbr, c.n, ` + stateColumns + `
FROM (SELECT term, class_nbr, min(subject) AS subject, min(catalog_nbr) AS catalog_nbr, count(*) AS n
      FROM class_watches WHERE kind <> 'course' GROUP BY term, class_nbr) c
LEFT JOIN section_states s ON s.term = c.term AND s.class_nbr = c.class_nbr
ORDER BY c.n DESC, c.term DESC, c.class_nbr
LIMIT $1`

// WatchedSections returns up to limit watched sections, most watched first.
func (db *DB) WatchedSections(ctx context.Context, limit int) ([]WatchedSection, error) {
	rows, err := db.pool.Query(ctx, watchedSectionsSQL, limit)
	if err != nil {
		return nil, fmt.Errorf("watched sections: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (WatchedSection, error) {
		var ws WatchedSection
		var st nullableState
		dest := append([]any{&ws.Key.Term, &ws.Key.ClassNbr, &ws.Subject, &ws.CatalogNbr, &ws.Watchers}, st.dest()...)
		if err := row.Scan(dest...); err != nil {
			return WatchedSection{}, err
		}
		var err error
		ws.State, err = st.state()
		return ws, err
	})
	if err != nil {
		return nil, fmt.Errorf("watched sections: %w", err)
	}
	return out, nil
}

// WatchedCourse is a course with course watches, for the admin pages.
type WatchedCourse struct {
	Course catalog.CourseKey
	// Watchers counts its course watches; Live those not expired.
	Watchers, Live int
	// Sections and Open count its present sections and those with seats
	// open to everyone.
	Sections, Open int
}

const watchedCoursesSQL = `
SELECT c.term, c.subject, c.catalog_nbr, c.n, c.live,
	(SELECT count(*) FROM section_states s WHERE s.term = c.term AND s.subject = c.subject AND s.catalog_nbr = c.catalog_nbr AND s.not_found_at IS NULL),
	(SELECT count(*) FROM section_states s WHERE s.term = c.term AND s.subject = c.subject AND s.catalog_nbr = c.catalog_nbr AND s.not_found_at IS NULL AND s.open_seats > 0)
FROM (SELECT term, subject, catalog_nbr, count(*) AS n, count(*) FILTER (WHERE expired_at IS NULL) AS live
      FROM class_watches WHERE kind = 'course' GROUP BY term, subject, catalog_nbr) c
ORDER BY c.n DESC, c.term DESC, c.subject, c.catalog_nbr
LIMIT $1`

// WatchedCourses returns up to limit courses with course watches, most
// watched first.
func (db *DB) WatchedCourses(ctx context.Context, limit int) ([]WatchedCourse, error) {
	rows, err := db.pool.Query(ctx, watchedCoursesSQL, limit)
	if err != nil {
		return nil, fmt.Errorf("watched courses: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (WatchedCourse, error) {
		var c WatchedCourse
		err := row.Scan(&c.Course.Term, &c.Course.Subject, &c.Course.CatalogNbr, &c.Watchers, &c.Live, &c.Sections, &c.Open)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("watched courses: %w", err)
	}
	return out, nil
}

// Watcher is an account watching a section.
type Watcher struct {
	UserID  int64
	Email   string
	WatchID int64
	AddedAt time.Time
	// Notifiable is false when the account would get no email (disabled,
	// notifications off, unsubscribed, bounced or complained).
	Notifiable bool
}

const sectionWatchersSQL = `
SELECT u.id, u.email, w.id, w.created_at, ` + eligibleUser + `
FROM class_watches w JOIN users u ON u.id = w.user_id
WHERE w.term = $1 AND w.class_nbr = $2
ORDER BY w.created_at, w.id`

// SectionWatchers lists every watcher of a section, notifiable or not.
func (db *DB) SectionWatchers(ctx context.Context, key catalog.SectionKey) ([]Watcher, error) {
	rows, err := db.pool.Query(ctx, sectionWatchersSQL, key.Term, key.ClassNbr)
	if err != nil {
		return nil, fmt.Errorf("watchers of %s: %w", key, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Watcher, error) {
		var w Watcher
		err := row.Scan(&w.UserID, &w.Email, &w.WatchID, &w.AddedAt, &w.Notifiable)
		return w, err
	})
	if err != nil {
		return nil, fmt.Errorf("watchers of %s: %w", key, err)
	}
	return out, nil
}

const auditSQL = `INSERT INTO audit_log (actor_id, action, target, details) VALUES ($1, $2, $3, $4)`

// Audit records an action taken by actorID (0 for the system) on target.
func (db *DB) Audit(ctx context.Context, actorID int64, action, target string, details map[string]any) error {
	var actor *int64
	if actorID != 0 {
		actor = &actorID
	}
	if details == nil {
		details = map[string]any{}
	}
	b, err := json.Marshal(details)
	if err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	if _, err := db.pool.Exec(ctx, auditSQL, actor, action, target, b); err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	return nil
}
