// Package sweep turns the watched sections into the stream entries of one
// sweep: it asks the planner for the cheapest queries that cover them under
// the politeness budgets, and enqueues those once per sweep. The scheduler's
// leader runs it every tick; `ops sweep now` runs it on demand.
//
// Sweeps follow each other continuously. Each lasts as long as the budgets
// need to serve its plan (never less than the floor, SCHEDULER_MIN_INTERVAL),
// so with a planner that walks subjects and terms a watched section is
// looked at every minute or two instead of every half hour.
package sweep

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asu"
	"github.com/pickmyclass/pickmyclass/pkg/check"
	"github.com/pickmyclass/pickmyclass/pkg/plan"
	"github.com/pickmyclass/pickmyclass/pkg/store"
	"github.com/pickmyclass/pickmyclass/pkg/stream"
)

// DueLister lists the courses that have active watchers.
type DueLister interface {
	DueCourses(ctx context.Context) ([]store.DueCourse, error)
}

// CountLoader returns the section counts of terms.
type CountLoader interface {
	Load(ctx context.Context, terms []string) (plan.Counts, error)
}

// Publisher enqueues messages once per dedup key and message key.
type Publisher interface {
	PublishOnce(ctx context.Context, dedupKey string, ttl time.Duration, msgs ...stream.Message) (int, error)
	MarkOnce(ctx context.Context, dedupKey string, ttl time.Duration, keys ...string) error
}

// Sweeper plans and enqueues sweeps.
type Sweeper struct {
	Due       DueLister
	Counts    CountLoader
	Publisher Publisher
	Redis     redis.UniversalClient
	Keys      check.Keys
	Budget    plan.Budget // its Floor is the shortest sweep
	Mode      plan.Mode
	// MaxInterval is the longest a watched section may go unchecked; a plan
	// the budgets cannot serve within it is logged and counted.
	MaxInterval time.Duration
	Now         func() time.Time
	Log         zerolog.Logger
	Metrics     *Metrics
}

// Metrics are the sweeps' Prometheus metrics.
type Metrics struct {
	enqueued      *prometheus.CounterVec
	stillQueued   prometheus.Counter
	runs          *prometheus.CounterVec
	overBudget    prometheus.Counter
	lastSweep     prometheus.Gauge
	period        prometheus.Gauge
	planned       *prometheus.GaugeVec
	runDuration   prometheus.Histogram
	sweepsStarted prometheus.Counter
}

// NewMetrics registers the sweeps' metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		enqueued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pickmyclass_checks_enqueued_total", Help: "Checks enqueued onto the stream, by kind (course, subject, term).",
		}, []string{"kind"}),
		stillQueued: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pickmyclass_scheduler_courses_still_queued_total",
			Help: "Checks not enqueued again because a check of an earlier sweep covering the same sections was still waiting (unread or deferred).",
		}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pickmyclass_scheduler_runs_total", Help: "Enqueue runs by result.",
		}, []string{"result"}),
		overBudget: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pickmyclass_scheduler_sweeps_over_interval_total",
			Help: "Sweeps whose plan the politeness budgets cannot serve within SCHEDULER_INTERVAL.",
		}),
		lastSweep: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "pickmyclass_scheduler_last_sweep_timestamp_seconds", Help: "When the last sweep was enqueued.",
		}),
		period: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "pickmyclass_scheduler_sweep_period_seconds", Help: "Period of the current sweep: how often each watched section is checked.",
		}),
		planned: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "pickmyclass_scheduler_sweep_planned", Help: "The current sweep's plan: upstream requests, sections fetched, units and watched sections.",
		}, []string{"figure"}),
		runDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "pickmyclass_scheduler_run_duration_seconds", Help: "Duration of an enqueue run.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 12),
		}),
		sweepsStarted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pickmyclass_scheduler_sweeps_total", Help: "Sweeps started.",
		}),
	}
	reg.MustRegister(m.enqueued, m.stillQueued, m.runs, m.overBudget, m.lastSweep, m.period, m.planned, m.runDuration, m.sweepsStarted)
	return m
}

// Result sums up one run.
type Result struct {
	// Sweep is the sweep the run enqueued for; empty when it had nothing
	// to do (the current sweep was enqueued and is not over yet).
	Sweep string
	// Started is set when the run started the sweep.
	Started bool
	Plan    plan.Plan
	Period  time.Duration
	Courses int
	// Sections counts the watched sections the plan covers.
	Sections int
	Enqueued int
	Skipped  int // courses of terms already over
	// StillQueued counts units left out because checks of earlier sweeps,
	// covering every section they would check, had not started yet.
	StillQueued int
}

