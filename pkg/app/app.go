// Package app holds the start-up every PickMyClass service shares: signal
// handling around a run function, and the connections to PostgreSQL and
// Redis with their readiness checks.
package app

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/redis/go-redis/v9"

	"github.com/pickmyclass/pickmyclass/pkg/envconf"
	"github.com/pickmyclass/pickmyclass/pkg/obs"
	"github.com/pickmyclass/pickmyclass/pkg/store"
	"github.com/pickmyclass/pickmyclass/pkg/stream"
)

// Main runs run with a context that SIGINT or SIGTERM cancels, and exits 1
// with the error, prefixed by the service name, when run fails.
func Main(service string, run func(ctx context.Context) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", service, err)
		os.Exit(1)
	}
}

// Deps are a service's connections.
type Deps struct {
	DB    *store.DB
	Redis *redis.Client
}

// Open applies the migrations when MIGRATE_ON_START is set (safe with
// several services starting at once), then opens PostgreSQL and Redis.
func Open(ctx context.Context, c envconf.Common) (Deps, error) {
	if c.Migrate {
		if err := store.Migrate(ctx, c.DatabaseURL); err != nil {
			return Deps{}, fmt.Errorf("migrate: %w", err)
		}
	}
	db, err := store.Open(ctx, c.DatabaseURL)
	if err != nil {
		return Deps{}, fmt.Errorf("open store: %w", err)
	}
	rdb, err := stream.Dial(ctx, c.RedisURL)
	if err != nil {
		db.Close()
		return Deps{}, fmt.Errorf("dial redis: %w", err)
	}
	return Deps{DB: db, Redis: rdb}, nil
}

// Close closes Redis, then PostgreSQL.
func (d Deps) Close() {
	_ = d.Redis.Close()
	d.DB.Close()
}

// ReadyChecks are the readiness checks of both connections.
func (d Deps) ReadyChecks() map[string]obs.Check {
	return map[string]obs.Check{
		"postgres": d.DB.Ping,
		"redis":    func(ctx context.Context) error { return d.Redis.Ping(ctx).Err() },
	}
}
