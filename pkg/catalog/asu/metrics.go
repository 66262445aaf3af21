package asu

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pickmyclass/pickmyclass/pkg/obs"
)

const upstreamLabel = "asu"

type metrics struct {
	requests *prometheus.CounterVec
	duration prometheus.Observer
	restarts prometheus.Counter
}

// newMetrics registers the upstream metrics on reg. The metric names are
// shared by every upstream adapter (told apart by the upstream label), so a
// collector someone else already registered is reused rather than an error.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pickmyclass_upstream_requests_total",
		Help: "Requests sent to a university catalog, by upstream and HTTP status code (or error/timeout).",
	}, []string{"upstream", "code"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "pickmyclass_upstream_request_duration_seconds",
		Help:    "Duration of requests sent to a university catalog.",
		Buckets: prometheus.DefBuckets,
	}, []string{"upstream"})
	restarts := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pickmyclass_upstream_walk_restarts_total",
		Help: "Subject or term walks started over because the search moved under them (scroll expired, total changed, short page).",
	}, []string{"upstream"})
	var err error
	if restarts, err = obs.Register(reg, restarts); err != nil {
		return nil, err
	}
	if requests, err = obs.Register(reg, requests); err != nil {
		return nil, err
	}
	if duration, err = obs.Register(reg, duration); err != nil {
		return nil, err
	}
	return &metrics{
		requests: requests.MustCurryWith(prometheus.Labels{"upstream": upstreamLabel}),
		duration: duration.WithLabelValues(upstreamLabel),
		restarts: restarts.WithLabelValues(upstreamLabel),
	}, nil
}
