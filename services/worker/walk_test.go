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
	"github.com/pickmyclass/pickmyclass/pkg/stream"
	"github.com/pickmyclass/pickmyclass/pkg/testenv"
)

// bigSubject is a CSE of n full sections, three to a course, so a walk of
// it takes several pages; the watched sections are the first, one in the
// middle and the last.
func bigSubject(n int) (asusim.Scenario, []asusim.SectionSpec) {
	var secs []asusim.SectionSpec
	for i := range n {
		secs = append(secs, section("2267", strconv.Itoa(10000+i), "CSE", strconv.Itoa(100+i/3), 2, 2))
	}
	return scenario(secs...), []asusim.SectionSpec{secs[0], secs[n/2], secs[n-1]}
}

// publishWalk enqueues a walk of CSE covering the watched sections, as the
// scheduler does for a sweep.
func (b *bundle) publishWalk(sweep string, watched ...asusim.SectionSpec) {
	b.t.Helper()
	w := check.Walk{Scan: catalog.ScanKey{Term: "2267", Subject: "CSE"}, Sweep: sweep, EnqueuedAt: time.Now()}
	for _, s := range watched {
		w.Courses = append(w.Courses, check.Check{
			Course:    catalog.CourseKey{Term: s.Term, Subject: s.Subject, CatalogNbr: s.CatalogNbr},
			ClassNbrs: []string{s.ClassNbr},
		})
	}
	msg, err := check.WalkMessage(w)
	if err != nil {
		b.t.Fatal(err)
	}
	if _, err := stream.NewPublisher(b.rdb, b.keys.Stream(), stream.PublisherOptions{}).Publish(context.Background(), msg); err != nil {
		b.t.Fatal(err)
	}
}

// baseline walks the subject once so every watched section has a state.
func (b *bundle) baseline(watched []asusim.SectionSpec) time.Time {
	b.t.Helper()
	b.publishWalk("s0", watched...)
	var last time.Time
	for _, s := range watched {
		st := b.observedAfter(s.Key(), time.Time{}, 30*time.Second)
		if st.ObservedAt.After(last) {
			last = st.ObservedAt
		}
	}
	return last
}

// A seat opening anywhere in a multi-page walk alerts its watcher once.
func TestWalkAlertsOnce(t *testing.T) {
	t.Parallel()
	sc, watched := bigSubject(450)
	b := setup(t, sc)
	for i, s := range watched {
		b.watch(fmt.Sprintf("u%d@example.edu", i), s)
	}
	b.startWorker("w1", nil)
	b.baseline(watched)

	last := watched[2] // on the third page
	if err := b.sim.SetSeats(last.Key(), 1, -1); err != nil {
		t.Fatal(err)
	}
	before := b.sim.State(false)
	b.publishWalk("s1", watched...)
	msgs := b.sink.WaitFor(t, 1, 30*time.Second)
	if got := recipients(msgs); len(got) != 1 || got[0] != "u2@example.edu" {
		t.Fatalf("recipients %v; want u2 only", got)
	}
	after := b.sim.State(false)
	if pages := after.FirstPages + after.ScrollPages - before.FirstPages - before.ScrollPages; pages != 3 {
		t.Errorf("the walk took %d pages; want 3 for 450 sections", pages)
	}
	// The same seat still open in the next walk sends nothing more.
	sent := time.Now()
	b.publishWalk("s2", watched...)
	b.observedAfter(last.Key(), sent, 30*time.Second)
	if n := len(b.sink.Messages()); n != 1 {
		t.Fatalf("%d emails after a second walk; want 1", n)
	}
}

// A 503 on a middle page fails the whole walk: nothing it read is stored,
// and the entry is retried until a complete walk stores every section and
// alerts once.
func TestWalkFaultOnMiddlePageRecordsNothing(t *testing.T) {
	t.Parallel()
	sc, watched := bigSubject(450)
	b := setup(t, sc)
	b.watch("ana@example.edu", watched[2])
	b.watch("ben@example.edu", watched[0])
	over := map[string]string{"WORKER_MAX_DELIVERIES": "10", "WORKER_VISIBILITY_TIMEOUT": "1500ms", "ASU_TIMEOUT": "1s"}
	b.startWorker("w1", over)
	base := b.baseline(watched[:1])
	b.publishWalk("s0b", watched[2])
	b.observedAfter(watched[2].Key(), time.Time{}, 30*time.Second)

	if err := b.sim.SetSeats(watched[2].Key(), 1, -1); err != nil {
		t.Fatal(err)
	}
	if err := b.sim.SetSeats(watched[0].Key(), 1, -1); err != nil {
		t.Fatal(err)
	}
	// Page 3 fails twice: two deliveries each read pages 1 and 2, then fail.
	if err := b.sim.InjectFault(asusim.Fault{Kind: asusim.FaultStatus, Status: 503, Page: 3, Count: 2}); err != nil {
		t.Fatal(err)
	}
	b.publishWalk("s1", watched[0], watched[2])
	testenv.Eventually(t, 30*time.Second, func() error {
		if f := b.sim.State(false).Faults; len(f) > 0 {
			return fmt.Errorf("fault still active: %+v", f)
		}
		return nil
	})
	// The failed walks read watched[0] on page 1 but stored nothing. The
	// check below can race only with the third, complete, walk: if it has
	// already stored, both emails must come anyway.
	st, err := b.db.GetSectionState(context.Background(), watched[0].Key())
	if err != nil {
		t.Fatal(err)
	}
	if st.ObservedAt.After(base) && len(b.sink.Messages()) == 0 {
		t.Fatalf("a section of a failed walk was stored (observed %s, baseline %s) before any complete walk", st.ObservedAt, base)
	}
	msgs := b.sink.WaitFor(t, 2, 30*time.Second)
	if len(msgs) != 2 {
		t.Fatalf("%d emails; want one per opening", len(msgs))
	}
	if q := b.queue(); q.DeadLetters != 0 {
		t.Errorf("%d dead letters; want none", q.DeadLetters)
	}
}