// Run does what the current moment asks: when the current sweep is over
// (or none ever ran) it plans and enqueues the next; when a sweep was begun
// but its enqueue did not finish (a leader died half-way) it completes it;
// otherwise it does nothing. Running it again in a sweep enqueues nothing
// new: entries are deduplicated per (unit, sweep).
//
// A unit whose sections are all covered by checks of earlier sweeps that
// are still waiting (unread in the stream, or deferred while the university
// is unavailable) is not enqueued again: those checks start after this
// sweep began, so they serve it too, and the queue holds at most one
// waiting check per section however far behind the workers are.
func (s *Sweeper) Run(ctx context.Context) (Result, error) {
	start := s.Now()
	cur, err := s.current(ctx)
	if err != nil {
		s.Metrics.runs.WithLabelValues("error").Inc()
		return Result{}, err
	}
	if cur.id != "" && cur.enqueued && start.Before(cur.nextAt) {
		return Result{}, nil
	}
	res, msgs, covered, err := s.plan(ctx, start)
	if err != nil {
		s.Metrics.runs.WithLabelValues("error").Inc()
		return res, err
	}
	res.Period = res.Plan.Period(s.Budget.Floor)
	if cur.id == "" || !start.Before(cur.nextAt) {
		if res.Sweep, res.Started, err = s.begin(ctx, start, res.Period); err != nil {
			s.Metrics.runs.WithLabelValues("error").Inc()
			return res, err
		}
	} else {
		res.Sweep = cur.id
	}
	if err := s.enqueue(ctx, &res, msgs, covered); err != nil {
		s.Metrics.runs.WithLabelValues("error").Inc()
		return res, err
	}
	done := s.Now()
	if err := s.finish(ctx, res, start, done); err != nil {
		s.Metrics.runs.WithLabelValues("error").Inc()
		return res, err
	}
	s.Metrics.runs.WithLabelValues("ok").Inc()
	s.Metrics.lastSweep.Set(float64(done.Unix()))
	s.Metrics.runDuration.Observe(done.Sub(start).Seconds())
	s.Metrics.period.Set(res.Period.Seconds())
	s.Metrics.planned.WithLabelValues("requests").Set(float64(res.Plan.Requests))
	s.Metrics.planned.WithLabelValues("sections_fetched").Set(float64(res.Plan.Sections))
	s.Metrics.planned.WithLabelValues("units").Set(float64(len(res.Plan.Units)))
	s.Metrics.planned.WithLabelValues("watched_sections").Set(float64(res.Sections))
	if res.Started {
		s.Metrics.sweepsStarted.Inc()
	}
	s.Log.Info().Str("sweep", res.Sweep).Bool("started", res.Started).Int("courses", res.Courses).Int("sections", res.Sections).
		Int("units", len(res.Plan.Units)).Int("requests", res.Plan.Requests).Int("sections_fetched", res.Plan.Sections).
		Dur("period", res.Period).Dur("expected_delay", res.Plan.Delay).Int("enqueued", res.Enqueued).Int("still_queued", res.StillQueued).
		Int("past_term_courses", res.Skipped).Dur("took", done.Sub(start)).Msg("sweep enqueued")
	if res.Started && s.MaxInterval > 0 && res.Plan.Duration > s.MaxInterval {
		s.Metrics.overBudget.Inc()
		s.Log.Warn().Str("sweep", res.Sweep).Dur("needs", res.Plan.Duration).Dur("interval", s.MaxInterval).
			Msg("the politeness budgets cannot check every watched section within SCHEDULER_INTERVAL: raise ASU_RATE or ASU_SECTIONS_RATE, or lengthen SCHEDULER_INTERVAL")
	}
	if res.StillQueued > 0 {
		s.Log.Warn().Str("sweep", res.Sweep).Int("still_queued", res.StillQueued).
			Msg("checks of an earlier sweep are still waiting; workers are not keeping up with the plan")
	}
	return res, nil
}

// Plan returns the plan the next sweep would follow, without enqueuing it.
func (s *Sweeper) Plan(ctx context.Context) (plan.Plan, error) {
	res, _, _, err := s.plan(ctx, s.Now())
	return res.Plan, err
}

// RunNow enqueues one sweep at once under a stamp of its own, outside the
// scheduler's sequence of sweeps: `ops sweep now`. Checks already waiting
// are not doubled.
func (s *Sweeper) RunNow(ctx context.Context, stamp string) (Result, error) {
	res, msgs, covered, err := s.plan(ctx, s.Now())
	if err != nil {
		return res, err
	}
	res.Sweep = stamp
	res.Period = res.Plan.Period(s.Budget.Floor)
	return res, s.enqueue(ctx, &res, msgs, covered)
}

