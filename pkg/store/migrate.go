package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"

	// The pgx driver for database/sql, which goose needs.
	_ "github.com/jackc/pgx/v5/stdlib"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrateLockID is the advisory lock key that serialises migration runs on a
// database. It is an arbitrary constant shared by every process.
const migrateLockID int64 = 0x706d635f6d6967 // "pmc_mig"

// MigrationFS returns the embedded migration files (the *.sql files at its
// root), so a caller can fingerprint the schema.
func MigrationFS() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		// fs.Sub fails only on an invalid path, and this one is a constant.
		panic(err)
	}
	return sub
}

// Migrate applies every pending migration to the database at databaseURL.
// Several processes may call it at once: they take a session advisory lock
// in turn, so the first applies the migrations and the others find nothing to
// do. The lock is a blocking pg_advisory_lock rather than goose's polling
// locker, whose 5-second probe would delay every service start behind the
// first.
func Migrate(ctx context.Context, databaseURL string) (err error) {
	sqlDB, err := sql.Open("pgx", databaseURL)
	if err != nil {
		return fmt.Errorf("migrate: open: %w", err)
	}
	defer sqlDB.Close()

	lockConn, err := sqlDB.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate: connect: %w", err)
	}
	defer lockConn.Close()
	if _, err := lockConn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", migrateLockID); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	defer func() {
		// A context that ended must not leave the lock held on a pooled
		// connection; closing the connection releases it in any case.
		if _, uerr := lockConn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrateLockID); uerr != nil && err == nil {
			err = fmt.Errorf("migrate: unlock: %w", uerr)
		}
	}()

	provider, err := goose.NewProvider(goose.DialectPostgres, sqlDB, MigrationFS(), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if _, err := provider.Up(ctx); err != nil {
		return fmt.Errorf("migrate: up: %w", err)
	}
	return nil
}
