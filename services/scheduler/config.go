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
	// Interval is the longest a watched section may go unchecked; a plan
	// the budgets cannot serve within it is reported.
	Interval time.Duration
	// MinInterval is the shortest a sweep may last.
	MinInterval time.Duration
	// Tick is how often the leader looks whether the next sweep is due, so
	// a new leader also completes a sweep its predecessor left half-done.
	Tick     time.Duration
	LeaseTTL time.Duration
	Migrate  bool
	// Plan is "auto" (walk subjects and terms where cheaper) or
	// "per-course".
	Plan string
	// ASURate and ASUSectionsRate are the politeness budgets the workers
	// enforce; the planner sizes sweeps to them.
	ASURate         float64
	ASUSectionsRate float64
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
		Plan:        r.String("SCHEDULER_PLAN", "auto"),

		ASURate:         r.Float("ASU_RATE", 3, 0.01, 1000),
		ASUSectionsRate: r.Float("ASU_SECTIONS_RATE", 200, 1, 1e6),
	}
	c.MinInterval = r.Duration("SCHEDULER_MIN_INTERVAL", min(time.Minute, c.Interval), 100*time.Millisecond, 24*time.Hour)
	if c.MinInterval > c.Interval {
		r.Fail("SCHEDULER_MIN_INTERVAL (%s) must not exceed SCHEDULER_INTERVAL (%s)", c.MinInterval, c.Interval)
	}
	c.Tick = r.Duration("SCHEDULER_TICK", min(c.MinInterval/10, 2*time.Second), 10*time.Millisecond, time.Hour)
	if c.Tick > c.MinInterval {
		r.Fail("SCHEDULER_TICK (%s) must not exceed SCHEDULER_MIN_INTERVAL (%s)", c.Tick, c.MinInterval)
	}
	if c.Plan != "auto" && c.Plan != "per-course" {
		r.Fail("SCHEDULER_PLAN must be auto or per-course, not %q", c.Plan)
	}
	lc, err := obs.ParseLogConfig(getenv)
	if err != nil {
		r.Fail("%v", err)
	}
	c.Log = lc
	return c, r.Err()
}
