package main

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asusim"
	"github.com/pickmyclass/pickmyclass/pkg/check"
	"github.com/pickmyclass/pickmyclass/pkg/testenv"
)

// A worker process killed with SIGKILL while it holds a check: another worker
// reclaims the entry after the visibility timeout and finishes it; the
// watcher gets exactly one email.
func TestKilledWorkerIsReclaimedWithoutDuplicateEmail(t *testing.T) {
	t.Parallel()
	sec := section("2267", "70412", "CSE", "240", 2, 2)
	b := setup(t, scenario(sec))
	b.watch("ana@example.edu", sec)
	over := map[string]string{"WORKER_VISIBILITY_TIMEOUT": "1500ms", "ASU_TIMEOUT": "1s"}

	// The first observation, so the next one can detect the opening.
	stop := b.startWorker("first", over)
	b.publish("c1", sec)
	b.observedAfter(sec.Key(), time.Time{}, 20*time.Second)
	stop()

	b.openThenCrash(sec.Key(), func() { b.publish("c2", sec) }, over)
	if n := len(b.sink.Messages()); n != 1 {
		t.Fatalf("%d emails, want exactly 1", n)
	}
	if q := b.queue(); q.DeadLetters != 0 {
		t.Errorf("%d dead letters, want none", q.DeadLetters)
	}
}

// openThenCrash opens a seat in the section, then has a worker SIGKILLed
// while it holds the check enqueue publishes (its request to the university
// hangs), starts a rescuer, and waits for the first email and a drained
// queue.
func (b *bundle) openThenCrash(key catalog.SectionKey, enqueue func(), over map[string]string) {
	b.t.Helper()
	if err := b.sim.SetSeats(key, 1, -1); err != nil {
		b.t.Fatal(err)
	}
	// The next request hangs, so the doomed worker is caught holding the entry.
	if err := b.sim.InjectFault(asusim.Fault{Kind: asusim.FaultDelay, DelayMS: 30000, Count: 1}); err != nil {
		b.t.Fatal(err)
	}
	before := b.sim.Requests()
	b.crashHolding(enqueue, func() error {
		if b.sim.Requests() == before {
			return fmt.Errorf("no upstream request yet")
		}
		return nil
	})
	b.startWorker("rescuer", over)
	b.sink.WaitFor(b.t, 1, 30*time.Second)
	testenv.Eventually(b.t, 20*time.Second, func() error {
		if q := b.queue(); q.Pending != 0 || q.Lag != 0 {
			return fmt.Errorf("queue %+v", q)
		}
		return nil
	})
}

// Two schedulers running at once: each course is enqueued once per sweep,
// and no sweep is skipped. A worker takes the checks, so no sweep finds an
// earlier one's still waiting (which it would not enqueue again).
func TestTwoSchedulersEnqueueEachCourseOncePerSweep(t *testing.T) {
	t.Parallel()
	secs := []asusim.SectionSpec{
		section("2267", "70412", "CSE", "240", 2, 2),
		section("2267", "70413", "CSE", "240", 2, 2),
		section("2267", "71020", "MAT", "343", 2, 2),
		section("2271", "70412", "MAT", "343", 2, 2),
	}
	b := setup(t, scenario(secs...))
	for _, s := range secs {
		b.watch("ana@example.edu", s)
	}
	// A two-second sweep leaves a scheduler stalled by a loaded CI machine
	// room to run in every slot; one request per course keeps the entries
	// course checks.
	over := map[string]string{"SCHEDULER_INTERVAL": "1m", "SCHEDULER_MIN_INTERVAL": "2s", "SCHEDULER_TICK": "200ms", "SCHEDULER_PLAN": "per-course"}
	b.startWorker("w1", nil)
	b.startProcess("scheduler", over)
	b.startProcess("scheduler", over)

	ctx := context.Background()
	perSweep := map[string]map[string]int{}
	testenv.Eventually(t, 60*time.Second, func() error {
		entries, err := b.rdb.XRange(ctx, b.keys.Stream(), "-", "+").Result()
		if err != nil {
			return err
		}
		perSweep = map[string]map[string]int{}
		for _, e := range entries {
			data, _ := e.Values["data"].(string)
			c, err := check.Decode([]byte(data))
			if err != nil {
				return err
			}
			if perSweep[c.Sweep] == nil {
				perSweep[c.Sweep] = map[string]int{}
			}
			perSweep[c.Sweep][c.Course.String()]++
		}
		if len(perSweep) < 4 {
			return fmt.Errorf("%d sweeps so far", len(perSweep))
		}
		return nil
	})
	first, last := -1, -1
	for sweep, courses := range perSweep {
		for course, n := range courses {
			if n != 1 {
				t.Errorf("sweep %s enqueued %s %d times", sweep, course, n)
			}
		}
		if len(courses) != 3 {
			t.Errorf("sweep %s enqueued %d courses, want 3: %v", sweep, len(courses), courses)
		}
		id, err := strconv.Atoi(sweep)
		if err != nil {
			t.Fatalf("sweep id %q: %v", sweep, err)
		}
		if first < 0 || id < first {
			first = id
		}
		last = max(last, id)
	}
	// Sweeps are numbered one after another: a gap is a sweep that
	// enqueued nothing.
	if span := last - first + 1; span != len(perSweep) {
		t.Errorf("%d sweeps from %d to %d: some were skipped", len(perSweep), first, last)
	}
}