// plan lists the due courses, plans their queries and builds the entries;
// covered lists the keys of units whose sections are all waiting already.
func (s *Sweeper) plan(ctx context.Context, now time.Time) (Result, []unitMessage, []string, error) {
	var res Result
	due, err := s.Due.DueCourses(ctx)
	if err != nil {
		return res, nil, nil, fmt.Errorf("list due courses: %w", err)
	}
	var courses []plan.Course
	terms := map[string]bool{}
	var termList []string
	for _, d := range due {
		if ends, ok := asu.TermEnds(d.Course.Term); ok && now.After(ends) {
			res.Skipped++
			continue
		}
		res.Courses++
		res.Sections += len(d.ClassNbrs)
		courses = append(courses, plan.Course{Key: d.Course, ClassNbrs: d.ClassNbrs, Watchers: d.Watchers, Full: d.Full,
			ChangedAt: d.ChangedAt, WholeCourse: d.WholeCourse})
		if !terms[d.Course.Term] {
			terms[d.Course.Term] = true
			termList = append(termList, d.Course.Term)
		}
	}
	counts, err := s.Counts.Load(ctx, termList)
	if err != nil {
		// Without counts every size is unknown: the plan is cautious, not
		// wrong.
		s.Log.Warn().Err(err).Msg("cannot read section counts; planning without them")
	}
	res.Plan = plan.Make(courses, counts, s.Budget, s.Mode)
	var waiting map[catalog.SectionKey]bool
	if len(courses) > 0 {
		waiting = s.waiting(ctx)
	}
	msgs := make([]unitMessage, 0, len(res.Plan.Units))
	var covered []string
	for _, u := range res.Plan.Units {
		if waiting != nil && coversAll(waiting, u) {
			covered = append(covered, u.Key())
			continue
		}
		msgs = append(msgs, unitMessage{unit: u})
	}
	return res, msgs, covered, nil
}

// unitMessage is a planned unit awaiting its sweep stamp.
type unitMessage struct{ unit plan.Unit }

// message encodes u as the entry of sweep.
func (m unitMessage) message(sweep string, at time.Time) (stream.Message, string, error) {
	u := m.unit
	if !u.IsScan() {
		c := u.Watched[0]
		msg, err := check.Message(check.Check{Course: u.Course, ClassNbrs: c.ClassNbrs, WholeCourse: c.WholeCourse, Sweep: sweep, EnqueuedAt: at})
		return msg, "course", err
	}
	w := check.Walk{Scan: u.Scan, Sweep: sweep, EnqueuedAt: at, Sections: u.Sections}
	for _, c := range u.Watched {
		w.Courses = append(w.Courses, check.Check{Course: c.Key, ClassNbrs: c.ClassNbrs, WholeCourse: c.WholeCourse})
	}
	kind := "subject"
	if u.Scan.Subject == "" {
		kind = "term"
	}
	msg, err := check.WalkMessage(w)
	return msg, kind, err
}

func coversAll(waiting map[catalog.SectionKey]bool, u plan.Unit) bool {
	for _, c := range u.Watched {
		for _, k := range (check.Check{Course: c.Key, ClassNbrs: c.ClassNbrs, WholeCourse: c.WholeCourse}).Covers() {
			if !waiting[k] {
				return false
			}
		}
	}
	return true
}

// enqueue publishes the units of res.Sweep, most urgent first.
func (s *Sweeper) enqueue(ctx context.Context, res *Result, msgs []unitMessage, covered []string) error {
	at := s.Now()
	out := make([]stream.Message, len(msgs))
	kinds := map[string]int{}
	for i, m := range msgs {
		msg, kind, err := m.message(res.Sweep, at)
		if err != nil {
			return err
		}
		out[i] = msg
		kinds[kind]++
	}
	dedup, ttl := s.Keys.SweepDedup(res.Sweep), 2*max(res.Period, s.MaxInterval)+time.Hour
	// Marked first, so a later run in this sweep does not enqueue them once
	// their waiting check has been read.
	if err := s.Publisher.MarkOnce(ctx, dedup, ttl, covered...); err != nil {
		return fmt.Errorf("enqueue sweep %s: %w", res.Sweep, err)
	}
	res.StillQueued = len(covered)
	s.Metrics.stillQueued.Add(float64(len(covered)))
	n, err := s.Publisher.PublishOnce(ctx, dedup, ttl, out...)
	res.Enqueued = n
	if n == len(out) {
		for k, c := range kinds {
			s.Metrics.enqueued.WithLabelValues(k).Add(float64(c))
		}
	} else {
		s.Metrics.enqueued.WithLabelValues("mixed").Add(float64(n))
	}
	if err != nil {
		return fmt.Errorf("enqueue sweep %s: %w", res.Sweep, err)
	}
	return nil
}

