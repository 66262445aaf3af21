package main

import (
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/envconf"
	"github.com/pickmyclass/pickmyclass/pkg/obs"
)

type config struct {
	DatabaseURL string
	RedisURL    string
	RedisPrefix string
	Log         obs.LogConfig
	OpsAddr     string
	// Interval is how often every watched section is checked.
	Interval time.Duration
	// Tick is how often the leader runs the (idempotent) enqueue, so a new
	// leader catches up on a cycle its predecessor left half-done.
	Tick     time.Duration
	LeaseTTL time.Duration
	Migrate  bool
}

func loadConfig(getenv func(string) string) (config, error) {
	r := envconf.New(getenv)
	c := config{
		DatabaseURL: r.URL("DATABASE_URL", "", "postgres", "postgresql"),
		RedisURL:    r.URL("REDIS_URL", "", "redis", "rediss"),
		RedisPrefix: r.String("REDIS_PREFIX", "pmc:"),
		OpsAddr:     r.String("SCHEDULER_OPS_ADDR", "127.0.0.1:9101"),
		Interval:    r.Duration("SCHEDULER_INTERVAL", 30*time.Minute, time.Second, 24*time.Hour),
		LeaseTTL:    r.Duration("SCHEDULER_LEASE_TTL", 15*time.Second, time.Second, 10*time.Minute),
		Migrate:     r.Bool("MIGRATE_ON_START", true),
	}
	c.Tick = r.Duration("SCHEDULER_TICK", min(c.Interval/6, time.Minute), 100*time.Millisecond, 24*time.Hour)
	if c.Tick > c.Interval {
		r.Fail("SCHEDULER_TICK (%s) must not exceed SCHEDULER_INTERVAL (%s)", c.Tick, c.Interval)
	}
	lc, err := obs.ParseLogConfig(getenv)
	if err != nil {
		r.Fail("%v", err)
	}
	c.Log = lc
	return c, r.Err()
}