// A scroll context that expires mid-walk (404 "No search context found")
// makes the walk start over, and the complete walk alerts once.
func TestWalkScrollExpiryStartsOver(t *testing.T) {
	t.Parallel()
	sc, watched := bigSubject(450)
	b := setup(t, sc)
	b.watch("ana@example.edu", watched[2])
	b.startWorker("w1", nil)
	b.baseline(watched[2:])

	if err := b.sim.SetSeats(watched[2].Key(), 1, -1); err != nil {
		t.Fatal(err)
	}
	// The second page is held longer than the scroll's keep-alive, once.
	// A keep-alive of a second is still ample between pages on a loaded
	// machine; the delay stays under the harness's ASU_TIMEOUT.
	if err := b.sim.SetScrollKeepAlive(time.Second); err != nil {
		t.Fatal(err)
	}
	if err := b.sim.InjectFault(asusim.Fault{Kind: asusim.FaultDelay, DelayMS: 1700, Page: 2, Count: 1}); err != nil {
		t.Fatal(err)
	}
	before := b.sim.State(false)
	b.publishWalk("s1", watched[2])
	b.sink.WaitFor(t, 1, 30*time.Second)
	after := b.sim.State(false)
	if misses := after.ScrollMisses - before.ScrollMisses; misses < 1 {
		t.Fatalf("%d scroll misses; want the walk to have hit an expired scroll", misses)
	}
	if first := after.FirstPages - before.FirstPages; first < 2 {
		t.Fatalf("%d first pages; want the walk to have started over", first)
	}
	if n := len(b.sink.Messages()); n != 1 {
		t.Fatalf("%d emails; want 1", n)
	}
}

// A watched section absent from a complete walk is not found; back in the
// catalog, it is found again.
func TestWalkSectionRemovedIsNotFound(t *testing.T) {
	t.Parallel()
	sc, watched := bigSubject(250)
	b := setup(t, sc)
	b.watch("ana@example.edu", watched[1])
	b.watch("ben@example.edu", watched[2])
	b.startWorker("w1", nil)
	b.baseline(watched[1:])

	if err := b.sim.RemoveSection(watched[1].Key()); err != nil {
		t.Fatal(err)
	}
	b.publishWalk("s1", watched[1], watched[2])
	testenv.Eventually(t, 30*time.Second, func() error {
		st, err := b.db.GetSectionState(context.Background(), watched[1].Key())
		if err != nil {
			return err
		}
		if st.NotFoundAt == nil {
			return fmt.Errorf("%s not marked not found", watched[1].Key())
		}
		return nil
	})
	st, err := b.db.GetSectionState(context.Background(), watched[2].Key())
	if err != nil {
		t.Fatal(err)
	}
	if st.NotFoundAt != nil {
		t.Fatalf("%s, still in the catalog, marked not found", watched[2].Key())
	}
	if n := len(b.sink.Messages()); n != 0 {
		t.Fatalf("%d emails for a removed section; want none", n)
	}
}

// A worker SIGKILLed in the middle of a walk: another worker reclaims the
// entry, walks again from the first page and alerts once.
func TestWorkerKilledMidWalk(t *testing.T) {
	t.Parallel()
	sc, watched := bigSubject(450)
	b := setup(t, sc)
	b.watch("ana@example.edu", watched[2])
	over := map[string]string{"WORKER_VISIBILITY_TIMEOUT": "1500ms", "ASU_TIMEOUT": "1s"}
	stop := b.startWorker("first", over)
	b.baseline(watched[2:])
	stop()

	if err := b.sim.SetSeats(watched[2].Key(), 1, -1); err != nil {
		t.Fatal(err)
	}
	// The second page hangs, so the doomed worker is caught mid-walk (its
	// request times out, and the entry stays pending to it).
	if err := b.sim.InjectFault(asusim.Fault{Kind: asusim.FaultDelay, DelayMS: 30000, Page: 2, Count: 1}); err != nil {
		t.Fatal(err)
	}
	doomed := b.startProcess("worker", map[string]string{"WORKER_NAME": "doomed", "WORKER_VISIBILITY_TIMEOUT": "1500ms", "ASU_TIMEOUT": "1s"})
	before := b.sim.State(false)
	b.publishWalk("s1", watched[2])
	ctx := context.Background()
	testenv.Eventually(t, 30*time.Second, func() error {
		if b.sim.Requests() < before.Requests+2 {
			return fmt.Errorf("the walk has not asked for page 2 yet")
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
	testenv.Eventually(t, 30*time.Second, func() error {
		if q := b.queue(); q.Pending != 0 || q.DeadLetters != 0 {
			return fmt.Errorf("queue %+v", q)
		}
		return nil
	})
	if n := len(b.sink.Messages()); n != 1 {
		t.Fatalf("%d emails; want exactly 1", n)
	}
}
