package store_test

import (
	"context"
	"io/fs"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"github.com/pickmyclass/pickmyclass/pkg/store"
	"github.com/pickmyclass/pickmyclass/pkg/store/storetest"
	"github.com/pickmyclass/pickmyclass/pkg/testenv"
)

func TestMigrateConcurrentlyAndTwice(t *testing.T) {
	t.Parallel()
	// An empty database of our own: storetest's are already migrated.
	_, dbURL := storetest.NewDB(t)
	ctx := testenv.Context(t, time.Minute)
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `DROP SCHEMA public CASCADE; CREATE SCHEMA public`); err != nil {
		t.Fatalf("empty the database: %v", err)
	}

	var g errgroup.Group
	for range 4 {
		g.Go(func() error { return store.Migrate(ctx, dbURL) })
	}
	if err := g.Wait(); err != nil {
		t.Fatalf("concurrent Migrate: %v", err)
	}
	if err := store.Migrate(ctx, dbURL); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}

	var applied int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM goose_db_version WHERE version_id > 0`).Scan(&applied); err != nil {
		t.Fatal(err)
	}
	files, err := fs.Glob(store.MigrationFS(), "*.sql")
	if err != nil || len(files) < 2 {
		t.Fatalf("embedded migrations: %v, %v", files, err)
	}
	if applied != len(files) {
		t.Errorf("goose recorded %d applied migrations, want one per file (%d)", applied, len(files))
	}
	var tables int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'
		AND tablename IN ('users','sessions','one_time_tokens','login_attempts','class_watches',
		'section_states','seat_history','notifications','audit_log')`).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 9 {
		t.Errorf("found %d of the 9 tables", tables)
	}
}

func TestOpenPing(t *testing.T) {
	t.Parallel()
	db, _ := storetest.NewDB(t)
	if err := db.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if _, err := store.Open(context.Background(), "postgres://nobody@127.0.0.1:1/none?connect_timeout=1"); err == nil {
		t.Error("Open of an unreachable server succeeded")
	}
}
