package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// NewSession is a session to store. ID is the hash of the secret the
// browser holds, never the secret itself.
type NewSession struct {
	ID        []byte
	UserID    int64
	ExpiresAt time.Time
	UserAgent string
	IP        string
}

// MaxSessionAge is a session's absolute lifetime: however much it is used,
// it ends this long after sign-in, and its holder signs in again.
const MaxSessionAge = 90 * 24 * time.Hour

// maxSessionAge is MaxSessionAge in seconds, as the queries take it.
var maxSessionAge = MaxSessionAge.Seconds()

const (
	createSessionSQL = `INSERT INTO sessions (id, user_id, expires_at, user_agent, ip) VALUES ($1, $2, $3, $4, $5)`
	// sessionUserSQL only finds sessions of live, enabled accounts, so
	// disabling or deleting an account ends its sessions at once.
	sessionUserSQL = `
SELECT s.created_at, s.last_seen_at, ` + userColumnsU + `
FROM sessions s JOIN users u ON u.id = s.user_id
WHERE s.id = $1 AND s.expires_at > $2 AND s.created_at > $2 - make_interval(secs => $3)
  AND u.disabled_at IS NULL AND u.deleted_at IS NULL`
	// touchSessionSQL slides the expiry, never past the absolute lifetime.
	touchSessionSQL = `
UPDATE sessions SET last_seen_at = $2,
  expires_at = LEAST(GREATEST(expires_at, $3), created_at + make_interval(secs => $4))
WHERE id = $1`
	listSessionsSQL = `
SELECT handle, created_at, last_seen_at, expires_at, user_agent, ip, id = $3
FROM sessions
WHERE user_id = $1 AND expires_at > $2 AND created_at > $2 - make_interval(secs => $4)
ORDER BY last_seen_at DESC, handle DESC`
	revokeSessionSQL     = `DELETE FROM sessions WHERE user_id = $1 AND handle = $2`
	deleteSessionSQL     = `DELETE FROM sessions WHERE id = $1`
	deleteUserSessionSQL = `DELETE FROM sessions WHERE user_id = $1`
	pruneSessionsSQL     = `DELETE FROM sessions WHERE expires_at < $1`
)

// userColumnsU is userColumns qualified by the alias u, for joins.
const userColumnsU = `u.id, u.email, u.password_hash, u.verified_at, u.is_admin, u.disabled_at, u.deleted_at,
	u.notify_email, u.unsubscribed_at, u.bounced_at, u.complained_at, u.created_at, u.alerts_paused_until`

// CreateSession stores a session.
func (db *DB) CreateSession(ctx context.Context, s NewSession) error {
	if _, err := db.pool.Exec(ctx, createSessionSQL, s.ID, s.UserID, s.ExpiresAt, s.UserAgent, s.IP); err != nil {
		return fmt.Errorf("create session for user %d: %w", s.UserID, err)
	}
	return nil
}

// ActiveSession is an unexpired session of a live, enabled account.
type ActiveSession struct {
	User User
	// CreatedAt is when the user signed in.
	CreatedAt time.Time
	// LastSeenAt is when TouchSession (or sign-in) last recorded activity.
	LastSeenAt time.Time
}

// Session returns the unexpired session id, or ErrNotFound (also when the
// account is disabled or deleted, or the session is older than
// MaxSessionAge).
func (db *DB) Session(ctx context.Context, id []byte, now time.Time) (ActiveSession, error) {
	var s ActiveSession
	dest := append([]any{&s.CreatedAt, &s.LastSeenAt}, userDest(&s.User)...)
	err := db.pool.QueryRow(ctx, sessionUserSQL, id, now, maxSessionAge).Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return ActiveSession{}, fmt.Errorf("session: %w", ErrNotFound)
	}
	if err != nil {
		return ActiveSession{}, fmt.Errorf("session: %w", err)
	}
	return s, nil
}

// TouchSession records activity on a session and extends its expiry to at
// least expires (a sliding expiry), but never past MaxSessionAge after
// sign-in.
func (db *DB) TouchSession(ctx context.Context, id []byte, now, expires time.Time) error {
	if _, err := db.pool.Exec(ctx, touchSessionSQL, id, now, expires, maxSessionAge); err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return nil
}

// SessionInfo is one of a user's sessions, as the user may see it.
type SessionInfo struct {
	// Handle names the session to its user; the session's id never leaves
	// the server.
	Handle     int64
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
	UserAgent  string
	IP         string
	// Current is the session the list was asked from.
	Current bool
}

// ListSessions returns a user's live sessions at now, most recently used
// first; current (a session id) is marked.
func (db *DB) ListSessions(ctx context.Context, userID int64, current []byte, now time.Time) ([]SessionInfo, error) {
	rows, err := db.pool.Query(ctx, listSessionsSQL, userID, now, current, maxSessionAge)
	if err != nil {
		return nil, fmt.Errorf("list sessions of user %d: %w", userID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (SessionInfo, error) {
		var s SessionInfo
		err := r.Scan(&s.Handle, &s.CreatedAt, &s.LastSeenAt, &s.ExpiresAt, &s.UserAgent, &s.IP, &s.Current)
		return s, err
	})
	if err != nil {
		return nil, fmt.Errorf("list sessions of user %d: %w", userID, err)
	}
	return out, nil
}

// RevokeSession ends the user's session with handle; ErrNotFound when the
// user has none with it.
func (db *DB) RevokeSession(ctx context.Context, userID, handle int64) error {
	return db.execOne(ctx, fmt.Sprintf("revoke session %d of user %d", handle, userID), revokeSessionSQL, userID, handle)
}

// DeleteSession ends one session; ending one that does not exist is not an
// error.
func (db *DB) DeleteSession(ctx context.Context, id []byte) error {
	if _, err := db.pool.Exec(ctx, deleteSessionSQL, id); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteUserSessions ends every session of a user.
func (db *DB) DeleteUserSessions(ctx context.Context, userID int64) error {
	if _, err := db.pool.Exec(ctx, deleteUserSessionSQL, userID); err != nil {
		return fmt.Errorf("delete sessions of user %d: %w", userID, err)
	}
	return nil
}

// PruneSessions deletes sessions that expired before before.
func (db *DB) PruneSessions(ctx context.Context, before time.Time) (int64, error) {
	tag, err := db.pool.Exec(ctx, pruneSessionsSQL, before)
	if err != nil {
		return 0, fmt.Errorf("prune sessions: %w", err)
	}
	return tag.RowsAffected(), nil
}
