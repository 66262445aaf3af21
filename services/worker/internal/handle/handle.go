// Package handle is the worker's check handler: fetch a course, or walk a
// subject or term, through the shared breaker and politeness budgets, record
// what changed, claim the notifications it causes and send them — in that
// order (docs/DESIGN.md §2.8, order of effects).
package handle

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/pickmyclass/pickmyclass/pkg/breaker"
	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/check"
	"github.com/pickmyclass/pickmyclass/pkg/store"
	"github.com/pickmyclass/pickmyclass/pkg/stream"
)

// Source is the university's class search.
type Source interface {
	// Course returns every section of a course.
	Course(ctx context.Context, key catalog.CourseKey) ([]catalog.Section, error)
	// Scan walks a subject or term through every page; it returns an error,
	// never a partial walk. expect is the walk's estimated size in
	// sections (0 if unknown).
	Scan(ctx context.Context, key catalog.ScanKey, expect int) (catalog.Scan, error)
}

// Store is the part of the database the handler uses.
type Store interface {
	ApplyCourses(ctx context.Context, obs []store.CourseObservation) (store.ApplyResult, error)
}

// Counts records the section counts the planner prices sweeps with. Best
// effort: a failure only makes the next plan less informed.
type Counts interface {
	RecordCourse(ctx context.Context, c catalog.CourseKey, n int) error
	RecordScan(ctx context.Context, sc catalog.Scan) error
}

// Breaker guards the upstream.
type Breaker interface {
	Allow(ctx context.Context) (breaker.Done, error)
}

// Backoff is the shared 429 back-off toward the upstream.
type Backoff interface {
	// Until returns when the upstream may be called again (zero if now).
	Until(ctx context.Context) (time.Time, error)
	// RateLimited records a 429 and returns how long to wait.
	RateLimited(ctx context.Context, retryAfter time.Duration) (time.Duration, error)
	// OK resets the back-off after a successful call.
	OK(ctx context.Context) error
}

// Announcer tells live dashboards that sections changed. Best effort.
type Announcer interface {
	Announce(ctx context.Context, keys []catalog.SectionKey) error
}

// Notifier sends the claimed notifications of some sections.
type Notifier interface {
	SendPending(ctx context.Context, keys []catalog.SectionKey) error
}

// ReservedSource reads the reserved seat groups of a section flagged with
// reserved seats (ASU: GET /reservedseatsadditionalinfo).
type ReservedSource interface {
	Reserved(ctx context.Context, s catalog.Section) ([]catalog.ReservedGroup, error)
}

// States reads the stored states of sections, to tell which reserved seat
// groups must be read again.
type States interface {
	SectionStates(ctx context.Context, term string, classNbrs []string) (map[string]*store.SectionState, error)
}

// Handler handles course checks.
type Handler struct {
	Source    Source
	Store     Store
	Counts    Counts
	Breaker   Breaker
	Backoff   Backoff
	Notifier  Notifier
	Announcer Announcer
	// Reserved and States, when both set, have watched sections flagged
	// with reserved seats checked for the seats open to everyone.
	Reserved ReservedSource
	States   States
	Now      func() time.Time
	Metrics  *Metrics
}

// Metrics are the handler's Prometheus metrics.
type Metrics struct {
	checks    *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	latency   *prometheus.HistogramVec
	sections  *prometheus.CounterVec
	walkPages *prometheus.HistogramVec
	reserved  *prometheus.CounterVec
}

// NewMetrics registers the handler's metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pickmyclass_checks_total", Help: "Course checks handled, by outcome.",
		}, []string{"outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "pickmyclass_check_duration_seconds", Help: "Time to handle one check, by kind (course, subject, term).",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 16),
		}, []string{"kind"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "pickmyclass_check_latency_seconds", Help: "Time from enqueue to a completed check, by kind.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 20),
		}, []string{"kind"}),
		walkPages: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "pickmyclass_walk_pages", Help: "Pages read by a complete walk, by kind (subject, term).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10),
		}, []string{"kind"}),
		sections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pickmyclass_sections_checked_total", Help: "Watched sections checked, by result.",
		}, []string{"result"}),
		reserved: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pickmyclass_reserved_lookups_total",
			Help: "Watched sections with reserved seats, by how their groups were had: read, carried (seats unchanged since the last read), unknown (the read failed or was skipped).",
		}, []string{"result"}),
	}
	reg.MustRegister(m.checks, m.duration, m.latency, m.sections, m.walkPages, m.reserved)
	return m
}

