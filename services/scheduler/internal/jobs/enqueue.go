// Package jobs holds the scheduler's one job: enqueue a check of every
// watched course once per cycle.
package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/pickmyclass/pickmyclass/pkg/catalog/asu"
	"github.com/pickmyclass/pickmyclass/pkg/check"
	"github.com/pickmyclass/pickmyclass/pkg/store"
	"github.com/pickmyclass/pickmyclass/pkg/stream"
)

// DueLister lists the courses that have active watchers.
type DueLister interface {
	DueCourses(ctx context.Context) ([]store.DueCourse, error)
}

// Publisher enqueues messages once per dedup key and message key.
type Publisher interface {
	PublishOnce(ctx context.Context, dedupKey string, ttl time.Duration, msgs ...stream.Message) (int, error)
}

// Enqueuer turns the watched courses into stream entries for one cycle.
type Enqueuer struct {
	Due       DueLister
	Publisher Publisher
	Redis     redis.UniversalClient
	Keys      check.Keys
	Interval  time.Duration
	Now       func() time.Time
	Log       zerolog.Logger
	Metrics   *Metrics
}

// Metrics are the scheduler's Prometheus metrics.
type Metrics struct {
	enqueued      prometheus.Counter
	cycles        *prometheus.CounterVec
	lastCycle     prometheus.Gauge
	cycleDuration prometheus.Histogram
}

// NewMetrics registers the scheduler's metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		enqueued: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pickmyclass_checks_enqueued_total", Help: "Course checks enqueued onto the stream.",
		}),
		cycles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pickmyclass_scheduler_runs_total", Help: "Enqueue runs by result.",
		}, []string{"result"}),
		lastCycle: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "pickmyclass_scheduler_last_cycle_timestamp_seconds", Help: "When the last enqueue run completed.",
		}),
		cycleDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "pickmyclass_scheduler_run_duration_seconds", Help: "Duration of an enqueue run.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 12),
		}),
	}
	reg.MustRegister(m.enqueued, m.cycles, m.lastCycle, m.cycleDuration)
	return m
}

// Cycle returns the stamp of the cycle that t falls in: the start of its
// interval slot. Every scheduler agrees on it, so enqueue is idempotent per
// (course, cycle) however many times or by whom the job runs in a slot.
func Cycle(t time.Time, interval time.Duration) string {
	return t.UTC().Truncate(interval).Format(time.RFC3339)
}

// Result sums up one run.
type Result struct {
	Cycle    string
	Courses  int
	Sections int
	Enqueued int
	Skipped  int // terms already over
}

// Run enqueues the checks of the current cycle that are not enqueued yet.
// Running it again in the same cycle enqueues nothing new; running it after a
// leader died half-way enqueues the rest.
func (e *Enqueuer) Run(ctx context.Context) (Result, error) {
	start := e.Now()
	res := Result{Cycle: Cycle(start, e.Interval)}
	due, err := e.Due.DueCourses(ctx)
	if err != nil {
		e.Metrics.cycles.WithLabelValues("error").Inc()
		return res, fmt.Errorf("list due courses: %w", err)
	}
	msgs := make([]stream.Message, 0, len(due))
	for _, d := range due {
		if ends, ok := asu.TermEnds(d.Course.Term); ok && start.After(ends) {
			res.Skipped++
			continue
		}
		msg, err := check.Message(check.Check{Course: d.Course, ClassNbrs: d.ClassNbrs, Cycle: res.Cycle, EnqueuedAt: start})
		if err != nil {
			return res, err
		}
		msgs = append(msgs, msg)
		res.Courses++
		res.Sections += len(d.ClassNbrs)
	}
	n, err := e.Publisher.PublishOnce(ctx, e.Keys.CycleDedup(res.Cycle), 2*e.Interval+time.Hour, msgs...)
	res.Enqueued = n
	e.Metrics.enqueued.Add(float64(n))
	if err != nil {
		e.Metrics.cycles.WithLabelValues("error").Inc()
		return res, fmt.Errorf("enqueue cycle %s: %w", res.Cycle, err)
	}
	done := e.Now()
	if err := e.Redis.HSet(ctx, e.Keys.Heartbeat(), map[string]any{
		"cycle": res.Cycle, "completed_at": done.UTC().Format(time.RFC3339Nano),
		"courses": res.Courses, "sections": res.Sections, "enqueued": res.Enqueued,
	}).Err(); err != nil {
		return res, fmt.Errorf("record heartbeat: %w", err)
	}
	e.Metrics.cycles.WithLabelValues("ok").Inc()
	e.Metrics.lastCycle.Set(float64(done.Unix()))
	e.Metrics.cycleDuration.Observe(done.Sub(start).Seconds())
	e.Log.Info().Str("cycle", res.Cycle).Int("courses", res.Courses).Int("sections", res.Sections).
		Int("enqueued", res.Enqueued).Int("past_term_courses", res.Skipped).Dur("took", done.Sub(start)).Msg("cycle enqueued")
	return res, nil
}
