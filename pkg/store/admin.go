package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
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
