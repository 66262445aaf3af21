package main

import (
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/envconf"
	"github.com/pickmyclass/pickmyclass/pkg/sweep"
)

type config struct {
	envconf.Common
	OpsAddr string
	// Tick is how often the leader looks whether the next sweep is due, so
	// a new leader also completes a sweep its predecessor left half-done.
	Tick     time.Duration
	LeaseTTL time.Duration
	// ExpiryEvery is how often the leader stops the watches whose
	// enrollment deadline passed.
	ExpiryEvery time.Duration
	// PublicBaseURL is the base of the links in the expiry summary.
	PublicBaseURL string
	sweep.Config
}

func loadConfig(getenv func(string) string) (config, error) {
	r := envconf.New(getenv)
	c := config{
		Common:        r.Common(),
		OpsAddr:       r.String("SCHEDULER_OPS_ADDR", "127.0.0.1:9101"),
		LeaseTTL:      r.Duration("SCHEDULER_LEASE_TTL", 15*time.Second, time.Second, 10*time.Minute),
		ExpiryEvery:   r.Duration("SCHEDULER_EXPIRY_EVERY", time.Minute, time.Second, time.Hour),
		PublicBaseURL: r.URL("PUBLIC_BASE_URL", "http://localhost:8080", "http", "https"),
		Config:        sweep.ReadConfig(r),
	}
	c.Tick = r.Duration("SCHEDULER_TICK", min(c.MinInterval/10, 2*time.Second), 10*time.Millisecond, time.Hour)
	if c.Tick > c.MinInterval {
		r.Fail("SCHEDULER_TICK (%s) must not exceed SCHEDULER_MIN_INTERVAL (%s)", c.Tick, c.MinInterval)
	}
	return c, r.Err()
}
