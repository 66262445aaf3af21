package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asusim"
	"github.com/pickmyclass/pickmyclass/pkg/check"
	"github.com/pickmyclass/pickmyclass/pkg/notify/smtptest"
	"github.com/pickmyclass/pickmyclass/pkg/store"
	"github.com/pickmyclass/pickmyclass/pkg/store/storetest"
	"github.com/pickmyclass/pickmyclass/pkg/stream"
	"github.com/pickmyclass/pickmyclass/pkg/testenv"
)

// newWatch gives email (created once) a watch of any kind.
func (b *bundle) newWatch(email string, nw store.NewWatch) store.Watch {
	b.t.Helper()
	if b.users == nil {
		b.users = map[string]store.User{}
	}
	u, ok := b.users[email]
	if !ok {
		u = storetest.User(b.t, b.db, email)
		b.users[email] = u
	}
	w, err := b.db.CreateWatch(context.Background(), u.ID, nw, 100)
	if err != nil {
		b.t.Fatal(err)
	}
	return w
}

// baselined waits until a course or linked watch has seen its course.
func (b *bundle) baselined(watchID int64) {
	b.t.Helper()
	testenv.Eventually(b.t, 30*time.Second, func() error {
		var ok bool
		if err := b.db.Pool().QueryRow(context.Background(), `SELECT baselined FROM class_watches WHERE id = $1`, watchID).Scan(&ok); err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("watch %d has not seen its course yet", watchID)
		}
		return nil
	})
}

// mailsTo returns the messages the sink holds for to.
func mailsTo(msgs []smtptest.Message, to string) []smtptest.Message {
	var out []smtptest.Message
	for _, m := range msgs {
		if slices.Contains(m.To, to) {
			out = append(out, m)
		}
	}
	return out
}

// End to end over real HTTP, PostgreSQL, Redis and SMTP, with the scheduler
// as a real process: a course watch (in person only, seat-gone notice on)
// shares the course's check with a section watch; it alerts once when a
// matching section opens, naming it, not for a section its filter leaves
// out; once more for a section added to the catalog with seats; tells once
// when those seats are gone; and alerts again when one reopens.
func TestCourseWatchEndToEnd(t *testing.T) {
	t.Parallel()
	inPerson := section("2267", "70412", "CSE", "240", 2, 2)
	online := section("2267", "70413", "CSE", "240", 2, 2)
	online.Online = true
	b := setup(t, scenario(inPerson, online, section("2267", "71020", "MAT", "343", 3, 3)))
	b.watch("section@example.edu", inPerson)
	cw := b.newWatch("course@example.edu", store.NewWatch{Kind: catalog.WatchCourse, Term: "2267", Subject: "CSE", CatalogNbr: "240",
		Filter: catalog.Filter{Mode: catalog.ModeInPerson}, NotifyGone: true})

	b.startWorker("w1", nil)
	b.startProcess("scheduler", nil)
	b.baselined(cw.ID)

	// The online section opens: the filter leaves it out. Then the in-person
	// one opens: one alert each for the course and the section watcher.
	if err := b.sim.SetSeats(online.Key(), 1, -1); err != nil {
		t.Fatal(err)
	}
	b.observedAfter(online.Key(), time.Now(), 30*time.Second)
	if err := b.sim.SetSeats(inPerson.Key(), 1, -1); err != nil {
		t.Fatal(err)
	}
	msgs := b.sink.WaitFor(t, 2, 30*time.Second)
	course := mailsTo(msgs, "course@example.edu")
	if len(course) != 1 || len(mailsTo(msgs, "section@example.edu")) != 1 {
		t.Fatalf("recipients %v, want one alert each for course@ and section@", recipients(msgs))
	}
	if body := text(t, course[0]); !strings.Contains(body, "70412") || strings.Contains(body, "70413") {
		t.Errorf("course alert does not name just the in-person section:\n%s", body)
	}

	// A section added to the catalog with seats: a second course alert.
	added := section("2267", "70499", "CSE", "240", 30, 10)
	if err := b.sim.AddSection(added); err != nil {
		t.Fatal(err)
	}
	msgs = b.sink.WaitFor(t, 3, 30*time.Second)
	if course = mailsTo(msgs, "course@example.edu"); len(course) != 2 || !strings.Contains(text(t, course[1]), "70499") {
		t.Fatalf("after a section was added: %d course mails, want 2, the second naming 70499", len(course))
	}

	// Both open in-person sections fill: one notice that the seats are gone.
	if err := b.sim.SetSeats(inPerson.Key(), 2, -1); err != nil {
		t.Fatal(err)
	}
	if err := b.sim.SetSeats(added.Key(), 30, -1); err != nil {
		t.Fatal(err)
	}
	msgs = b.sink.WaitFor(t, 4, 30*time.Second)
	course = mailsTo(msgs, "course@example.edu")
	if len(course) != 3 || !strings.Contains(strings.ToLower(course[2].Subject+text(t, course[2])), "full again") &&
		!strings.Contains(strings.ToLower(course[2].Subject+text(t, course[2])), "taken") {
		t.Fatalf("after the seats filled: %d course mails, the last %q; want a seat-gone notice", len(course), course[len(course)-1].Subject)
	}
	// Two more sweeps while full send nothing; then a reopening alerts
	// both watchers once more.
	b.observedAfter(inPerson.Key(), time.Now().Add(2*time.Second), 30*time.Second)
	if n := len(b.sink.Messages()); n != 4 {
		t.Fatalf("%d mails while full, want 4", n)
	}
	if err := b.sim.SetSeats(inPerson.Key(), 1, -1); err != nil {
		t.Fatal(err)
	}
	msgs = b.sink.WaitFor(t, 6, 30*time.Second)
	if len(mailsTo(msgs, "course@example.edu")) != 4 || len(mailsTo(msgs, "section@example.edu")) != 2 {
		t.Fatalf("after reopening: recipients %v", recipients(msgs))
	}
}

