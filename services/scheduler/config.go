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
	sweep.Config
}

func loadConfig(getenv func(string) string) (config, error) {
	r := envconf.New(getenv)
	c := config{
		Common:   r.Common(),
		OpsAddr:  r.String("SCHEDULER_OPS_ADDR", "127.0.0.1:9101"),
		LeaseTTL: r.Duration("SCHEDULER_LEASE_TTL", 15*time.Second, time.Second, 10*time.Minute),
		Config:   sweep.ReadConfig(r),
	}
	c.Tick = r.Duration("SCHEDULER_TICK", min(c.MinInterval/10, 2*time.Second), 10*time.Millisecond, time.Hour)
	if c.Tick > c.MinInterval {
		r.Fail("SCHEDULER_TICK (%s) must not exceed SCHEDULER_MIN_INTERVAL (%s)", c.Tick, c.MinInterval)
	}
	return c, r.Err()
}
