package chaos

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/breaker"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asusim"
	"github.com/pickmyclass/pickmyclass/pkg/check"
	"github.com/pickmyclass/pickmyclass/pkg/stream"
)

// The university down, then slow, then answering malformed JSON, then 401,
// with a scheduler enqueueing every second throughout: the shared breaker
// opens and keeps the requests to a trickle of probes (docs/DESIGN.md §2.5), failed
// checks are retried and dead-lettered only for upstream failures after the
// delivery limit (§2.4), and checks resume by themselves afterwards.
func TestUniversityOutageSequence(t *testing.T) {
	t.Parallel()
	phase := 3 * time.Second
	if full {
		phase = 10 * time.Second
	}
	const openTimeout = time.Second
	rep := report(t, 4, "University down, slow, malformed, 401",
		fmt.Sprintf("the simulated ASU answers 500 for %[1]s, then holds every request 3 s (ASU_TIMEOUT 1 s), then answers truncated JSON, then 401, %[1]s each (the issue's 10 minutes scaled to %[1]s), then recovers; 8 courses, a scheduler on a 1 s cycle, two workers; breaker: 10 failures, open %[2]s, 3 successes", phase, openTimeout),
		"the breaker opens during the outage and the university then sees only probes (requests bounded by 10 + in-flight + 2 per open period, far below the load without a breaker); no upstream 'not found' or breaker deferral is dead-lettered: every dead letter is an upstream failure after ≥ 3 deliveries; after recovery every section is checked again and the breaker closes, with no restart")
	d := newDeployment(t, infra{}, courses(8, 1), "ana@example.edu")
	over := map[string]string{
		"SCHEDULER_INTERVAL": "1s", "WORKER_CONCURRENCY": "2",
		"BREAKER_FAILURES": "10", "BREAKER_OPEN_TIMEOUT": openTimeout.String(), "BREAKER_SUCCESSES": "3",
	}
	d.start("worker", "w1", over)
	d.start("worker", "w2", over)
	d.start("scheduler", "scheduler", over)
	d.waitObserved(time.Time{}, 30*time.Second)

	brk, err := breaker.New(d.rdb, breaker.Config{Name: "chaos", Key: d.keys.Breaker(check.University)})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu       sync.Mutex
		states   []string // the breaker's transitions as sampled
		openSeen bool
	)
	stopSampling := sampler(t, 25*time.Millisecond, func() {
		st, err := brk.State(context.Background())
		if err != nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if s := st.State.String(); len(states) == 0 || states[len(states)-1] != s {
			states = append(states, s)
		}
		if st.State == breaker.Open {
			openSeen = true
		}
	})

	phases := []struct {
		name  string
		fault asusim.Fault
	}{
		{"down (500)", asusim.Fault{Kind: asusim.FaultStatus, Status: 500}},
		{"slow (3 s answers)", asusim.Fault{Kind: asusim.FaultDelay, DelayMS: 3000}},
		{"malformed JSON", asusim.Fault{Kind: asusim.FaultMalformed}},
		{"401", asusim.Fault{Kind: asusim.FaultStatus, Status: 401}},
	}
	faultStart := time.Now()
	startReqs := d.sim.Requests()
	for _, p := range phases {
		before := d.sim.Requests()
		d.sim.ClearFaults()
		if err := d.sim.InjectFault(p.fault); err != nil {
			t.Fatal(err)
		}
		<-time.After(phase) // the outage itself
		rep.figure("phase %s: %d upstream requests in %s", p.name, d.sim.Requests()-before, phase)
	}
	d.sim.ClearFaults()
	recovered := time.Now()
	faultReqs := int(d.sim.Requests() - startReqs)
	faultDur := recovered.Sub(faultStart)

	d.waitObserved(recovered, 60*time.Second)
	resumed := time.Since(recovered)
	if err := waitBreaker(brk, breaker.Closed, 30*time.Second); err != nil {
		t.Error(err)
	}
	stopSampling()

	mu.Lock()
	if !openSeen {
		t.Errorf("the breaker never opened; transitions %v", states)
	}
	transitions := strings.Join(states, " → ")
	mu.Unlock()
	// Without a breaker each cycle's 8 checks would reach the university,
	// and every failure would be retried.
	periods := int(math.Ceil(faultDur.Seconds()/openTimeout.Seconds())) + 1
	bound := 10 + 4 + 2*periods
	if faultReqs > bound {
		t.Errorf("%d upstream requests during %s of faults, want ≤ %d: the breaker let too much through", faultReqs, faultDur.Round(time.Millisecond), bound)
	}
	unlimited := int(faultDur.Seconds()) * 8
	dead := d.deadLetters()
	kinds := map[string]int{}
	for _, dl := range dead {
		kind := "other"
		for _, k := range []string{"server_error", "timeout", "malformed", "unauthorized"} {
			if strings.Contains(dl.Reason, k) {
				kind = k
			}
		}
		kinds[kind]++
		if kind == "other" || !strings.HasPrefix(dl.Reason, stream.ReasonMaxDeliveries) || dl.Deliveries < 3 {
			t.Errorf("dead letter that should not be one: %+v", dl)
		}
	}
	rep.add(1, 0, 0)
	rep.Recovery = fmt.Sprintf("%.2f s to check every section again", resumed.Seconds())
	rep.figure("upstream requests during %.0f s of faults: %d (bound %d; one request per check per cycle would be ≈ %d, before retries)", faultDur.Seconds(), faultReqs, bound, unlimited)
	rep.figure("breaker transitions sampled every 25 ms: %s", transitions)
	rep.figure("dead letters: %d %v — all upstream failures past the delivery limit", len(dead), kinds)
}

// waitBreaker waits until the breaker is in state want.
func waitBreaker(brk *breaker.Breaker, want breaker.State, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		st, err := brk.State(context.Background())
		if err == nil && st.State == want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("breaker %v (err %v) after %s, want %s", st.State, err, timeout, want)
		}
		<-time.After(20 * time.Millisecond)
	}
}
