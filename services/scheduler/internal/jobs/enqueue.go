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

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asu"
	"github.com/pickmyclass/pickmyclass/pkg/check"
	"github.com/pickmyclass/pickmyclass/pkg/store"
	"github.com/pickmyclass/pickmyclass/pkg/stream"
)

// DueLister lists the courses that have active watchers.
type DueLister interface {
	DueCourses(ctx context.Context) ([]store.DueCourse, error)
	// DueCoursesSince lists those of them that gained a watch since.
	DueCoursesSince(ctx context.Context, since time.Time) ([]store.DueCourse, error)
}

// Publisher enqueues messages once per dedup key and message key.
type Publisher interface {
	PublishOnce(ctx context.Context, dedupKey string, ttl time.Duration, msgs ...stream.Message) (int, error)
	MarkOnce(ctx context.Context, dedupKey string, ttl time.Duration, keys ...string) error
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
	stillQueued   prometheus.Counter
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
		stillQueued: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pickmyclass_scheduler_courses_still_queued_total",
			Help: "Courses not enqueued again because a check of an earlier cycle was still waiting (unread or deferred).",
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
	reg.MustRegister(m.enqueued, m.stillQueued, m.cycles, m.lastCycle, m.cycleDuration)
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
	Cycle string
	// Incremental is set for a run after a complete one in the same cycle:
	// it looked only at the courses that gained a watch since, and its
	// counts are of those.
	Incremental bool
	Courses     int
	Sections    int
	Enqueued    int
	Skipped     int // terms already over
	// StillQueued counts courses left out because a check of an earlier
	// cycle, covering every watched section, had not started yet.
	StillQueued int
}

// Run enqueues the checks of the current cycle that are not enqueued yet.
// Running it again in the same cycle enqueues nothing new; running it after a
// leader died half-way enqueues the rest.
//
// A course whose check from an earlier cycle is still waiting (unread in the
// stream, or deferred while the university is unavailable) is not enqueued
// again: that check starts after this cycle began, so it serves this cycle
// too. When checks cannot keep up with the interval (a politeness budget too
// small for the watched courses) or the university is down, the queue so
// holds at most one waiting check per course instead of growing by a
// cycle's worth every interval, and no course is fetched twice in a row.
//
// Once a run of the cycle has completed, later runs in it look only at the
// courses that gained a watch since that run began, so a new watch is
// checked within a tick while an idle tick costs two small queries.
func (e *Enqueuer) Run(ctx context.Context) (Result, error) {
	start := e.Now()
	res := Result{Cycle: Cycle(start, e.Interval)}
	var due []store.DueCourse
	since, err := e.completedRun(ctx, res.Cycle)
	if err == nil && !since.IsZero() {
		res.Incremental = true
		due, err = e.Due.DueCoursesSince(ctx, since.Add(-clockMargin))
	} else if err == nil {
		due, err = e.Due.DueCourses(ctx)
	}
	if err != nil {
		e.Metrics.cycles.WithLabelValues("error").Inc()
		return res, fmt.Errorf("list due courses: %w", err)
	}
	var queued map[catalog.CourseKey]map[string]bool
	if len(due) > 0 {
		queued = e.waiting(ctx, res.Cycle)
	}
	msgs := make([]stream.Message, 0, len(due))
	var covered []string
	for _, d := range due {
		if ends, ok := asu.TermEnds(d.Course.Term); ok && start.After(ends) {
			res.Skipped++
			continue
		}
		res.Courses++
		res.Sections += len(d.ClassNbrs)
		c := check.Check{Course: d.Course, ClassNbrs: d.ClassNbrs, Cycle: res.Cycle, EnqueuedAt: start}
		if w := queued[d.Course]; w != nil && coversAll(w, d.ClassNbrs) {
			res.StillQueued++
			covered = append(covered, c.DedupKey())
			continue
		}
		msg, err := check.Message(c)
		if err != nil {
			return res, err
		}
		msgs = append(msgs, msg)
	}
	dedup, ttl := e.Keys.CycleDedup(res.Cycle), 2*e.Interval+time.Hour
	// Marked first, so a later run in this slot does not enqueue them once
	// their waiting check has been read.
	if err := e.Publisher.MarkOnce(ctx, dedup, ttl, covered...); err != nil {
		e.Metrics.cycles.WithLabelValues("error").Inc()
		return res, fmt.Errorf("enqueue cycle %s: %w", res.Cycle, err)
	}
	e.Metrics.stillQueued.Add(float64(res.StillQueued))
	n, err := e.Publisher.PublishOnce(ctx, dedup, ttl, msgs...)
	res.Enqueued = n
	e.Metrics.enqueued.Add(float64(n))
	if err != nil {
		e.Metrics.cycles.WithLabelValues("error").Inc()
		return res, fmt.Errorf("enqueue cycle %s: %w", res.Cycle, err)
	}
	done := e.Now()
	// An incremental run keeps the figures of the cycle's complete run.
	hb := map[string]any{
		"cycle": res.Cycle, "started_at": start.UTC().Format(time.RFC3339Nano),
		"completed_at": done.UTC().Format(time.RFC3339Nano),
	}
	if !res.Incremental {
		hb["courses"], hb["sections"], hb["enqueued"] = res.Courses, res.Sections, res.Enqueued
	}
	if err := e.Redis.HSet(ctx, e.Keys.Heartbeat(), hb).Err(); err != nil {
		return res, fmt.Errorf("record heartbeat: %w", err)
	}
	e.Metrics.cycles.WithLabelValues("ok").Inc()
	e.Metrics.lastCycle.Set(float64(done.Unix()))
	e.Metrics.cycleDuration.Observe(done.Sub(start).Seconds())
	if res.Incremental && res.Enqueued == 0 && res.StillQueued == 0 {
		return res, nil
	}
	e.Log.Info().Str("cycle", res.Cycle).Bool("incremental", res.Incremental).Int("courses", res.Courses).Int("sections", res.Sections).
		Int("enqueued", res.Enqueued).Int("still_queued", res.StillQueued).Int("past_term_courses", res.Skipped).
		Dur("took", done.Sub(start)).Msg("cycle enqueued")
	if res.StillQueued > 0 {
		e.Log.Warn().Str("cycle", res.Cycle).Int("still_queued", res.StillQueued).
			Msg("checks are not keeping up with the interval: raise ASU_RATE, add workers or lengthen SCHEDULER_INTERVAL")
	}
	return res, nil
}

