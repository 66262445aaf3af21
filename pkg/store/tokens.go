package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// One-time token purposes.
const (
	PurposeVerifyEmail   = "verify_email"
	PurposeResetPassword = "reset_password"
)

const (
	// Issuing a token retires the user's earlier ones of the same purpose:
	// only the latest link works.
	retireTokensSQL = `UPDATE one_time_tokens SET used_at = now() WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL`
	createTokenSQL  = `INSERT INTO one_time_tokens (hash, user_id, purpose, expires_at) VALUES ($1, $2, $3, $4)`
	consumeTokenSQL = `
UPDATE one_time_tokens t SET used_at = $3
FROM users u
WHERE t.hash = $1 AND t.purpose = $2 AND t.used_at IS NULL AND t.expires_at > $3
  AND u.id = t.user_id AND u.deleted_at IS NULL
RETURNING t.user_id`
	pruneTokensSQL = `DELETE FROM one_time_tokens WHERE expires_at < $1`
)

// CreateToken stores the hash of a single-use token for purpose, retiring
// the user's earlier tokens of that purpose.
func (db *DB) CreateToken(ctx context.Context, hash []byte, userID int64, purpose string, expires time.Time) error {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, retireTokensSQL, userID, purpose); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, createTokenSQL, hash, userID, purpose, expires)
		return err
	})
	if err != nil {
		return fmt.Errorf("create %s token for user %d: %w", purpose, userID, err)
	}
	return nil
}

// ConsumeToken marks the token with hash used and returns its user. It
// returns ErrNotFound when the token does not exist, has another purpose,
// was used already or has expired at now; the single UPDATE makes two
// concurrent uses impossible.
func (db *DB) ConsumeToken(ctx context.Context, hash []byte, purpose string, now time.Time) (int64, error) {
	var uid int64
	err := db.pool.QueryRow(ctx, consumeTokenSQL, hash, purpose, now).Scan(&uid)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("consume %s token: %w", purpose, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("consume %s token: %w", purpose, err)
	}
	return uid, nil
}

// PruneTokens deletes tokens that expired before before.
func (db *DB) PruneTokens(ctx context.Context, before time.Time) (int64, error) {
	tag, err := db.pool.Exec(ctx, pruneTokensSQL, before)
	if err != nil {
		return 0, fmt.Errorf("prune tokens: %w", err)
	}
	return tag.RowsAffected(), nil
}