// Handle checks one course. It returns nil only when the new state and every
// claim it caused are durable; the stream acks the entry then.
func (h *Handler) Handle(ctx context.Context, e *stream.Entry) error {
	c, err := check.Decode(e.Data)
	if err != nil {
		h.Metrics.checks.WithLabelValues("invalid").Inc()
		return stream.Permanent(err)
	}
	log := zerolog.Ctx(ctx).With().Str("sweep", c.Sweep).Str("course", c.Course.String()).Logger()
	ctx = log.WithContext(ctx)
	return h.run(ctx, "course", c.EnqueuedAt, func(ctx context.Context) ([]store.CourseObservation, error) {
		// A course that is gone answers no sections: every wanted one is
		// not found.
		sections, err := h.Source.Course(ctx, c.Course)
		if err != nil {
			return nil, err
		}
		if h.Counts != nil {
			if err := h.Counts.RecordCourse(ctx, c.Course, len(sections)); err != nil {
				log.Warn().Err(err).Msg("record section count")
			}
		}
		return []store.CourseObservation{{Course: c.Course, ObservedAt: h.Now(), Sections: sections, Wanted: c.ClassNbrs,
			WholeCourse: c.WholeCourse}}, nil
	})
}

// HandleWalk walks a subject or a whole term and checks every watched
// section it covers. Only a complete walk is recorded: a watched section
// missing from it is not found; a walk that fails on any page records
// nothing and is retried (or deferred) whole.
func (h *Handler) HandleWalk(ctx context.Context, e *stream.Entry) error {
	w, err := check.DecodeWalk(e.Data)
	if err != nil {
		h.Metrics.checks.WithLabelValues("invalid").Inc()
		return stream.Permanent(err)
	}
	log := zerolog.Ctx(ctx).With().Str("sweep", w.Sweep).Str("walk", w.Scan.String()).Logger()
	ctx = log.WithContext(ctx)
	kind := "subject"
	if w.Scan.Subject == "" {
		kind = "term"
	}
	return h.run(ctx, kind, w.EnqueuedAt, func(ctx context.Context) ([]store.CourseObservation, error) {
		// Sections are observed when the walk began: a course check made
		// while it was under way counts as newer.
		observedAt := h.Now()
		sc, err := h.Source.Scan(ctx, w.Scan, w.Sections)
		if err != nil {
			return nil, err
		}
		if h.Counts != nil {
			if err := h.Counts.RecordScan(ctx, sc); err != nil {
				log.Warn().Err(err).Msg("record section counts")
			}
		}
		h.Metrics.walkPages.WithLabelValues(kind).Observe(float64(sc.Pages))
		// Each watched course gets the walk's sections it watches, found by
		// class number: a section the walk lists under another course is
		// still found. A course watched whole gets all of its own too.
		byNbr := make(map[string]catalog.Section, len(sc.Sections))
		byCourse := map[catalog.CourseKey][]catalog.Section{}
		for _, s := range sc.Sections {
			if s.Term == w.Scan.Term {
				byNbr[s.ClassNbr] = s
				k := s.Course()
				k.Subject, k.CatalogNbr = strings.ToUpper(k.Subject), strings.ToUpper(k.CatalogNbr)
				byCourse[k] = append(byCourse[k], s)
			}
		}
		obs := make([]store.CourseObservation, len(w.Courses))
		for i, c := range w.Courses {
			o := store.CourseObservation{Course: c.Course, ObservedAt: observedAt, Wanted: c.ClassNbrs, WholeCourse: c.WholeCourse}
			seen := map[string]bool{}
			if c.WholeCourse {
				k := c.Course
				k.Subject, k.CatalogNbr = strings.ToUpper(k.Subject), strings.ToUpper(k.CatalogNbr)
				for _, s := range byCourse[k] {
					o.Sections = append(o.Sections, s)
					seen[s.ClassNbr] = true
				}
			}
			for _, n := range c.ClassNbrs {
				if s, ok := byNbr[n]; ok && !seen[n] {
					o.Sections = append(o.Sections, s)
				}
			}
			obs[i] = o
		}
		return obs, nil
	})
}