// clockMargin widens an incremental run's window for the difference
// between this host's clock and the database's, which stamps new watches.
const clockMargin = time.Minute

// completedRun returns when the last complete run of cycle began, or zero
// if no run of it has completed.
func (e *Enqueuer) completedRun(ctx context.Context, cycle string) (time.Time, error) {
	v, err := e.Redis.HMGet(ctx, e.Keys.Heartbeat(), "cycle", "started_at").Result()
	if err != nil {
		return time.Time{}, fmt.Errorf("read heartbeat: %w", err)
	}
	c, _ := v[0].(string)
	s, _ := v[1].(string)
	if c != cycle || s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, nil // unreadable: a complete run repairs it
	}
	return t, nil
}

// waiting returns, by course, the set of class numbers covered by the checks of
// earlier cycles that are waiting: not read by any worker yet, or deferred
// (breaker open, back-off) until they are due. When they cannot be read it
// returns nothing, and every course is enqueued: a check twice is better
// than a check missed.
func (e *Enqueuer) waiting(ctx context.Context, cycle string) map[catalog.CourseKey]map[string]bool {
	entries, err := stream.Undelivered(ctx, e.Redis, e.Keys.Stream(), e.Keys.Group(), 0)
	if err == nil {
		var deferred []*stream.Entry
		deferred, err = stream.Deferred(ctx, e.Redis, e.Keys.Delayed(), 0)
		entries = append(entries, deferred...)
	}
	if err != nil {
		e.Log.Warn().Err(err).Msg("cannot read the waiting checks; enqueueing every course")
		return nil
	}
	out := map[catalog.CourseKey]map[string]bool{}
	for _, en := range entries {
		if en.Type != check.MessageType {
			continue
		}
		c, err := check.Decode(en.Data)
		if err != nil || c.Cycle == cycle {
			continue
		}
		if out[c.Course] == nil {
			out[c.Course] = map[string]bool{}
		}
		for _, n := range c.ClassNbrs {
			out[c.Course][n] = true
		}
	}
	return out
}

// coversAll reports whether have holds every element of want.
func coversAll(have map[string]bool, want []string) bool {
	for _, n := range want {
		if !have[n] {
			return false
		}
	}
	return true
}
