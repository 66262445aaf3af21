package breaker

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pickmyclass/pickmyclass/pkg/obs"
)

type metrics struct {
	state       *prometheus.GaugeVec
	transitions *prometheus.CounterVec
	fallback    *prometheus.GaugeVec
}

// newMetrics registers the collectors with reg, or reuses the ones a breaker
// for another upstream already registered there.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "pickmyclass_breaker_state",
			Help: "Circuit breaker state as this process last saw it: 0 closed, 1 half-open, 2 open.",
		}, []string{"upstream"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pickmyclass_breaker_transitions_total",
			Help: "Circuit breaker transitions made by this process.",
		}, []string{"upstream", "from", "to"}),
		fallback: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "pickmyclass_breaker_fallback",
			Help: "1 while this process uses its local circuit breaker because Redis is unreachable.",
		}, []string{"upstream"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.state, err = obs.Register(reg, m.state); err != nil {
		return nil, err
	}
	if m.transitions, err = obs.Register(reg, m.transitions); err != nil {
		return nil, err
	}
	if m.fallback, err = obs.Register(reg, m.fallback); err != nil {
		return nil, err
	}
	return m, nil
}
