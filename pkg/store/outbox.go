package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// OutboxMail is an account email waiting in the outbox.
type OutboxMail struct {
	To      string
	Subject string
	Text    string
	HTML    string
	// ExpiresAt is when the mail is dropped unsent: the link it carries
	// no longer works.
	ExpiresAt time.Time
}

// QueuedMail is a claimed outbox mail.
type QueuedMail struct {
	ID int64
	OutboxMail
	// Attempts counts the claims so far, this one included.
	Attempts int
}

const (
	queueMailSQL = `
INSERT INTO mail_outbox (to_addr, subject, text_body, html_body, expires_at)
VALUES ($1, $2, $3, $4, $5)`
	// requestResetSQL is the whole of a password-reset request, one
	// statement whether or not an account has the email: retire the
	// account's earlier reset links, store the new one and queue its mail.
	// The work differs only inside the database, by a few row writes.
	requestResetSQL = `
WITH u AS (SELECT id FROM users WHERE email = $1 AND deleted_at IS NULL),
retired AS (
  UPDATE one_time_tokens SET used_at = now()
  WHERE user_id IN (SELECT id FROM u) AND purpose = 'reset_password' AND used_at IS NULL),
token AS (
  INSERT INTO one_time_tokens (hash, user_id, purpose, expires_at)
  SELECT $2, id, 'reset_password', $3 FROM u)
INSERT INTO mail_outbox (to_addr, subject, text_body, html_body, expires_at)
SELECT $1, $4, $5, $6, $3 FROM u`
	// registerSQL is the whole of a registration, one statement whether or
	// not a live account has the email: create the account with its
	// verification token and queue the welcome mail, or queue the mail
	// telling the owner that someone tried to register their address.
	registerSQL = `
WITH ins AS (
  INSERT INTO users (email, password_hash, age_confirmed_at, accepted_terms_at)
  VALUES ($1, $2, $3, $4)
  ON CONFLICT (email) WHERE deleted_at IS NULL DO NOTHING
  RETURNING id),
token AS (
  INSERT INTO one_time_tokens (hash, user_id, purpose, expires_at)
  SELECT $5, id, 'verify_email', $6 FROM ins)
INSERT INTO mail_outbox (to_addr, subject, text_body, html_body, expires_at)
SELECT $1, $7, $8, $9, $6 FROM ins
UNION ALL
SELECT $1, $10, $11, $12, $13 WHERE NOT EXISTS (SELECT 1 FROM ins)`
	claimMailSQL = `
UPDATE mail_outbox SET lease_until = $2, attempts = attempts + 1
WHERE id IN (
  SELECT id FROM mail_outbox
  WHERE next_attempt_at <= $1 AND expires_at > $1 AND (lease_until IS NULL OR lease_until <= $1)
  ORDER BY next_attempt_at
  LIMIT $3
  FOR UPDATE SKIP LOCKED)
RETURNING id, to_addr, subject, text_body, html_body, expires_at, attempts`
	mailSentSQL       = `DELETE FROM mail_outbox WHERE id = $1`
	mailRetrySQL      = `UPDATE mail_outbox SET lease_until = NULL, next_attempt_at = $2, last_error = $3 WHERE id = $1`
	pruneExpiredMail  = `DELETE FROM mail_outbox WHERE expires_at <= $1`
	maxMailErrorBytes = 500
)

// QueueMail adds m to the outbox.
func (db *DB) QueueMail(ctx context.Context, m OutboxMail) error {
	if _, err := db.pool.Exec(ctx, queueMailSQL, m.To, m.Subject, m.Text, m.HTML, m.ExpiresAt); err != nil {
		return fmt.Errorf("queue mail %q: %w", m.Subject, err)
	}
	return nil
}

