// Package handle is the worker's check handler: fetch a course through the
// shared breaker and politeness budget, record what changed, claim the
// notifications it causes and send them — in that order (DESIGN §2.8).
package handle

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/pickmyclass/pickmyclass/pkg/breaker"
	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/check"
	"github.com/pickmyclass/pickmyclass/pkg/store"
	"github.com/pickmyclass/pickmyclass/pkg/stream"
)

// Store is the part of the database the handler uses.
type Store interface {
	ApplyCourse(ctx context.Context, obs store.CourseObservation) (store.ApplyResult, error)
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

// Handler handles course checks.
type Handler struct {
	Source    catalog.Source
	Store     Store
	Breaker   Breaker
	Backoff   Backoff
	Notifier  Notifier
	Announcer Announcer
	Now       func() time.Time
	Metrics   *Metrics
}

// Metrics are the handler's Prometheus metrics.
type Metrics struct {
	checks   *prometheus.CounterVec
	duration prometheus.Histogram
	latency  prometheus.Histogram
	sections *prometheus.CounterVec
}

// NewMetrics registers the handler's metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pickmyclass_checks_total", Help: "Course checks handled, by outcome.",
		}, []string{"outcome"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "pickmyclass_check_duration_seconds", Help: "Time to handle one course check.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "pickmyclass_check_latency_seconds", Help: "Time from enqueue to a completed check.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 20),
		}),
		sections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pickmyclass_sections_checked_total", Help: "Watched sections checked, by result.",
		}, []string{"result"}),
	}
	reg.MustRegister(m.checks, m.duration, m.latency, m.sections)
	return m
}

// Handle checks one course. It returns nil only when the new state and every
// claim it caused are durable; the stream acks the entry then.
func (h *Handler) Handle(ctx context.Context, e *stream.Entry) (err error) {
	start := h.Now()
	outcome := "ok"
	defer func() {
		h.Metrics.checks.WithLabelValues(outcome).Inc()
		h.Metrics.duration.Observe(h.Now().Sub(start).Seconds())
	}()

	c, err := check.Decode(e.Data)
	if err != nil {
		outcome = "invalid"
		return stream.Permanent(err)
	}
	log := zerolog.Ctx(ctx).With().Str("cycle", c.Cycle).Str("course", c.Course.String()).Logger()
	ctx = log.WithContext(ctx)

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
	sections, err := h.Source.Course(ctx, c.Course)
	switch {
	case err == nil:
		done(breaker.Success)
		_ = h.Backoff.OK(ctx)
	case ctx.Err() != nil:
		// Shutting down: not the upstream's fault, and the entry stays pending.
		done(breaker.Ignore)
		outcome = "cancelled"
		return ctx.Err()
	case catalog.KindOf(err) == catalog.KindNotFound:
		// The whole course is gone: every wanted section is not found.
		done(breaker.Ignore)
		sections = nil
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
		return fmt.Errorf("fetch course %s: %w", c.Course, err)
	}

	res, err := h.Store.ApplyCourse(ctx, store.CourseObservation{
		Course: c.Course, ObservedAt: h.Now(), Sections: sections, Wanted: c.ClassNbrs,
	})
	if err != nil {
		outcome = "store_error"
		return fmt.Errorf("apply course %s: %w", c.Course, err)
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
	if !c.EnqueuedAt.IsZero() {
		h.Metrics.latency.Observe(h.Now().Sub(c.EnqueuedAt).Seconds())
	}
	return nil
}

// jitter spreads retries of many entries deferred at once over an extra
// quarter of the wait, so they do not return as a thundering herd.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration(rand.Int64N(int64(d/4)+1))
}
