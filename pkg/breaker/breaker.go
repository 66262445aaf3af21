// Package breaker is a circuit breaker per upstream, shared by every worker
// process through a Redis hash, so that ten failures seen by ten different
// workers open it for all of them.
//
// Closed, it admits every request and counts consecutive failures; at
// FailureThreshold it opens. Open, it admits nothing until OpenTimeout has
// passed; then it is half-open and admits exactly one probe at a time. A
// failed probe opens it again for another OpenTimeout; SuccessThreshold
// successful probes in a row close it. A probe holds a lease that lapses
// after ProbeTimeout, so a worker that dies mid-probe does not wedge the
// breaker.
//
// No lock is held during the upstream request: Allow and the Done it returns
// are each one Lua script. Every script reads the Redis server's clock
// (TIME), so workers with skewed clocks agree on when a breaker reopens;
// consequently there is no injectable clock, and tests use short timeouts.
//
// When Redis cannot be reached, the breaker falls back to an in-process
// sony/gobreaker with the same thresholds, and returns to the shared state
// once Redis answers again.
package breaker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
)

// ErrOpen is matched (with errors.Is) by the error Allow returns when the
// breaker admits no request.
var ErrOpen = errors.New("circuit breaker open")

// OpenError is the error Allow returns when a request is not admitted.
type OpenError struct {
	// Name is the breaker's upstream name.
	Name string
	// State is Open, or HalfOpen when another request holds the probe.
	State State
	// RetryIn is how long until the breaker may admit a request again: the
	// rest of the open timeout, or of the current probe's lease. It is a
	// hint, not a promise; another worker may take the probe first.
	RetryIn time.Duration
}

// Error implements error.
func (e *OpenError) Error() string {
	return fmt.Sprintf("breaker %s %s: retry in %s", e.Name, e.State, e.RetryIn.Round(time.Millisecond))
}

// Is makes errors.Is(err, ErrOpen) true for an *OpenError.
func (e *OpenError) Is(target error) bool { return target == ErrOpen }

// State is a breaker's position. Its numeric value is the value of the
// pickmyclass_breaker_state gauge.
type State int

// States.
const (
	// Closed admits every request.
	Closed State = 0
	// HalfOpen admits one probe at a time.
	HalfOpen State = 1
	// Open admits nothing until its timeout passes.
	Open State = 2
)

// String returns the name used in the Redis hash, logs and metric labels.
func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case HalfOpen:
		return "half_open"
	case Open:
		return "open"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

func parseState(s string) State {
	switch s {
	case "open":
		return Open
	case "half_open":
		return HalfOpen
	}
	return Closed
}

// Outcome is what became of an admitted request.
type Outcome int

// Outcomes.
const (
	// Success counts toward closing a half-open breaker and resets the
	// consecutive failures of a closed one.
	Success Outcome = iota + 1
	// Failure (a 5xx or a timeout) counts toward opening the breaker, and
	// reopens a half-open one.
	Failure
	// Ignore is for answers that say nothing about the upstream's health,
	// such as not-found or 429: nothing is counted, and a probe lease is
	// released so the next request can probe.
	Ignore
)