// IssueTokenMail stores a single-use token for purpose (retiring the
// user's earlier ones, as CreateToken does) and queues m, which carries
// it, in one transaction: the mail goes out only with a token that works.
func (db *DB) IssueTokenMail(ctx context.Context, hash []byte, userID int64, purpose string, m OutboxMail) error {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, retireTokensSQL, userID, purpose); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, createTokenSQL, hash, userID, purpose, m.ExpiresAt); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, queueMailSQL, m.To, m.Subject, m.Text, m.HTML, m.ExpiresAt)
		return err
	})
	if err != nil {
		return fmt.Errorf("issue %s mail for user %d: %w", purpose, userID, err)
	}
	return nil
}

// RequestPasswordReset stores the reset token hash for the live account
// with email, valid until m.ExpiresAt, and queues m (addressed to email)
// in one statement; when no live account has the email it does nothing.
// The caller cannot tell which happened, by result or by time: forgotten
// password requests must not reveal which emails have accounts.
func (db *DB) RequestPasswordReset(ctx context.Context, email string, hash []byte, m OutboxMail) error {
	email = NormalizeEmail(email)
	if _, err := db.pool.Exec(ctx, requestResetSQL, email, hash, m.ExpiresAt, m.Subject, m.Text, m.HTML); err != nil {
		return fmt.Errorf("request password reset: %w", err)
	}
	return nil
}

// Register creates the unverified, non-admin account na with the email
// verification token hash (valid until welcome.ExpiresAt) and queues
// welcome, which carries it; when a live account already has the email it
// queues existing to that address instead. Both mails go to the account's
// email (their To is not used). The caller cannot tell which happened, by
// result or by time: registration must not reveal which emails have
// accounts.
func (db *DB) Register(ctx context.Context, na NewAccount, hash []byte, welcome, existing OutboxMail) error {
	email := NormalizeEmail(na.Email)
	_, err := db.pool.Exec(ctx, registerSQL, email, na.PasswordHash, na.AgeConfirmedAt, na.TermsAcceptedAt,
		hash, welcome.ExpiresAt, welcome.Subject, welcome.Text, welcome.HTML,
		existing.Subject, existing.Text, existing.HTML, existing.ExpiresAt)
	if err != nil {
		return fmt.Errorf("register %s: %w", email, err)
	}
	return nil
}

// ClaimMail leases up to limit due outbox mails until leaseUntil, oldest
// due first; mail another sender holds, or that expired, is skipped.
func (db *DB) ClaimMail(ctx context.Context, now, leaseUntil time.Time, limit int) ([]QueuedMail, error) {
	rows, err := db.pool.Query(ctx, claimMailSQL, now, leaseUntil, limit)
	if err != nil {
		return nil, fmt.Errorf("claim mail: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (QueuedMail, error) {
		var m QueuedMail
		err := r.Scan(&m.ID, &m.To, &m.Subject, &m.Text, &m.HTML, &m.ExpiresAt, &m.Attempts)
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("claim mail: %w", err)
	}
	return out, nil
}

// MailDone removes a claimed mail from the outbox: it was sent, or it
// never will be.
func (db *DB) MailDone(ctx context.Context, id int64) error {
	if _, err := db.pool.Exec(ctx, mailSentSQL, id); err != nil {
		return fmt.Errorf("remove mail %d: %w", id, err)
	}
	return nil
}

// RetryMail releases a claimed mail whose send failed with cause, to be
// tried again at next.
func (db *DB) RetryMail(ctx context.Context, id int64, next time.Time, cause string) error {
	if len(cause) > maxMailErrorBytes {
		cause = strings.ToValidUTF8(cause[:maxMailErrorBytes], "")
	}
	if _, err := db.pool.Exec(ctx, mailRetrySQL, id, next, cause); err != nil {
		return fmt.Errorf("release mail %d: %w", id, err)
	}
	return nil
}

// PruneExpiredMail deletes outbox mail that expired unsent by now.
func (db *DB) PruneExpiredMail(ctx context.Context, now time.Time) (int64, error) {
	tag, err := db.pool.Exec(ctx, pruneExpiredMail, now)
	if err != nil {
		return 0, fmt.Errorf("prune expired mail: %w", err)
	}
	return tag.RowsAffected(), nil
}
