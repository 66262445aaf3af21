package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/breaker"
	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asusim"
	"github.com/pickmyclass/pickmyclass/pkg/check"
	"github.com/pickmyclass/pickmyclass/pkg/stream"
	"github.com/pickmyclass/pickmyclass/pkg/testenv"
)

// A watch on a full section: no email on the first observation; exactly one
// email per active watcher when a seat opens; none while it stays open; a
// second one after it fills and opens again. The scheduler runs as a real
// process on a one-second cycle, the workers as two in-process services.
func TestSeatOpensEmailsEachWatcherOnce(t *testing.T) {
	t.Parallel()
	full := section("2267", "70412", "CSE", "240", 2, 2)
	other := section("2267", "71020", "MAT", "343", 3, 3)
	b := setup(t, scenario(full, section("2267", "70413", "CSE", "240", 10, 5), other))
	b.watch("ana@example.edu", full)
	b.watch("ben@example.edu", full)
	b.watch("cai@example.edu", other)
	off := b.watch("dee@example.edu", full)
	if err := b.db.SetNotifications(context.Background(), off.ID, false); err != nil {
		t.Fatal(err)
	}

	b.startWorker("w1", nil)
	b.startWorker("w2", nil)
	b.startProcess("scheduler", nil)

	key := catalog.SectionKey{Term: "2267", ClassNbr: "70412"}
	first := b.observedAfter(key, time.Time{}, 30*time.Second)
	if first.OpenSeats != 0 {
		t.Fatalf("first observation open seats = %d, want 0", first.OpenSeats)
	}
	if err := b.sim.SetSeats(key, 1, -1); err != nil {
		t.Fatal(err)
	}
	opened := time.Now()
	msgs := b.sink.WaitFor(t, 2, 30*time.Second)
	got := recipients(msgs)
	slices.Sort(got)
	if want := []string{"ana@example.edu", "ben@example.edu"}; !slices.Equal(got, want) {
		t.Fatalf("alert recipients = %v, want %v", got, want)
	}
	for _, m := range msgs {
		if !strings.Contains(m.Subject, "70412") || !strings.Contains(m.Subject, "CSE 240") {
			t.Errorf("subject %q does not name the section", m.Subject)
		}
		if m.Header.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" || m.Header.Get("List-Unsubscribe") == "" {
			t.Errorf("missing one-click unsubscribe headers: %v", m.Header)
		}
	}
	// Two more cycles with the seat still open send nothing more.
	b.observedAfter(key, opened.Add(2500*time.Millisecond), 30*time.Second)
	if n := len(b.sink.Messages()); n != 2 {
		t.Fatalf("%d emails after the seat stayed open, want 2", n)
	}

	if err := b.sim.SetSeats(key, 2, -1); err != nil {
		t.Fatal(err)
	}
	filled := time.Now()
	testenv.Eventually(t, 30*time.Second, func() error {
		st := b.observedAfter(key, filled, 30*time.Second)
		if st.OpenSeats != 0 {
			return fmt.Errorf("open seats %d", st.OpenSeats)
		}
		return nil
	})
	if err := b.sim.SetSeats(key, 1, -1); err != nil {
		t.Fatal(err)
	}
	msgs = b.sink.WaitFor(t, 4, 30*time.Second)
	got = recipients(msgs)
	slices.Sort(got)
	if want := []string{"ana@example.edu", "ana@example.edu", "ben@example.edu", "ben@example.edu"}; !slices.Equal(got, want) {
		t.Fatalf("recipients after the second opening = %v, want %v", got, want)
	}
	if msgs[2].MessageID == msgs[0].MessageID {
		t.Errorf("the second alert reused the first one's Message-ID %s", msgs[0].MessageID)
	}
}

