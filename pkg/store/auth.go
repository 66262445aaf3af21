package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// NewAccount is what a self-service registration (Register) records: the
// consents are kept with the moment they were given. Nothing a user sends
// can make the account verified or an administrator: it has no such field.
type NewAccount struct {
	Email           string
	PasswordHash    string
	AgeConfirmedAt  time.Time
	TermsAcceptedAt time.Time
}

const getUserByEmailSQL = `SELECT ` + userColumns + ` FROM users WHERE email = $1 AND deleted_at IS NULL`

// GetUserByEmail returns the live account with email, or ErrNotFound.
func (db *DB) GetUserByEmail(ctx context.Context, email string) (User, error) {
	email = NormalizeEmail(email)
	u, err := scanUser(db.pool.QueryRow(ctx, getUserByEmailSQL, email))
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, fmt.Errorf("get user %s: %w", email, ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("get user %s: %w", email, err)
	}
	return u, nil
}

const markVerifiedSQL = `UPDATE users SET verified_at = COALESCE(verified_at, now()) WHERE id = $1`

// MarkVerified records that the user confirmed their email address.
func (db *DB) MarkVerified(ctx context.Context, id int64) error {
	return db.execOne(ctx, fmt.Sprintf("verify user %d", id), markVerifiedSQL, id)
}

const replaceHashSQL = `UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2`

// ReplacePasswordHash stores a new hash of the same password (a higher
// bcrypt cost), unless the password changed meanwhile. Sessions and links
// stand: nothing about who may sign in changed.
func (db *DB) ReplacePasswordHash(ctx context.Context, id int64, old, hash string) error {
	if _, err := db.pool.Exec(ctx, replaceHashSQL, id, old, hash); err != nil {
		return fmt.Errorf("replace password hash of user %d: %w", id, err)
	}
	return nil
}

const (
	setPasswordSQL      = `UPDATE users SET password_hash = $2 WHERE id = $1 AND deleted_at IS NULL`
	endOtherSessionsSQL = `DELETE FROM sessions WHERE user_id = $1 AND id <> $2`
	endResetTokensSQL   = `UPDATE one_time_tokens SET used_at = now() WHERE user_id = $1 AND purpose = 'reset_password' AND used_at IS NULL`
	clearFailuresSQL    = `DELETE FROM login_attempts WHERE email = (SELECT email FROM users WHERE id = $1) AND NOT success`
)

// SetPassword replaces a user's password hash and ends every session except
// keep (nil ends them all) and every outstanding reset link, in one
// transaction: whoever knew the old password or held a session loses access.
// It also lifts every sign-in lockout of the account: failures against the
// old password say nothing about the new one.
func (db *DB) SetPassword(ctx context.Context, id int64, hash string, keep []byte) error {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error { return setPassword(ctx, tx, id, hash, keep) })
	if err != nil {
		return fmt.Errorf("set password of user %d: %w", id, err)
	}
	return nil
}

const queueAccountMailSQL = `
INSERT INTO mail_outbox (to_addr, subject, text_body, html_body, expires_at)
SELECT email, $2, $3, $4, $5 FROM users WHERE id = $1`

// SetPasswordWithNotice is SetPassword that also queues notice to the
// account's address (notice.To is not used), in the same transaction: a
// password never changes without its owner being told.
func (db *DB) SetPasswordWithNotice(ctx context.Context, id int64, hash string, keep []byte, notice OutboxMail) error {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if err := setPassword(ctx, tx, id, hash, keep); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, queueAccountMailSQL, id, notice.Subject, notice.Text, notice.HTML, notice.ExpiresAt)
		return err
	})
	if err != nil {
		return fmt.Errorf("set password of user %d: %w", id, err)
	}
	return nil
}

func setPassword(ctx context.Context, tx pgx.Tx, id int64, hash string, keep []byte) error {
	tag, err := tx.Exec(ctx, setPasswordSQL, id, hash)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	if keep == nil {
		keep = []byte{}
	}
	if _, err := tx.Exec(ctx, endOtherSessionsSQL, id, keep); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, endResetTokensSQL, id); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, clearFailuresSQL, id)
	return err
}

const (
	// lockAttemptsSQL serializes the reservations of one (email, client)
	// pair: the count below and the insert that follows it are one step.
	lockAttemptsSQL = `SELECT pg_advisory_xact_lock(hashtextextended($1 || ' ' || $2, 0))`
	// recentFailuresSQL lists the pair's newest failures (at most $4)
	// within the window and since the pair's last success. A reservation
	// not yet marked successful counts as a failure: it may become one.
	recentFailuresSQL = `
SELECT COALESCE((array_agg(at ORDER BY at DESC))[1:$4], '{}')
FROM login_attempts
WHERE email = $1 AND ip = $2 AND NOT success AND at > $3
  AND at > COALESCE((SELECT max(at) FROM login_attempts WHERE email = $1 AND ip = $2 AND success), '-infinity')`
	reserveAttemptSQL  = `INSERT INTO login_attempts (email, ip, at, success) VALUES ($1, $2, $3, false) RETURNING id`
	attemptSucceedsSQL = `UPDATE login_attempts SET success = true WHERE id = $1`
	pruneAttemptsSQL   = `DELETE FROM login_attempts WHERE at < $1`
)