// waiting returns the watched sections that checks of earlier sweeps, not
// read by any worker yet or deferred until they are due, will look at.
// When they cannot be read it returns nil, and every unit is enqueued: a
// check twice is better than a check missed.
func (s *Sweeper) waiting(ctx context.Context) map[catalog.SectionKey]bool {
	entries, err := stream.Undelivered(ctx, s.Redis, s.Keys.Stream(), s.Keys.Group(), 0)
	if err == nil {
		var deferred []*stream.Entry
		deferred, err = stream.Deferred(ctx, s.Redis, s.Keys.Delayed(), 0)
		entries = append(entries, deferred...)
	}
	if err != nil {
		s.Log.Warn().Err(err).Msg("cannot read the waiting checks; enqueueing every unit")
		return nil
	}
	out := map[catalog.SectionKey]bool{}
	for _, en := range entries {
		if _, secs, ok := check.Waiting(en); ok {
			for _, k := range secs {
				out[k] = true
			}
		}
	}
	return out
}

// sweepState is the scheduler's current sweep as kept in Redis.
type sweepState struct {
	id       string
	nextAt   time.Time
	enqueued bool
}

func (s *Sweeper) current(ctx context.Context) (sweepState, error) {
	v, err := s.Redis.HMGet(ctx, s.Keys.Sweep(), "id", "next_at_ms", "enqueued").Result()
	if err != nil {
		return sweepState{}, fmt.Errorf("read sweep: %w", err)
	}
	var st sweepState
	st.id, _ = v[0].(string)
	if ms, err := strconv.ParseInt(fmt.Sprint(v[1]), 10, 64); err == nil {
		st.nextAt = time.UnixMilli(ms)
	} else {
		st.id = "" // unreadable: start a new sweep
	}
	st.enqueued = v[2] == "1"
	return st, nil
}

// beginScript starts the next sweep unless another scheduler started it
// already: it returns the current sweep's id and 1 if it started it. A
// sweep whose enqueue never completed (its leader died half-way and no
// scheduler ran again before its time was up) is started again under its
// own id rather than skipped: what it published stays deduplicated, and
// sweep ids stay one after another.
// KEYS: sweep hash. ARGV: now_ms, period_ms.
var beginScript = redis.NewScript(`
local h = redis.call('HMGET', KEYS[1], 'id', 'next_at_ms', 'enqueued')
local now = tonumber(ARGV[1])
local id, next_at = tonumber(h[1]), tonumber(h[2])
if id and next_at and next_at > now then
	return {tostring(id), 0}
end
if not (id and next_at and h[3] == '0') then
	id = (id or 0) + 1
end
redis.call('HSET', KEYS[1], 'id', id, 'started_at_ms', now, 'next_at_ms', now + tonumber(ARGV[2]), 'enqueued', 0)
return {tostring(id), 1}
`)

func (s *Sweeper) begin(ctx context.Context, now time.Time, period time.Duration) (string, bool, error) {
	v, err := beginScript.Run(ctx, s.Redis, []string{s.Keys.Sweep()}, now.UnixMilli(), period.Milliseconds()).Slice()
	if err != nil || len(v) != 2 {
		return "", false, fmt.Errorf("begin sweep: %v %w", v, err)
	}
	id, _ := v[0].(string)
	started, _ := v[1].(int64)
	return id, started == 1, nil
}

// finish records that the sweep's enqueue completed, and the heartbeat the
// health report reads.
func (s *Sweeper) finish(ctx context.Context, res Result, start, done time.Time) error {
	hb := check.Heartbeat{
		Sweep: res.Sweep, StartedAt: start, CompletedAt: done, Period: res.Period,
		Courses: res.Courses, Sections: res.Sections, Units: len(res.Plan.Units),
		Requests: res.Plan.Requests, SectionsFetched: res.Plan.Sections, Enqueued: res.Enqueued,
	}
	_, err := s.Redis.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, s.Keys.Sweep(), "enqueued", 1)
		p.HSet(ctx, s.Keys.Heartbeat(), hb.Fields())
		return nil
	})
	if err != nil {
		return fmt.Errorf("record sweep %s: %w", res.Sweep, err)
	}
	return nil
}