// String returns the outcome's name, as the report script expects it.
func (o Outcome) String() string {
	switch o {
	case Success:
		return "success"
	case Failure:
		return "failure"
	case Ignore:
		return "ignore"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Done reports the outcome of a request Allow admitted. Only the first call
// counts; later ones are ignored.
type Done func(Outcome)

// Config configures a Breaker. Zero values take the defaults noted.
type Config struct {
	// Name names the upstream in logs and metric labels. Required.
	Name string
	// Key is the Redis hash holding the state; default "breaker:" + Name.
	Key string
	// FailureThreshold is the number of consecutive failures that opens a
	// closed breaker; default 10.
	FailureThreshold int
	// OpenTimeout is how long the breaker stays open before a probe is
	// allowed; default 2 minutes.
	OpenTimeout time.Duration
	// SuccessThreshold is the number of consecutive successful probes that
	// closes a half-open breaker; default 3.
	SuccessThreshold int
	// ProbeTimeout is how long a probe holds its lease before another
	// request may probe; default 30 seconds. It should exceed the upstream
	// request timeout.
	ProbeTimeout time.Duration
	// FallbackRetry is how long the breaker stays on the local fallback
	// after a Redis error before it tries Redis again; default 5 seconds.
	// It keeps a Redis outage from adding a failed round trip to every
	// request.
	FallbackRetry time.Duration
	// Logger receives transitions and fallback changes; default disabled.
	Logger zerolog.Logger
	// Metrics registers the breaker's collectors; nil registers nothing.
	// Several breakers may share one Registerer.
	Metrics prometheus.Registerer
}

func (c *Config) setDefaults() error {
	if c.Name == "" {
		return errors.New("breaker: Config.Name is required")
	}
	if c.Key == "" {
		c.Key = "breaker:" + c.Name
	}
	if c.FailureThreshold <= 0 {
		c.FailureThreshold = 10
	}
	if c.OpenTimeout <= 0 {
		c.OpenTimeout = 2 * time.Minute
	}
	if c.SuccessThreshold <= 0 {
		c.SuccessThreshold = 3
	}
	if c.ProbeTimeout <= 0 {
		c.ProbeTimeout = 30 * time.Second
	}
	if c.FallbackRetry <= 0 {
		c.FallbackRetry = 5 * time.Second
	}
	return nil
}

// reportTimeout bounds the Redis call that records an outcome; it runs
// detached from the request's context, which has often just expired.
const reportTimeout = 5 * time.Second

// Breaker is one process's handle on a shared breaker. It is safe for
// concurrent use.
type Breaker struct {
	cfg     Config
	rdb     redis.UniversalClient
	log     zerolog.Logger
	metrics *metrics
	local   *local

	mu            sync.Mutex
	fallback      bool      // the local breaker is in use
	fallbackUntil time.Time // Redis is not tried again before this
}

// New returns the breaker named cfg.Name, whose state is shared with every
// other Breaker on the same Key.
func New(rdb redis.UniversalClient, cfg Config) (*Breaker, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Metrics)
	if err != nil {
		return nil, fmt.Errorf("breaker %s: register metrics: %w", cfg.Name, err)
	}
	b := &Breaker{
		cfg:     cfg,
		rdb:     rdb,
		log:     cfg.Logger.With().Str("upstream", cfg.Name).Logger(),
		metrics: m,
	}
	b.local = newLocal(cfg, b.transitioned)
	m.state.WithLabelValues(cfg.Name).Set(float64(Closed))
	m.fallback.WithLabelValues(cfg.Name).Set(0)
	return b, nil
}

// Allow asks whether one request may go upstream. If it may, the caller
// makes the request and then calls done with its outcome — always, also on
// Ignore, or a probe holds its lease until ProbeTimeout. If it may not, err
// is an *OpenError (errors.Is(err, ErrOpen)) and nothing should be sent.
// The only other error is ctx's.
func (b *Breaker) Allow(ctx context.Context) (done Done, err error) {
	if b.usingFallback() {
		return b.local.allow()
	}
	done, err = b.allowShared(ctx)
	if err == nil || errors.Is(err, ErrOpen) {
		b.redisAnswered()
		return done, err
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("breaker %s: %w", b.cfg.Name, ctx.Err())
	}
	b.redisFailed(err)
	return b.local.allow()
}

func (b *Breaker) allowShared(ctx context.Context) (Done, error) {
	token := randomToken()
	res, err := allowScript.Run(ctx, b.rdb, []string{b.cfg.Key},
		b.cfg.OpenTimeout.Milliseconds(), b.cfg.ProbeTimeout.Milliseconds(), token).Slice()
	if err != nil {
		return nil, fmt.Errorf("breaker %s: allow: %w", b.cfg.Name, err)
	}
	if len(res) != 5 {
		return nil, fmt.Errorf("breaker %s: allow: unexpected reply %v", b.cfg.Name, res)
	}
	verdict, _ := res[0].(int64)
	stateName, _ := res[1].(string)
	waitMS, _ := res[2].(int64)
	gen, _ := res[3].(int64)
	from, _ := res[4].(string)
	state := parseState(stateName)
	if from != "" {
		b.transitioned(parseState(from), state, inRedis)
	}
	b.metrics.state.WithLabelValues(b.cfg.Name).Set(float64(state))
	switch verdict {
	case verdictAdmitted:
		return b.sharedDone(ctx, gen, ""), nil
	case verdictAdmittedProbe:
		return b.sharedDone(ctx, gen, token), nil
	case verdictRejected:
		return nil, &OpenError{Name: b.cfg.Name, State: state, RetryIn: time.Duration(waitMS) * time.Millisecond}
	}
	return nil, fmt.Errorf("breaker %s: allow: unknown verdict %d", b.cfg.Name, verdict)
}

// sharedDone reports to Redis. token is empty for a request admitted while
// closed, and the probe lease's token otherwise.
func (b *Breaker) sharedDone(ctx context.Context, gen int64, token string) Done {
	var once sync.Once
	return func(o Outcome) {
		once.Do(func() {
			if o == Ignore && token == "" {
				return
			}
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), reportTimeout)
			defer cancel()
			res, err := reportScript.Run(rctx, b.rdb, []string{b.cfg.Key},
				o.String(), gen, token, b.cfg.FailureThreshold, b.cfg.SuccessThreshold).StringSlice()
			if err != nil || len(res) != 3 {
				if err == nil {
					err = fmt.Errorf("unexpected reply %v", res)
				}
				b.redisFailed(fmt.Errorf("breaker %s: report: %w", b.cfg.Name, err))
				// The shared state missed this outcome; the local breaker,
				// which is about to take over, should not.
				b.local.record(o)
				return
			}
			if res[1] != "" {
				b.transitioned(parseState(res[1]), parseState(res[2]), inRedis)
			}
			b.metrics.state.WithLabelValues(b.cfg.Name).Set(float64(parseState(res[0])))
		})
	}
}