// run is what a course check and a walk share: the back-off and breaker
// before the upstream call, the classification of its failure, and the
// order of effects after it.
func (h *Handler) run(ctx context.Context, kind string, enqueuedAt time.Time,
	fetch func(ctx context.Context) ([]store.CourseObservation, error)) (err error) {
	start := h.Now()
	outcome := "ok"
	defer func() {
		h.Metrics.checks.WithLabelValues(outcome).Inc()
		h.Metrics.duration.WithLabelValues(kind).Observe(h.Now().Sub(start).Seconds())
	}()
	log := zerolog.Ctx(ctx)

	if until, err := h.Backoff.Until(ctx); err == nil && until.After(start) {
		outcome = "backoff"
		return stream.Defer(errors.New("upstream asked us to back off"), jitter(until.Sub(start)))
	}
	done, err := h.Breaker.Allow(ctx)
	if err != nil {
		outcome = "breaker_open"
		var open *breaker.OpenError
		wait := 10 * time.Second
		if errors.As(err, &open) {
			wait = max(open.RetryIn, time.Second)
			if open.State == breaker.HalfOpen {
				// Another worker's probe is in flight; it usually answers
				// well before its lease runs out.
				wait = min(wait, 2*time.Second)
			}
		}
		return stream.Defer(err, jitter(wait))
	}
	obs, err := fetch(ctx)
	switch {
	case err == nil:
		done(breaker.Success)
		_ = h.Backoff.OK(ctx)
		h.readReserved(ctx, obs)
	case ctx.Err() != nil:
		// Shutting down: not the upstream's fault, and the entry stays pending.
		done(breaker.Ignore)
		outcome = "cancelled"
		return ctx.Err()
	case catalog.KindOf(err) == catalog.KindRateLimited:
		done(breaker.Ignore)
		outcome = "rate_limited"
		var ce *catalog.Error
		var retryAfter time.Duration
		if errors.As(err, &ce) {
			retryAfter = ce.RetryAfter
		}
		wait, berr := h.Backoff.RateLimited(ctx, retryAfter)
		if berr != nil {
			wait = max(retryAfter, time.Minute)
		}
		return stream.Defer(err, jitter(wait))
	default:
		done(breaker.Failure)
		outcome = "upstream_" + catalog.KindOf(err).String()
		return fmt.Errorf("fetch %s: %w", kind, err)
	}

	res, err := h.Store.ApplyCourses(ctx, obs)
	if err != nil {
		outcome = "store_error"
		return fmt.Errorf("apply %s: %w", kind, err)
	}
	h.Metrics.sections.WithLabelValues("applied").Add(float64(res.Applied))
	h.Metrics.sections.WithLabelValues("stale").Add(float64(res.Stale))
	h.Metrics.sections.WithLabelValues("not_found").Add(float64(res.NotFound))
	if len(res.Changed) > 0 && h.Announcer != nil {
		if err := h.Announcer.Announce(ctx, res.Changed); err != nil {
			log.Warn().Err(err).Msg("announce changes")
		}
	}
	if res.Claims > 0 {
		log.Info().Int("claims", res.Claims).Msg("notifications claimed")
	}
	// Claims are durable now, so a failed send does not fail the check: the
	// claim is released and the notifier's sweep sends it later.
	if len(res.Notify) > 0 {
		if err := h.Notifier.SendPending(ctx, res.Notify); err != nil {
			log.Warn().Err(err).Msg("some notifications were not sent; they will be retried")
		}
	}
	if !enqueuedAt.IsZero() {
		h.Metrics.latency.WithLabelValues(kind).Observe(h.Now().Sub(enqueuedAt).Seconds())
	}
	return nil
}

