// Package storetest gives tests a database of their own: a fresh PostgreSQL
// database per test, copied from a template that holds the migrated schema,
// plus seed helpers. Copying a template takes a fraction of the time of
// running the migrations, and a whole database per test lets tests commit,
// run concurrently and use several connections.
package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pickmyclass/pickmyclass/pkg/store"
	"github.com/pickmyclass/pickmyclass/pkg/testenv"
)

// templateLockID serialises template creation across test processes:
// `go test ./...` runs packages in parallel against one server.
const templateLockID int64 = 0x706d635f746d706c // "pmc_tmpl"

var (
	templateMu   sync.Mutex
	templateName string // created by this process, or found ready
)

// NewDB creates a database for this test from the migrated template and
// returns a store on it and its URL. The database is dropped when the test
// ends.
func NewDB(t testing.TB) (*store.DB, string) {
	t.Helper()
	serverURL := testenv.DatabaseURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	tmpl, err := ensureTemplate(ctx, serverURL)
	if err != nil {
		t.Fatalf("storetest: template database: %v", err)
	}
	name := "test_" + testenv.RandomID()
	if err := withAdmin(ctx, serverURL, func(conn *pgx.Conn) error {
		return createFromTemplate(ctx, conn, name, tmpl)
	}); err != nil {
		t.Fatalf("storetest: create database %s: %v", name, err)
	}
	dbURL, err := withDatabase(serverURL, name)
	if err != nil {
		t.Fatalf("storetest: %v", err)
	}
	db, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatalf("storetest: %v", err)
	}
	t.Cleanup(func() {
		db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := withAdmin(ctx, serverURL, func(conn *pgx.Conn) error {
			_, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
			return err
		}); err != nil {
			t.Errorf("storetest: drop database %s: %v", name, err)
		}
	})
	return db, dbURL
}

// ensureTemplate returns the name of the template database for the current
// migrations, creating it if no process has. The name carries a hash of the
// migration files, so a schema change gets a new template rather than a stale
// one.
func ensureTemplate(ctx context.Context, serverURL string) (string, error) {
	templateMu.Lock()
	defer templateMu.Unlock()
	if templateName != "" {
		return templateName, nil
	}
	hash, err := migrationsHash()
	if err != nil {
		return "", err
	}
	name := "pmc_template_" + hash
	err = withAdmin(ctx, serverURL, func(conn *pgx.Conn) error {
		if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", templateLockID); err != nil {
			return err
		}
		// Closing the session releases the lock too, so an unlock error
		// changes nothing.
		defer func() { _, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", templateLockID) }()

		var exists bool
		if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
			return err
		}
		if exists {
			return nil
		}
		// Build under another name and rename when complete, so a process
		// that died half-way never leaves a template that looks ready.
		building := name + "_build"
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{building}.Sanitize()+" WITH (FORCE)"); err != nil {
			return err
		}
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{building}.Sanitize()); err != nil {
			return err
		}
		buildURL, err := withDatabase(serverURL, building)
		if err != nil {
			return err
		}
		if err := store.Migrate(ctx, buildURL); err != nil {
			return err
		}
		_, err = conn.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{building}.Sanitize()+" RENAME TO "+pgx.Identifier{name}.Sanitize())
		return err
	})
	if err != nil {
		return "", err
	}
	templateName = name
	return name, nil
}

// createFromTemplate copies the template. PostgreSQL refuses while another
// session is connected to the template — briefly the case right after it
// was built — so that one error is retried.
func createFromTemplate(ctx context.Context, conn *pgx.Conn, name, tmpl string) error {
	sql := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize() + " TEMPLATE " + pgx.Identifier{tmpl}.Sanitize()
	for {
		_, err := conn.Exec(ctx, sql)
		var pgErr *pgconn.PgError
		if err == nil || !errors.As(err, &pgErr) || pgErr.Code != "55006" {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %w)", ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func migrationsHash() (string, error) {
	h := sha256.New()
	fsys := store.MigrationFS()
	err := fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", path, len(b))
		h.Write(b)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("hash migrations: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

func withAdmin(ctx context.Context, serverURL string, fn func(*pgx.Conn) error) error {
	conn, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return fn(conn)
}

// withDatabase returns serverURL pointing at database name.
func withDatabase(serverURL, name string) (string, error) {
	u, err := url.Parse(serverURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", fmt.Errorf("TEST_DATABASE_URL must be a postgres:// URL, got %q", serverURL)
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String(), nil
}

// User creates a verified, active user with email.
func User(t testing.TB, db *store.DB, email string) store.User {
	t.Helper()
	u, err := db.CreateUser(context.Background(), store.NewUser{
		Email:        email,
		PasswordHash: "not-a-real-hash",
		Verified:     true,
	})
	if err != nil {
		t.Fatalf("storetest: %v", err)
	}
	return u
}

// Watch creates a watch for userID without a cap, so tests can seed as many
// as they need.
func Watch(t testing.TB, db *store.DB, userID int64, term, classNbr, subject, catalogNbr string) store.Watch {
	t.Helper()
	w, err := db.CreateWatch(context.Background(), userID, store.NewWatch{
		Term: term, ClassNbr: classNbr, Subject: subject, CatalogNbr: catalogNbr,
	}, math.MaxInt32)
	if err != nil {
		t.Fatalf("storetest: %v", err)
	}
	return w
}
