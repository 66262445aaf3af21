package sweep

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/pickmyclass/pickmyclass/pkg/check"
	"github.com/pickmyclass/pickmyclass/pkg/counts"
	"github.com/pickmyclass/pickmyclass/pkg/envconf"
	"github.com/pickmyclass/pickmyclass/pkg/plan"
	"github.com/pickmyclass/pickmyclass/pkg/stream"
)

// Config is what shapes sweeps. The scheduler and `ops sweep now` read it
// from the same variables with ReadConfig, so a sweep run by hand is planned
// as the scheduler would plan it.
type Config struct {
	// Interval is the longest a watched section may go unchecked
	// (SCHEDULER_INTERVAL); a plan the budgets cannot serve within it is
	// reported.
	Interval time.Duration
	// MinInterval is the shortest a sweep may last (SCHEDULER_MIN_INTERVAL).
	MinInterval time.Duration
	// Plan is "auto" (walk subjects and terms where cheaper) or
	// "per-course" (SCHEDULER_PLAN).
	Plan string
	// ASURate and ASUSectionsRate are the politeness budgets the workers
	// enforce (ASU_RATE, ASU_SECTIONS_RATE); the planner sizes sweeps to
	// them.
	ASURate         float64
	ASUSectionsRate float64
}

// ReadConfig reads the sweep configuration, recording every problem in r.
func ReadConfig(r *envconf.Reader) Config {
	c := Config{
		Interval:        r.Duration("SCHEDULER_INTERVAL", 30*time.Minute, time.Second, 24*time.Hour),
		Plan:            r.String("SCHEDULER_PLAN", "auto"),
		ASURate:         r.Float("ASU_RATE", 3, 0.01, 1000),
		ASUSectionsRate: r.Float("ASU_SECTIONS_RATE", 200, 1, 1e6),
	}
	c.MinInterval = r.Duration("SCHEDULER_MIN_INTERVAL", min(time.Minute, c.Interval), 100*time.Millisecond, 24*time.Hour)
	if c.MinInterval > c.Interval {
		r.Fail("SCHEDULER_MIN_INTERVAL (%s) must not exceed SCHEDULER_INTERVAL (%s)", c.MinInterval, c.Interval)
	}
	if c.Plan != "auto" && c.Plan != "per-course" {
		r.Fail("SCHEDULER_PLAN must be auto or per-course, not %q", c.Plan)
	}
	return c
}

// New returns the Sweeper of the deployment under keys: due courses from
// due, section counts, the stream and the sweep state in rdb, metrics on
// reg.
func New(c Config, due DueLister, rdb redis.UniversalClient, keys check.Keys, log zerolog.Logger, reg prometheus.Registerer) *Sweeper {
	mode := plan.Auto
	if c.Plan == "per-course" {
		mode = plan.PerCourse
	}
	return &Sweeper{
		Due:         due,
		Counts:      counts.New(rdb, keys.Counts),
		Publisher:   stream.NewPublisher(rdb, keys.Stream(), stream.PublisherOptions{}),
		Redis:       rdb,
		Keys:        keys,
		Budget:      plan.Budget{RequestsPerSecond: c.ASURate, SectionsPerSecond: c.ASUSectionsRate, Floor: c.MinInterval},
		Mode:        mode,
		MaxInterval: c.Interval,
		Now:         time.Now,
		Log:         log,
		Metrics:     NewMetrics(reg),
	}
}
