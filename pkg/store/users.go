package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// User is an account.
type User struct {
	ID             int64
	Email          string
	PasswordHash   string
	VerifiedAt     *time.Time
	IsAdmin        bool
	DisabledAt     *time.Time
	DeletedAt      *time.Time
	NotifyEmail    bool
	UnsubscribedAt *time.Time
	BouncedAt      *time.Time
	ComplainedAt   *time.Time
	CreatedAt      time.Time
	// AlertsPausedUntil holds every alert back until then (PauseAlerts).
	AlertsPausedUntil *time.Time
}

// AlertsPaused reports whether the user's alerts are held back at now.
func (u User) AlertsPaused(now time.Time) bool {
	return u.AlertsPausedUntil != nil && u.AlertsPausedUntil.After(now)
}

// NewUser is what CreateUser needs: an account set up by the operator (ops
// admin create), the demo seed or a test, which may be verified or an
// administrator from the start. Self-service registration uses Register,
// which can be neither.
type NewUser struct {
	Email        string
	PasswordHash string
	// Verified marks the email as already confirmed (seeding, tests, admins).
	Verified bool
	IsAdmin  bool
}

// NormalizeEmail returns the form emails are stored and looked up in.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

const userColumns = `id, email, password_hash, verified_at, is_admin, disabled_at, deleted_at,
	notify_email, unsubscribed_at, bounced_at, complained_at, created_at, alerts_paused_until`

// insertUserSQL is the operator's insert of an account (CreateUser);
// self-service registration is registerSQL.
const insertUserSQL = `
INSERT INTO users (email, password_hash, verified_at, is_admin)
VALUES ($1, $2, CASE WHEN $3 THEN now() END, $4)
RETURNING ` + userColumns

const getUserSQL = `SELECT ` + userColumns + ` FROM users WHERE id = $1`

func scanUser(row pgx.Row) (User, error) {
	var u User
	err := row.Scan(userDest(&u)...)
	return u, err
}

// userDest is where the userColumns of one row scan into.
func userDest(u *User) []any {
	return []any{&u.ID, &u.Email, &u.PasswordHash, &u.VerifiedAt, &u.IsAdmin, &u.DisabledAt,
		&u.DeletedAt, &u.NotifyEmail, &u.UnsubscribedAt, &u.BouncedAt, &u.ComplainedAt, &u.CreatedAt, &u.AlertsPausedUntil}
}

// CreateUser inserts an account. It returns ErrConflict when the email is
// taken, whatever its case.
func (db *DB) CreateUser(ctx context.Context, nu NewUser) (User, error) {
	email := NormalizeEmail(nu.Email)
	u, err := scanUser(db.pool.QueryRow(ctx, insertUserSQL, email, nu.PasswordHash, nu.Verified, nu.IsAdmin))
	if isUniqueViolation(err) {
		return User{}, fmt.Errorf("create user %s: %w", email, ErrConflict)
	}
	if err != nil {
		return User{}, fmt.Errorf("create user %s: %w", email, err)
	}
	return u, nil
}

// GetUser returns the account with id, or ErrNotFound.
func (db *DB) GetUser(ctx context.Context, id int64) (User, error) {
	u, err := scanUser(db.pool.QueryRow(ctx, getUserSQL, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, fmt.Errorf("get user %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("get user %d: %w", id, err)
	}
	return u, nil
}

// The flag setters keep the first timestamp: the moment an account first
// unsubscribed or bounced is what an operator wants to see.
const (
	markUnsubscribedSQL = `UPDATE users SET unsubscribed_at = COALESCE(unsubscribed_at, now()) WHERE id = $1`
	markBouncedSQL      = `UPDATE users SET bounced_at = COALESCE(bounced_at, now()) WHERE email = $1`
	markComplainedSQL   = `UPDATE users SET complained_at = COALESCE(complained_at, now()) WHERE email = $1`
)

// MarkUnsubscribed records that a user unsubscribed from every email.
func (db *DB) MarkUnsubscribed(ctx context.Context, id int64) error {
	return db.execOne(ctx, fmt.Sprintf("unsubscribe user %d", id), markUnsubscribedSQL, id)
}

// MarkBounced records a hard bounce for the account with email.
func (db *DB) MarkBounced(ctx context.Context, email string) error {
	email = NormalizeEmail(email)
	return db.execOne(ctx, "mark bounced "+email, markBouncedSQL, email)
}

// MarkComplained records a spam complaint for the account with email.
func (db *DB) MarkComplained(ctx context.Context, email string) error {
	email = NormalizeEmail(email)
	return db.execOne(ctx, "mark complained "+email, markComplainedSQL, email)
}

// execOne runs a statement that must touch a row, returning ErrNotFound when
// it touches none.
func (db *DB) execOne(ctx context.Context, op, sql string, args ...any) error {
	tag, err := db.pool.Exec(ctx, sql, args...)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%s: %w", op, ErrNotFound)
	}
	return nil
}
