package main

import (
	"context"
	"fmt"
	"testing"
	"time"

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

	if err := b.sim.SetSeats(sec.Key(), 1, -1); err != nil {
		t.Fatal(err)
	}
	// The next request hangs, so the doomed worker is caught holding the entry.
	if err := b.sim.InjectFault(asusim.Fault{Kind: asusim.FaultDelay, DelayMS: 30000, Count: 1}); err != nil {
		t.Fatal(err)
	}
	before := b.sim.Requests()
	doomed := b.startProcess("worker", map[string]string{"WORKER_NAME": "doomed", "WORKER_VISIBILITY_TIMEOUT": "1500ms", "ASU_TIMEOUT": "1s"})
	b.publish("c2", sec)
	ctx := context.Background()
	testenv.Eventually(t, 60*time.Second, func() error {
		if b.sim.Requests() == before {
			return fmt.Errorf("no upstream request yet")
		}
		p, err := b.rdb.XPending(ctx, b.keys.Stream(), b.keys.Group()).Result()
		if err != nil {
			return err
		}
		if p.Consumers["doomed"] != 1 {
			return fmt.Errorf("pending by consumer: %v", p.Consumers)
		}
		return nil
	})
	doomed.kill()

	b.startWorker("rescuer", over)
	b.sink.WaitFor(t, 1, 30*time.Second)
	testenv.Eventually(t, 20*time.Second, func() error {
		if q := b.queue(); q.Pending != 0 || q.Lag != 0 {
			return fmt.Errorf("queue %+v", q)
		}
		return nil
	})
	if n := len(b.sink.Messages()); n != 1 {
		t.Fatalf("%d emails, want exactly 1", n)
	}
	if q := b.queue(); q.DeadLetters != 0 {
		t.Errorf("%d dead letters, want none", q.DeadLetters)
	}
}

// Two schedulers running at once: each course is enqueued once per cycle,
// and no cycle is skipped. A worker takes the checks, so no cycle finds an
// earlier one's still waiting (which it would not enqueue again).
func TestTwoSchedulersEnqueueEachCourseOncePerCycle(t *testing.T) {
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
	// A two-second cycle leaves a scheduler stalled by a loaded CI machine
	// room to run in every slot.
	over := map[string]string{"SCHEDULER_INTERVAL": "2s"}
	b.startWorker("w1", nil)
	b.startProcess("scheduler", over)
	b.startProcess("scheduler", over)

	ctx := context.Background()
	perCycle := map[string]map[string]int{}
	testenv.Eventually(t, 60*time.Second, func() error {
		entries, err := b.rdb.XRange(ctx, b.keys.Stream(), "-", "+").Result()
		if err != nil {
			return err
		}
		perCycle = map[string]map[string]int{}
		for _, e := range entries {
			data, _ := e.Values["data"].(string)
			c, err := check.Decode([]byte(data))
			if err != nil {
				return err
			}
			if perCycle[c.Cycle] == nil {
				perCycle[c.Cycle] = map[string]int{}
			}
			perCycle[c.Cycle][c.Course.String()]++
		}
		if len(perCycle) < 4 {
			return fmt.Errorf("%d cycles so far", len(perCycle))
		}
		return nil
	})
	var first, last time.Time
	for cycle, courses := range perCycle {
		for course, n := range courses {
			if n != 1 {
				t.Errorf("cycle %s enqueued %s %d times", cycle, course, n)
			}
		}
		if len(courses) != 3 {
			t.Errorf("cycle %s enqueued %d courses, want 3: %v", cycle, len(courses), courses)
		}
		ts, err := time.Parse(time.RFC3339, cycle)
		if err != nil {
			t.Fatalf("cycle stamp %q: %v", cycle, err)
		}
		if first.IsZero() || ts.Before(first) {
			first = ts
		}
		if ts.After(last) {
			last = ts
		}
	}
	if span := int(last.Sub(first)/(2*time.Second)) + 1; span != len(perCycle) {
		t.Errorf("%d cycles from %s to %s: some were skipped", len(perCycle), first, last)
	}
}