// readReserved fills in the seats open to everyone of the watched sections
// flagged with reserved seats that have open seats: carried over from the
// stored state when their seats did not change since, read from the source
// otherwise. The reads go through the back-off and the breaker like any
// upstream call; one that fails leaves its section unknown, which never
// alerts, and so does every section after it unless the failure was a
// missing section. An answer of another shape does not count toward the
// breaker: it means the lookup changed, not that the upstream is down. The check itself
// is not failed: what the walk found is still recorded.
func (h *Handler) readReserved(ctx context.Context, obs []store.CourseObservation) {
	if h.Reserved == nil || h.States == nil || len(obs) == 0 {
		return
	}
	log := zerolog.Ctx(ctx)
	var flagged []*catalog.Section
	var nbrs []string
	for i := range obs {
		wanted := make(map[string]bool, len(obs[i].Wanted))
		for _, n := range obs[i].Wanted {
			wanted[n] = true
		}
		for j := range obs[i].Sections {
			s := &obs[i].Sections[j]
			if (wanted[s.ClassNbr] || obs[i].WholeCourse) && s.Term == obs[i].Course.Term && s.HasReservedSeats && s.OpenSeats() > 0 {
				flagged = append(flagged, s)
				nbrs = append(nbrs, s.ClassNbr)
			}
		}
	}
	if len(flagged) == 0 {
		return
	}
	prev, err := h.States.SectionStates(ctx, obs[0].Course.Term, nbrs)
	if err != nil {
		log.Warn().Err(err).Msg("read section states for reserved seats; their counts stay unknown")
		h.Metrics.reserved.WithLabelValues("unknown").Add(float64(len(flagged)))
		return
	}
	var read []*catalog.Section
	for _, s := range flagged {
		var p *catalog.Section
		if st := prev[s.ClassNbr]; st != nil {
			p = &st.Section
		}
		if catalog.CarryReserved(p, s) {
			h.Metrics.reserved.WithLabelValues("carried").Inc()
			continue
		}
		read = append(read, s)
	}
	if len(read) == 0 {
		return
	}
	unknown := func(n int) { h.Metrics.reserved.WithLabelValues("unknown").Add(float64(n)) }
	if until, err := h.Backoff.Until(ctx); err == nil && until.After(h.Now()) {
		unknown(len(read))
		return
	}
	done, err := h.Breaker.Allow(ctx)
	if err != nil {
		unknown(len(read))
		return
	}
	for i, s := range read {
		groups, err := h.Reserved.Reserved(ctx, *s)
		if err == nil {
			s.SetReserved(groups)
			h.Metrics.reserved.WithLabelValues("read").Inc()
			continue
		}
		log.Warn().Err(err).Str("section", s.Key().String()).Msg("reserved seats unknown")
		switch {
		case ctx.Err() != nil:
			done(breaker.Ignore)
		case catalog.KindOf(err) == catalog.KindRateLimited:
			done(breaker.Ignore)
			var ce *catalog.Error
			var retryAfter time.Duration
			if errors.As(err, &ce) {
				retryAfter = ce.RetryAfter
			}
			_, _ = h.Backoff.RateLimited(ctx, retryAfter)
		case catalog.KindOf(err) == catalog.KindNotFound:
			// This section has nothing to read; the others may.
			unknown(1)
			continue
		case catalog.KindOf(err) == catalog.KindMalformed:
			// An answer of another shape says this endpoint changed, not
			// that ASU is down: the walks must not be stopped for it.
			done(breaker.Ignore)
		default:
			done(breaker.Failure)
		}
		unknown(len(read) - i)
		return
	}
	done(breaker.Success)
}

// jitter spreads retries of many entries deferred at once over an extra
// quarter of the wait, so they do not return as a thundering herd.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration(rand.Int64N(int64(d/4)+1))
}