// linkedPart is a section of CSE 310 tied to the lecture of section 0001.
func linkedPart(nbr, code, component string, enrolled int) asusim.SectionSpec {
	s := section("2267", nbr, "CSE", "310", 2, enrolled)
	s.Section, s.Component, s.Association = code, component, "0001"
	return s
}

// End to end: a lecture-with-lab watch alerts only when the lecture and one
// of its labs both have seats, naming that combination, once; and, asked
// to, tells once when the combination is no longer open.
func TestLinkedWatchEndToEnd(t *testing.T) {
	t.Parallel()
	lec := linkedPart("70500", "0001", "LEC", 2)
	labA := linkedPart("70501", "0002", "LAB", 2)
	labB := linkedPart("70502", "0003", "LAB", 2)
	b := setup(t, scenario(lec, labA, labB))
	lw := b.newWatch("linked@example.edu", store.NewWatch{Kind: catalog.WatchLinked, Term: "2267", ClassNbr: "70500",
		Subject: "CSE", CatalogNbr: "310", NotifyGone: true})
	b.startWorker("w1", nil)
	b.startProcess("scheduler", nil)
	b.baselined(lw.ID)

	// A lab opens while the lecture is full, then the lecture opens: only
	// now can the pair be taken.
	if err := b.sim.SetSeats(labB.Key(), 1, -1); err != nil {
		t.Fatal(err)
	}
	b.observedAfter(labB.Key(), time.Now(), 30*time.Second)
	b.observedAfter(labB.Key(), time.Now(), 30*time.Second)
	if n := len(b.sink.Messages()); n != 0 {
		t.Fatalf("%d mails with the lecture full, want none", n)
	}
	if err := b.sim.SetSeats(lec.Key(), 1, -1); err != nil {
		t.Fatal(err)
	}
	msgs := b.sink.WaitFor(t, 1, 30*time.Second)
	if body := text(t, msgs[0]); !strings.Contains(body, "70500") || !strings.Contains(body, "70502") || strings.Contains(body, "70501") {
		t.Errorf("the alert does not name the lecture with its open lab only:\n%s", body)
	}
	// The lab fills: one notice; the other lab opening later is a new
	// combination and a new alert.
	if err := b.sim.SetSeats(labB.Key(), 2, -1); err != nil {
		t.Fatal(err)
	}
	msgs = b.sink.WaitFor(t, 2, 30*time.Second)
	if got := strings.ToLower(msgs[1].Subject + text(t, msgs[1])); !strings.Contains(got, "no longer") && !strings.Contains(got, "taken") {
		t.Errorf("second mail %q is not a seat-gone notice", msgs[1].Subject)
	}
	if err := b.sim.SetSeats(labA.Key(), 1, -1); err != nil {
		t.Fatal(err)
	}
	msgs = b.sink.WaitFor(t, 3, 30*time.Second)
	if body := text(t, msgs[2]); !strings.Contains(body, "70501") {
		t.Errorf("the new combination's alert does not name lab 70501:\n%s", body)
	}
	b.observedAfter(labA.Key(), time.Now().Add(2*time.Second), 30*time.Second)
	if n := len(b.sink.Messages()); n != 3 {
		t.Fatalf("%d mails, want 3", n)
	}
}

