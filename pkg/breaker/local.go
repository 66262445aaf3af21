package breaker

import (
	"sync"
	"time"

	"github.com/sony/gobreaker"
)

// local is the in-process breaker used while Redis cannot be reached. It
// keeps the shared breaker's thresholds with a gobreaker v1
// TwoStepCircuitBreaker, whose half-open state differs from ours in two
// ways that local makes up for:
//
//   - MaxRequests is both the number of requests admitted in half-open and
//     the number of successes that closes it, so it is set to
//     SuccessThreshold and local itself admits them one at a time.
//   - gobreaker has no "neither" outcome, and a half-open request that never
//     reports keeps its slot for good. An Ignore from a probe is therefore
//     counted as a success (the upstream did answer), while an Ignore in
//     closed state is not reported at all, which gobreaker tolerates.
//
// Every Allow in one process is matched by a done call, so the local
// breaker needs no probe lease.
type local struct {
	cfg          Config
	onTransition func(from, to State, in where)

	mu       sync.Mutex // guards everything below and every call into cb
	cb       *gobreaker.TwoStepCircuitBreaker
	probing  bool
	openedAt time.Time
}

func newLocal(cfg Config, onTransition func(from, to State, in where)) *local {
	l := &local{cfg: cfg, onTransition: onTransition}
	l.cb = l.newCB()
	return l
}

func (l *local) newCB() *gobreaker.TwoStepCircuitBreaker {
	threshold := uint32(l.cfg.FailureThreshold)
	return gobreaker.NewTwoStepCircuitBreaker(gobreaker.Settings{
		Name:        l.cfg.Name,
		MaxRequests: uint32(l.cfg.SuccessThreshold),
		Timeout:     l.cfg.OpenTimeout,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= threshold },
		// gobreaker calls this with its own mutex held, from inside a call
		// local makes with l.mu held, so the fields are safe to touch.
		OnStateChange: func(_ string, from, to gobreaker.State) {
			if to == gobreaker.StateOpen {
				l.openedAt = time.Now()
			}
			l.onTransition(fromGobreaker(from), fromGobreaker(to), inFallback)
		},
	})
}

func fromGobreaker(s gobreaker.State) State {
	switch s {
	case gobreaker.StateOpen:
		return Open
	case gobreaker.StateHalfOpen:
		return HalfOpen
	}
	return Closed
}

func (l *local) allow() (Done, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	state := fromGobreaker(l.cb.State())
	switch {
	case state == Open:
		return nil, &OpenError{Name: l.cfg.Name, State: Open, RetryIn: max(time.Until(l.openedAt.Add(l.cfg.OpenTimeout)), 0)}
	case state == HalfOpen && l.probing:
		return nil, &OpenError{Name: l.cfg.Name, State: HalfOpen}
	}
	cbDone, err := l.cb.Allow()
	if err != nil {
		return nil, &OpenError{Name: l.cfg.Name, State: state}
	}
	probe := state == HalfOpen
	if probe {
		l.probing = true
	}
	var once sync.Once
	return func(o Outcome) {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			if probe {
				l.probing = false
			}
			switch {
			case o == Success:
				cbDone(true)
			case o == Failure:
				cbDone(false)
			case probe:
				cbDone(true)
			}
		})
	}, nil
}

// record feeds the outcome of a request the shared breaker admitted but
// could not record, if the local breaker would have admitted it.
func (l *local) record(o Outcome) {
	if done, err := l.allow(); err == nil {
		done(o)
	}
}

func (l *local) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cb = l.newCB()
	l.probing = false
	l.openedAt = time.Time{}
}
