package stream

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pickmyclass/pickmyclass/pkg/obs"
)

// Outcomes of a handled entry, the values of the outcome label.
const (
	outcomeAck      = "ack"
	outcomeRetry    = "retry"
	outcomeDead     = "dead"
	outcomeDeferred = "deferred"
)

type consumerMetrics struct {
	ack, retry, dead, deferred prometheus.Counter
	duration                   prometheus.Observer
	reclaimed                  prometheus.Counter
	deadLettered               prometheus.Counter
}

// newConsumerMetrics resolves the label values once so the per-entry path
// does no map lookups. Consumers sharing a Registerer share the vectors.
func newConsumerMetrics(reg prometheus.Registerer, stream, group string) (*consumerMetrics, error) {
	labels := []string{"stream", "group"}
	handled := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pickmyclass_stream_handled_total",
		Help: "Stream entries handled, by outcome (ack, retry, dead, deferred).",
	}, append(labels, "outcome"))
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "pickmyclass_stream_handler_duration_seconds",
		Help:    "Time handlers took per stream entry.",
		Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, labels)
	reclaimed := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pickmyclass_stream_reclaimed_total",
		Help: "Stream entries reclaimed from other consumers after the visibility timeout.",
	}, labels)
	deadLettered := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pickmyclass_stream_dead_lettered_total",
		Help: "Stream entries copied to the dead-letter stream.",
	}, labels)
	if reg != nil {
		var err error
		if handled, err = obs.Register(reg, handled); err != nil {
			return nil, err
		}
		if duration, err = obs.Register(reg, duration); err != nil {
			return nil, err
		}
		if reclaimed, err = obs.Register(reg, reclaimed); err != nil {
			return nil, err
		}
		if deadLettered, err = obs.Register(reg, deadLettered); err != nil {
			return nil, err
		}
	}
	return &consumerMetrics{
		ack:          handled.WithLabelValues(stream, group, outcomeAck),
		retry:        handled.WithLabelValues(stream, group, outcomeRetry),
		dead:         handled.WithLabelValues(stream, group, outcomeDead),
		deferred:     handled.WithLabelValues(stream, group, outcomeDeferred),
		duration:     duration.WithLabelValues(stream, group),
		reclaimed:    reclaimed.WithLabelValues(stream, group),
		deadLettered: deadLettered.WithLabelValues(stream, group),
	}, nil
}
