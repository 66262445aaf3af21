package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// promoteAdminSQL promotes a live account; a deleted one stays as it is.
const promoteAdminSQL = `
UPDATE users SET is_admin = true
WHERE email = $1 AND deleted_at IS NULL
RETURNING ` + userColumns

// PromoteAdmin makes the account with email an administrator and returns
// it. Promoting an administrator again is not an error. It returns
// ErrNotFound when no live account has the email, whatever its case.
func (db *DB) PromoteAdmin(ctx context.Context, email string) (User, error) {
	email = NormalizeEmail(email)
	u, err := scanUser(db.pool.QueryRow(ctx, promoteAdminSQL, email))
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return User{}, fmt.Errorf("promote %s to admin: %w", email, ErrNotFound)
		}
		return User{}, fmt.Errorf("promote %s to admin: %w", email, err)
	}
	return u, nil
}