// Snapshot is a breaker's state as State reports it.
type Snapshot struct {
	// State is the breaker's position; an open breaker whose timeout has
	// passed is reported HalfOpen even before a request moves it there.
	State State
	// Failures is the count of consecutive failures; while open, the count
	// that opened it.
	Failures int
	// Successes is the count of consecutive successful probes.
	Successes int
	// OpenedAt is when the breaker last opened (zero if never).
	OpenedAt time.Time
	// RetryIn is, while open, the time left until it turns half-open.
	RetryIn time.Duration
	// ProbeUntil is when the current probe's lease lapses (zero if none).
	ProbeUntil time.Time
	// Fallback reports whether this process is using its local breaker
	// because Redis could not be reached.
	Fallback bool
}

// State reads the shared state, for health checks and ops tooling.
func (b *Breaker) State(ctx context.Context) (Snapshot, error) {
	res, err := statusScript.Run(ctx, b.rdb, []string{b.cfg.Key}).Slice()
	if err != nil {
		return Snapshot{}, fmt.Errorf("breaker %s: state: %w", b.cfg.Name, err)
	}
	if len(res) != 6 {
		return Snapshot{}, fmt.Errorf("breaker %s: state: unexpected reply %v", b.cfg.Name, res)
	}
	name, _ := res[0].(string)
	failures, _ := res[1].(int64)
	successes, _ := res[2].(int64)
	openedAt, _ := res[3].(int64)
	probeUntil, _ := res[4].(int64)
	now, _ := res[5].(int64)
	s := Snapshot{
		State:     parseState(name),
		Failures:  int(failures),
		Successes: int(successes),
		Fallback:  b.usingFallback(),
	}
	if openedAt > 0 {
		s.OpenedAt = time.UnixMilli(openedAt)
	}
	if s.State == Open {
		if left := openedAt + b.cfg.OpenTimeout.Milliseconds() - now; left > 0 {
			s.RetryIn = time.Duration(left) * time.Millisecond
		} else {
			s.State = HalfOpen
			s.Successes = 0
		}
	}
	if s.State == HalfOpen && probeUntil > now {
		s.ProbeUntil = time.UnixMilli(probeUntil)
	}
	return s, nil
}

// Reset closes the breaker for every worker, clearing its counts and any
// probe lease, and resets this process's local fallback. It is an ops
// command for when the upstream is known to be back.
func (b *Breaker) Reset(ctx context.Context) error {
	prev, err := resetScript.Run(ctx, b.rdb, []string{b.cfg.Key}).Text()
	if err != nil {
		return fmt.Errorf("breaker %s: reset: %w", b.cfg.Name, err)
	}
	if from := parseState(prev); from != Closed {
		b.transitioned(from, Closed, inRedis)
	}
	b.metrics.state.WithLabelValues(b.cfg.Name).Set(float64(Closed))
	b.local.reset()
	b.redisAnswered()
	return nil
}

// where says which breaker a transition was made in.
type where bool

const (
	inRedis    where = false // the shared state
	inFallback where = true  // this process's local fallback
)

// transitioned logs and counts a transition this process made, in the
// shared state or in its fallback breaker.
func (b *Breaker) transitioned(from, to State, in where) {
	b.metrics.transitions.WithLabelValues(b.cfg.Name, from.String(), to.String()).Inc()
	b.metrics.state.WithLabelValues(b.cfg.Name).Set(float64(to))
	ev := b.log.Info()
	if to == Open {
		ev = b.log.Warn()
	}
	ev.Str("from", from.String()).Str("to", to.String()).Bool("local", bool(in)).Msg("circuit breaker transition")
}

func (b *Breaker) usingFallback() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.fallback && time.Now().Before(b.fallbackUntil)
}

func (b *Breaker) redisFailed(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fallbackUntil = time.Now().Add(b.cfg.FallbackRetry)
	if !b.fallback {
		b.fallback = true
		b.metrics.fallback.WithLabelValues(b.cfg.Name).Set(1)
		b.log.Error().Err(err).Dur("retry_in", b.cfg.FallbackRetry).Msg("redis unreachable; circuit breaker using local fallback")
	}
}

func (b *Breaker) redisAnswered() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fallback {
		b.fallback = false
		b.metrics.fallback.WithLabelValues(b.cfg.Name).Set(0)
		b.log.Info().Msg("redis answers again; circuit breaker back on shared state")
	}
}

func randomToken() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