// End to end: once a section's enrollment deadline passes, the scheduler
// stops its watches (a section watch, and a course watch once every section
// of the course is past its deadline), queues one summary email for their
// owner, and the university is asked about that course no more; another
// course keeps being checked.
func TestExpiredWatchesAreNotChecked(t *testing.T) {
	t.Parallel()
	a := section("2267", "70412", "CSE", "240", 2, 2)
	c := section("2267", "70413", "CSE", "240", 2, 2)
	other := section("2267", "71020", "MAT", "343", 3, 3)
	b := setup(t, scenario(a, c, other))
	u := b.watch("expiring@example.edu", a)
	b.newWatch("expiring@example.edu", store.NewWatch{Kind: catalog.WatchCourse, Term: "2267", Subject: "CSE", CatalogNbr: "240"})
	b.watch("other@example.edu", other)
	b.startWorker("w1", nil)
	b.startProcess("scheduler", map[string]string{"SCHEDULER_EXPIRY_EVERY": "1s"})
	b.observedAfter(a.Key(), time.Time{}, 30*time.Second)

	yesterday := time.Now().AddDate(0, 0, -1)
	for _, s := range []asusim.SectionSpec{a, c} {
		if err := b.sim.SetEnrollDeadline(s.Key(), yesterday); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	testenv.Eventually(t, 30*time.Second, func() error {
		var n int
		if err := b.db.Pool().QueryRow(ctx, `SELECT count(*) FROM class_watches WHERE user_id = $1 AND expired_at IS NOT NULL`, u.ID).Scan(&n); err != nil {
			return err
		}
		if n != 2 {
			return fmt.Errorf("%d of 2 watches expired", n)
		}
		return nil
	})
	var summaries int
	if err := b.db.Pool().QueryRow(ctx, `SELECT count(*) FROM mail_outbox WHERE to_addr = $1`, u.Email).Scan(&summaries); err != nil || summaries != 1 {
		t.Fatalf("%d summaries queued (%v), want 1", summaries, err)
	}
	// Checks enqueued before the expiry drain within two sweeps of the
	// other course; from then on CSE 240 is never searched again.
	course := catalog.CourseKey{Term: "2267", Subject: "CSE", CatalogNbr: "240"}
	for range 2 {
		b.observedAfter(other.Key(), time.Now(), 30*time.Second)
	}
	before := b.sim.CourseSearches(course)
	for range 3 {
		b.observedAfter(other.Key(), time.Now(), 30*time.Second)
	}
	if after := b.sim.CourseSearches(course); after != before {
		t.Errorf("CSE 240 searched %d more times after its watches expired", after-before)
	}
	if n := b.sim.CourseSearches(catalog.CourseKey{Term: "2267", Subject: "MAT", CatalogNbr: "343"}); n < 5 {
		t.Errorf("MAT 343 searched %d times, want at least 5", n)
	}
}

// publishWhole enqueues a check of a whole course for a sweep, as the
// scheduler does for course and linked watches.
func (b *bundle) publishWhole(sweep string, course catalog.CourseKey) {
	b.t.Helper()
	msg, err := check.Message(check.Check{Course: course, WholeCourse: true, Sweep: sweep, EnqueuedAt: time.Now()})
	if err != nil {
		b.t.Fatal(err)
	}
	if _, err := stream.NewPublisher(b.rdb, b.keys.Stream(), stream.PublisherOptions{}).Publish(context.Background(), msg); err != nil {
		b.t.Fatal(err)
	}
}

// A worker SIGKILLed while it holds the whole-course check that sees a
// course watch's opening: another worker reclaims it, and the watcher gets
// exactly one alert.
func TestKilledWorkerCourseWatchAlertsOnce(t *testing.T) {
	t.Parallel()
	a := section("2267", "70412", "CSE", "240", 2, 2)
	b := setup(t, scenario(a, section("2267", "70413", "CSE", "240", 2, 2)))
	cw := b.newWatch("course@example.edu", store.NewWatch{Kind: catalog.WatchCourse, Term: "2267", Subject: "CSE", CatalogNbr: "240"})
	over := map[string]string{"WORKER_VISIBILITY_TIMEOUT": "1500ms", "ASU_TIMEOUT": "1s"}
	course := catalog.CourseKey{Term: "2267", Subject: "CSE", CatalogNbr: "240"}

	stop := b.startWorker("first", over)
	b.publishWhole("c1", course)
	b.baselined(cw.ID)
	stop()

	if err := b.sim.SetSeats(a.Key(), 1, -1); err != nil {
		t.Fatal(err)
	}
	if err := b.sim.InjectFault(asusim.Fault{Kind: asusim.FaultDelay, DelayMS: 30000, Count: 1}); err != nil {
		t.Fatal(err)
	}
	before := b.sim.Requests()
	b.crashHolding(func() { b.publishWhole("c2", course) }, func() error {
		if b.sim.Requests() == before {
			return fmt.Errorf("no upstream request yet")
		}
		return nil
	})
	b.startWorker("rescuer", over)
	b.sink.WaitFor(t, 1, 30*time.Second)
	testenv.Eventually(t, 20*time.Second, func() error {
		if q := b.queue(); q.Pending != 0 || q.Lag != 0 {
			return fmt.Errorf("queue %+v", q)
		}
		return nil
	})
	// Applying the same course again claims nothing more.
	b.publishWhole("c3", course)
	b.observedAfter(a.Key(), time.Now(), 20*time.Second)
	if n := len(b.sink.Messages()); n != 1 {
		t.Fatalf("%d emails, want exactly 1", n)
	}
}
