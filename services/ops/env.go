package main

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/pickmyclass/pickmyclass/pkg/check"
	"github.com/pickmyclass/pickmyclass/pkg/envconf"
	"github.com/pickmyclass/pickmyclass/pkg/store"
	"github.com/pickmyclass/pickmyclass/pkg/stream"
)

// env is what a command connects to. Each command asks only for the
// services it uses, so `ops queue` works without DATABASE_URL.
type env struct {
	DB    *store.DB
	Redis *redis.Client
	Keys  check.Keys
	// DatabaseURL is set when the database was asked for.
	DatabaseURL string
}

// need says which services a command uses.
type need struct{ db, redis bool }

// connect reads the configuration the command needs, reporting every
// problem at once, and connects. close releases the connections.
func connect(ctx context.Context, getenv func(string) string, n need) (e env, close func(), err error) {
	r := envconf.New(getenv)
	var dbURL, redisURL string
	if n.db {
		dbURL = r.URL("DATABASE_URL", "", "postgres", "postgresql")
	}
	if n.redis {
		redisURL = r.URL("REDIS_URL", "", "redis", "rediss")
	}
	e.Keys = check.Keys{Prefix: r.String("REDIS_PREFIX", "pmc:")}
	if err := r.Err(); err != nil {
		return env{}, nil, fmt.Errorf("config: %w", err)
	}
	e.DatabaseURL = dbURL
	var closers []func()
	close = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	if n.db {
		db, err := store.Open(ctx, dbURL)
		if err != nil {
			return env{}, nil, fmt.Errorf("open database %s: %w", envconf.Redact(dbURL), err)
		}
		e.DB = db
		closers = append(closers, db.Close)
	}
	if n.redis {
		rdb, err := stream.Dial(ctx, redisURL)
		if err != nil {
			close()
			return env{}, nil, fmt.Errorf("dial redis %s: %w", envconf.Redact(redisURL), err)
		}
		e.Redis = rdb
		closers = append(closers, func() { _ = rdb.Close() })
	}
	return e, close, nil
}