// The same class number in two terms is two sections: a seat opening in one
// alerts only its own watchers.
func TestSameClassNumberInTwoTerms(t *testing.T) {
	t.Parallel()
	fall := section("2267", "70412", "CSE", "240", 2, 2)
	spring := section("2271", "70412", "MAT", "343", 2, 2)
	b := setup(t, scenario(fall, spring))
	b.watch("fall@example.edu", fall)
	b.watch("spring@example.edu", spring)
	b.startWorker("w1", nil)

	b.publish("c1", fall, spring)
	fallKey, springKey := fall.Key(), spring.Key()
	b.observedAfter(fallKey, time.Time{}, 20*time.Second)
	b.observedAfter(springKey, time.Time{}, 20*time.Second)

	if err := b.sim.SetSeats(springKey, 1, -1); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	b.publish("c2", fall, spring)
	b.observedAfter(fallKey, before, 20*time.Second)
	st := b.observedAfter(springKey, before, 20*time.Second)
	msgs := b.sink.WaitFor(t, 1, 20*time.Second)
	if got := recipients(msgs); !slices.Equal(got, []string{"spring@example.edu"}) {
		t.Fatalf("recipients = %v, want only the spring watcher", got)
	}
	if !strings.Contains(msgs[0].Subject, "MAT 343") {
		t.Errorf("subject %q is not about the spring section", msgs[0].Subject)
	}
	fallSt, err := b.db.GetSectionState(context.Background(), fallKey)
	if err != nil {
		t.Fatal(err)
	}
	if fallSt.OpenSeats != 0 || st.OpenSeats != 1 || fallSt.Section.Subject != "CSE" || st.Section.Subject != "MAT" {
		t.Errorf("states mixed up: fall %+v, spring %+v", fallSt.Section, st.Section)
	}
}

// A malformed entry, or one of a type no worker knows, is dead-lettered at
// once with its reason (retrying cannot help it); the entries around it are
// handled normally and nothing stays pending.
func TestMalformedEntryIsDeadLettered(t *testing.T) {
	t.Parallel()
	sec := section("2267", "70412", "CSE", "240", 2, 2)
	b := setup(t, scenario(sec))
	b.watch("ana@example.edu", sec)
	pub := stream.NewPublisher(b.rdb, b.keys.Stream(), stream.PublisherOptions{})
	if _, err := pub.Publish(context.Background(),
		stream.Message{Type: check.MessageType, Data: []byte("\xffnot a check")},
		stream.Message{Type: "pickmyclass.stream.v9.Unknown", Data: []byte("{}")},
	); err != nil {
		t.Fatal(err)
	}
	b.publish("c1", sec)
	b.startWorker("w1", nil)

	b.observedAfter(sec.Key(), time.Time{}, 20*time.Second)
	testenv.Eventually(t, 20*time.Second, func() error {
		q := b.queue()
		if q.DeadLetters != 2 || q.Pending != 0 {
			return fmt.Errorf("dead letters %d, pending %d", q.DeadLetters, q.Pending)
		}
		return nil
	})
	dead, err := stream.DeadLetters(context.Background(), b.rdb, b.keys.DeadLetter(), 10)
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]string{}
	for _, d := range dead {
		reasons[d.Type] = d.Reason
	}
	if !strings.Contains(reasons[check.MessageType], "invalid check") || !strings.Contains(reasons["pickmyclass.stream.v9.Unknown"], "no handler") {
		t.Fatalf("dead-letter reasons = %v, want the decode failure and the unknown type", reasons)
	}
}