// LoginReservation is the outcome of ReserveLoginAttempt.
type LoginReservation struct {
	// ID is the reserved attempt, recorded as a failure until
	// LoginSucceeded; 0 when the pair is locked and nothing was reserved.
	ID int64
	// LockedUntil is when the pair may try again: set when nothing was
	// reserved, and when this attempt, should it fail, is the one that
	// locks the pair.
	LockedUntil time.Time
}

// ReserveLoginAttempt reserves one password check for email from the
// client ip, before the password is compared: it records the attempt as a
// failure unless the pair already has maxFailures failures within window
// before now and since its last success. Reservations of one pair are
// serialized, so however many requests race, at most maxFailures passwords
// are compared per window. Lockout is per (email, client): a stranger
// failing from elsewhere does not lock the account's owner out. The email
// need not belong to an account: lockout must not reveal which emails do.
func (db *DB) ReserveLoginAttempt(ctx context.Context, email, ip string, now time.Time, window time.Duration, maxFailures int) (LoginReservation, error) {
	email = NormalizeEmail(email)
	var r LoginReservation
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, lockAttemptsSQL, email, ip); err != nil {
			return err
		}
		var newest []time.Time
		if err := tx.QueryRow(ctx, recentFailuresSQL, email, ip, now.Add(-window), maxFailures).Scan(&newest); err != nil {
			return err
		}
		// The pair is locked until its maxFailures-th newest failure leaves
		// the window.
		if len(newest) >= maxFailures {
			r.LockedUntil = newest[maxFailures-1].Add(window)
			return nil
		}
		if err := tx.QueryRow(ctx, reserveAttemptSQL, email, ip, now).Scan(&r.ID); err != nil {
			return err
		}
		if newest = append([]time.Time{now}, newest...); len(newest) >= maxFailures {
			r.LockedUntil = newest[maxFailures-1].Add(window)
		}
		return nil
	})
	if err != nil {
		return LoginReservation{}, fmt.Errorf("reserve login attempt for %s: %w", email, err)
	}
	return r, nil
}

// LoginSucceeded records that the reserved attempt id had the right
// password, which starts its (email, client) pair afresh.
func (db *DB) LoginSucceeded(ctx context.Context, id int64) error {
	return db.execOne(ctx, fmt.Sprintf("record successful login attempt %d", id), attemptSucceedsSQL, id)
}

// PruneLoginAttempts deletes attempts older than before.
func (db *DB) PruneLoginAttempts(ctx context.Context, before time.Time) (int64, error) {
	tag, err := db.pool.Exec(ctx, pruneAttemptsSQL, before)
	if err != nil {
		return 0, fmt.Errorf("prune login attempts: %w", err)
	}
	return tag.RowsAffected(), nil
}

const (
	deleteAccountSQL = `
UPDATE users SET deleted_at = COALESCE(deleted_at, now()), notify_email = false
WHERE id = $1 AND deleted_at IS NULL`
	deleteAccountWatchesSQL  = `DELETE FROM class_watches WHERE user_id = $1`
	deleteAccountSessionsSQL = `DELETE FROM sessions WHERE user_id = $1`
	deleteAccountTokensSQL   = `DELETE FROM one_time_tokens WHERE user_id = $1`
	deleteAccountChannelsSQL = `DELETE FROM channels WHERE user_id = $1`
	purgeDeletedSQL          = `DELETE FROM users WHERE deleted_at IS NOT NULL AND deleted_at < $1`
)

// DeleteAccount closes an account at once: its watches (and so their
// checks and notification history), alert channels, sessions and tokens are deleted in one
// transaction, and the account row is kept, marked deleted, until
// PurgeDeletedAccounts removes it.
func (db *DB) DeleteAccount(ctx context.Context, id int64) error {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, deleteAccountSQL, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		for _, q := range []string{deleteAccountWatchesSQL, deleteAccountSessionsSQL, deleteAccountTokensSQL, deleteAccountChannelsSQL} {
			if _, err := tx.Exec(ctx, q, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete account %d: %w", id, err)
	}
	return nil
}

// PurgeDeletedAccounts removes accounts deleted before before, with
// everything that references them.
func (db *DB) PurgeDeletedAccounts(ctx context.Context, before time.Time) (int64, error) {
	tag, err := db.pool.Exec(ctx, purgeDeletedSQL, before)
	if err != nil {
		return 0, fmt.Errorf("purge deleted accounts: %w", err)
	}
	return tag.RowsAffected(), nil
}

const setNotificationsSQL = `
UPDATE users SET notify_email = $2,
  unsubscribed_at = CASE WHEN $2 THEN NULL ELSE unsubscribed_at END
WHERE id = $1 AND deleted_at IS NULL`

// SetNotifications turns a user's alert emails on or off. Turning them on
// also lifts an earlier unsubscribe, which is how a user who clicked the
// email link opts back in; a hard bounce or complaint stays in force.
func (db *DB) SetNotifications(ctx context.Context, id int64, on bool) error {
	return db.execOne(ctx, fmt.Sprintf("set notifications of user %d", id), setNotificationsSQL, id, on)
}
