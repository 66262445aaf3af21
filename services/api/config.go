package main

import (
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/envconf"
	"github.com/pickmyclass/pickmyclass/pkg/obs"
)

type config struct {
	DatabaseURL       string
	RedisURL          string
	RedisPrefix       string
	Log               obs.LogConfig
	Addr              string
	OpsAddr           string
	Migrate           bool
	UnsubscribeSecret string
	TrustedProxies    string
	SchedulerInterval time.Duration
	Grace             time.Duration
}

func loadConfig(getenv func(string) string) (config, error) {
	r := envconf.New(getenv)
	c := config{
		DatabaseURL:       r.URL("DATABASE_URL", "", "postgres", "postgresql"),
		RedisURL:          r.URL("REDIS_URL", "", "redis", "rediss"),
		RedisPrefix:       r.String("REDIS_PREFIX", "pmc:"),
		Addr:              r.String("API_ADDR", "127.0.0.1:8080"),
		OpsAddr:           r.String("API_OPS_ADDR", "127.0.0.1:9100"),
		Migrate:           r.Bool("MIGRATE_ON_START", true),
		UnsubscribeSecret: r.Required("UNSUBSCRIBE_SECRET"),
		TrustedProxies:    r.String("API_TRUSTED_PROXIES", ""),
		SchedulerInterval: r.Duration("SCHEDULER_INTERVAL", 30*time.Minute, time.Second, 24*time.Hour),
		Grace:             r.Duration("API_SHUTDOWN_TIMEOUT", 10*time.Second, 0, 5*time.Minute),
	}
	if c.UnsubscribeSecret != "" && len(c.UnsubscribeSecret) < 32 {
		r.Fail("UNSUBSCRIBE_SECRET must be at least 32 characters")
	}
	lc, err := obs.ParseLogConfig(getenv)
	if err != nil {
		r.Fail("%v", err)
	}
	c.Log = lc
	return c, r.Err()
}