// An upstream that keeps failing: the entry is retried up to the delivery
// limit, then dead-lettered with its reason and delivery count.
func TestFailingCheckIsDeadLetteredAfterDeliveryLimit(t *testing.T) {
	t.Parallel()
	sec := section("2267", "70412", "CSE", "240", 2, 2)
	b := setup(t, scenario(sec))
	b.watch("ana@example.edu", sec)
	if err := b.sim.InjectFault(asusim.Fault{Kind: asusim.FaultStatus, Status: 500}); err != nil {
		t.Fatal(err)
	}
	b.publish("c1", sec)
	b.startWorker("w1", map[string]string{"WORKER_VISIBILITY_TIMEOUT": "300ms", "ASU_TIMEOUT": "200ms"})

	testenv.Eventually(t, 30*time.Second, func() error {
		if q := b.queue(); q.DeadLetters != 1 || q.Pending != 0 {
			return fmt.Errorf("dead letters %d, pending %d", q.DeadLetters, q.Pending)
		}
		return nil
	})
	dead, err := stream.DeadLetters(context.Background(), b.rdb, b.keys.DeadLetter(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if dead[0].Deliveries < 3 || dead[0].Reason == "" {
		t.Errorf("dead letter = %+v, want ≥ 3 deliveries and a reason", dead[0])
	}
	if got := b.sim.Requests(); got != 3 {
		t.Errorf("upstream requests = %d, want exactly 3 (one per delivery)", got)
	}
}

// Upstream 500s open the shared breaker after 10 consecutive failures counted
// across two workers; while it is open no request reaches the university;
// once the university recovers, probes close it and every check completes.
func TestBreakerOpensAcrossWorkersAndRecovers(t *testing.T) {
	t.Parallel()
	var secs []asusim.SectionSpec
	for i := range 12 {
		secs = append(secs, section("2267", fmt.Sprintf("%05d", 30000+i), "CSE", fmt.Sprint(100+i), 2, 2))
	}
	b := setup(t, scenario(secs...))
	for _, s := range secs {
		b.watch("ana@example.edu", s)
	}
	if err := b.sim.InjectFault(asusim.Fault{Kind: asusim.FaultStatus, Status: 500}); err != nil {
		t.Fatal(err)
	}
	over := map[string]string{
		"WORKER_VISIBILITY_TIMEOUT": "300ms", "ASU_TIMEOUT": "200ms", "WORKER_MAX_DELIVERIES": "100",
		"BREAKER_OPEN_TIMEOUT": "3s", "WORKER_CONCURRENCY": "2",
	}
	b.startWorker("w1", over)
	b.startWorker("w2", over)
	b.publish("c1", secs...)

	brk, err := breaker.New(b.rdb, breaker.Config{Name: "asu-test", Key: b.keys.Breaker(check.University)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var openedAt time.Time
	testenv.Eventually(t, 20*time.Second, func() error {
		st, err := brk.State(ctx)
		if err != nil {
			return err
		}
		if st.State != breaker.Open {
			return fmt.Errorf("breaker %s with %d failures", st.State, st.Failures)
		}
		openedAt = st.OpenedAt
		return nil
	})
	// Checks keep arriving and are deferred without calling the university.
	deferred := func(want int64) {
		testenv.Eventually(t, 20*time.Second, func() error {
			n, err := b.rdb.ZCard(ctx, b.keys.Delayed()).Result()
			if err != nil {
				return err
			}
			if n < want {
				return fmt.Errorf("%d deferred checks", n)
			}
			return nil
		})
	}
	deferred(8)
	// Counted once handlers are deferring, so the requests let through just
	// before the breaker opened (four handlers may have had one in flight)
	// have reached the simulator even on a loaded machine.
	atOpen := b.sim.Requests()
	if atOpen < 10 || atOpen > 14 {
		t.Errorf("requests when the breaker opened = %d, want 10 to 14", atOpen)
	}
	deferred(10)
	// Read the count first: if the breaker is still in the same open period
	// afterwards, no probe can have gone out before the count was taken.
	got := b.sim.Requests()
	st, err := brk.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.State == breaker.Open && st.OpenedAt.Equal(openedAt) && got != atOpen {
		t.Fatalf("the university got %d requests while the breaker was open", got-atOpen)
	}

	b.sim.ClearFaults()
	for _, s := range secs {
		b.observedAfter(s.Key(), time.Time{}, 40*time.Second)
	}
	st, err = brk.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != breaker.Closed {
		t.Errorf("breaker %s after recovery, want closed", st.State)
	}
	if q := b.queue(); q.DeadLetters != 0 {
		t.Errorf("%d dead letters, want none: the breaker defers, it does not fail checks", q.DeadLetters)
	}
}

// A 429 with Retry-After: the worker waits at least that long before asking
// again, and neither the breaker nor the dead-letter stream hears of it.
func TestRateLimitIsHonoured(t *testing.T) {
	t.Parallel()
	sec := section("2267", "70412", "CSE", "240", 2, 2)
	b := setup(t, scenario(sec))
	b.watch("ana@example.edu", sec)
	if err := b.sim.InjectFault(asusim.Fault{Kind: asusim.FaultStatus, Status: 429, RetryAfterSeconds: 1, Count: 1}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	b.publish("c1", sec)
	b.startWorker("w1", map[string]string{"ASU_BACKOFF_BASE": "100ms"})

	st := b.observedAfter(sec.Key(), time.Time{}, 20*time.Second)
	if waited := st.ObservedAt.Sub(start); waited < time.Second {
		t.Errorf("checked again after %s, before Retry-After (1s)", waited)
	}
	if got := b.sim.Requests(); got != 2 {
		t.Errorf("upstream requests = %d, want 2 (the 429, then the retry)", got)
	}
	brk, err := breaker.New(b.rdb, breaker.Config{Name: "asu-test", Key: b.keys.Breaker(check.University)})
	if err != nil {
		t.Fatal(err)
	}
	bs, err := brk.State(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if bs.State != breaker.Closed || bs.Failures != 0 {
		t.Errorf("breaker = %+v, want closed with no failures", bs)
	}
	// The state is written before the entry is acked: wait for the ack.
	testenv.Eventually(t, 10*time.Second, func() error {
		if q := b.queue(); q.DeadLetters != 0 || q.Pending != 0 {
			return fmt.Errorf("queue = %+v, want nothing dead or pending", q)
		}
		return nil
	})
}

// SMTP down while a seat opens: the claim is released, and the email goes
// out once SMTP is back — once. Handling the same check again after the
// email was accepted sends nothing more.
func TestSMTPOutageDelaysButNeverDuplicates(t *testing.T) {
	t.Parallel()
	sec := section("2267", "70412", "CSE", "240", 2, 2)
	b := setup(t, scenario(sec))
	b.watch("ana@example.edu", sec)
	b.startWorker("w1", nil)
	b.publish("c1", sec)
	b.observedAfter(sec.Key(), time.Time{}, 20*time.Second)

	b.sink.SetFailure(451, "try again later")
	if err := b.sim.SetSeats(sec.Key(), 1, -1); err != nil {
		t.Fatal(err)
	}
	b.publish("c2", sec)
	ctx := context.Background()
	testenv.Eventually(t, 20*time.Second, func() error {
		var status string
		var attempts int
		err := b.db.Pool().QueryRow(ctx, `SELECT status, attempts FROM notifications`).Scan(&status, &attempts)
		if err != nil {
			return err
		}
		if status != "pending" || attempts < 2 {
			return fmt.Errorf("notification %s after %d attempts", status, attempts)
		}
		return nil
	})
	if n := len(b.sink.Messages()); n != 0 {
		t.Fatalf("%d emails accepted while SMTP refused them", n)
	}

	b.sink.SetFailure(0, "")
	b.sink.WaitFor(t, 1, 20*time.Second)
	testenv.Eventually(t, 10*time.Second, func() error {
		var status string
		if err := b.db.Pool().QueryRow(ctx, `SELECT status FROM notifications`).Scan(&status); err != nil {
			return err
		}
		if status != "sent" {
			return errors.New(status)
		}
		return nil
	})
	// The same check delivered again, and another cycle: no second email.
	again := time.Now()
	b.publish("c2", sec)
	b.publish("c3", sec)
	testenv.Eventually(t, 20*time.Second, func() error {
		if q := b.queue(); q.Pending != 0 || q.Lag != 0 {
			return fmt.Errorf("queue %+v", q)
		}
		return nil
	})
	b.observedAfter(sec.Key(), again, 20*time.Second)
	if n := len(b.sink.Messages()); n != 1 {
		t.Fatalf("%d emails, want exactly 1", n)
	}
}
