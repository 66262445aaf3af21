// Package store is PickMyClass's PostgreSQL layer: the embedded schema
// migrations and every query of the check pipeline — which courses are due,
// applying an observation and claiming notifications in one transaction, and
// leasing claims to the senders — plus the user and watch queries the seed,
// the tests and the web app build on.
//
// Everything about a section is keyed by (term, class_nbr): class numbers are
// reused across terms.
package store

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Sentinel errors callers match with errors.Is.
var (
	// ErrNotFound means the row does not exist or is not the caller's.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict means the row already exists (a duplicate email or watch).
	ErrConflict = errors.New("store: conflict")
	// ErrUnverified means the account's email address is not confirmed.
	ErrUnverified = errors.New("store: email not confirmed")
	// ErrLimitReached means the user already has as many watches as allowed.
	ErrLimitReached = errors.New("store: limit reached")
)

// DB is the application's handle on PostgreSQL. It is safe for concurrent
// use.
type DB struct {
	pool *pgxpool.Pool
	// retryBase and retryMax shape the back-off of a released notification.
	retryBase, retryMax time.Duration
	// baselineMaxAge is how old a stored observation may be and still be
	// every watcher's baseline (SetBaselineMaxAge).
	baselineMaxAge time.Duration
}

// Open connects to the database at url and checks that it answers. The pool
// holds at least 10 connections (more on bigger machines) unless url sets
// pool_max_conns: pgxpool's default of max(4, CPUs) starves a worker whose
// concurrency is I/O bound.
//
// Every statement is planned for its arguments and the tables' current size
// (plan_cache_mode=force_custom_plan) unless url sets plan_cache_mode.
// PostgreSQL otherwise settles on a generic plan after five executions of a
// prepared statement and keeps it for the connection's life until the table
// is analyzed again: a plan made while section_states was empty (a new
// deployment, a new term) is a sequential scan, and it stays one while the
// first cycle fills the table, making every check and every dashboard
// O(table). Planning these statements costs microseconds.
func Open(ctx context.Context, url string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = int32(max(10, 4*runtime.NumCPU()))
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["plan_cache_mode"]; !ok {
		cfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_custom_plan"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("create pool: %w", err)
	}
	db := &DB{pool: pool, retryBase: DefaultSendRetryBase, retryMax: DefaultSendRetryMax, baselineMaxAge: DefaultBaselineMaxAge}
	if err := db.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return db, nil
}

// Defaults of SetSendRetry.
const (
	DefaultSendRetryBase = 15 * time.Second
	DefaultSendRetryMax  = 15 * time.Minute
)

// SetSendRetry sets the back-off of a notification whose send failed: base
// after the first attempt, doubling up to limit. Call it before use.
func (db *DB) SetSendRetry(base, limit time.Duration) {
	db.retryBase, db.retryMax = base, limit
}

// DefaultBaselineMaxAge is SetBaselineMaxAge's default, the scheduler's
// default interval.
const DefaultBaselineMaxAge = 30 * time.Minute

// SetBaselineMaxAge sets how old a section's stored observation may be and
// still be the baseline of a watcher who started watching after it was
// made: the scheduler's interval, within which every watched section is
// checked. An older one was kept by nobody's checks, and a change from it
// is news only to the watchers it was observed for. Call it before use.
func (db *DB) SetBaselineMaxAge(d time.Duration) {
	db.baselineMaxAge = d
}

// Close closes every connection, waiting for borrowed ones to be returned.
func (db *DB) Close() { db.pool.Close() }

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}

// Pool returns the underlying pool, for queries this package does not offer
// (health checks, metrics collectors, tests).
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// isUniqueViolation reports whether err is PostgreSQL's unique_violation.
func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}
