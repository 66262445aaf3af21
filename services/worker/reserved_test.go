package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asusim"
	"github.com/pickmyclass/pickmyclass/pkg/notify/smtptest"
)

const reservedPath = asusim.BasePath + "/reservedseatsadditionalinfo"

// reservedLookups is how many reserved seat lookups the simulator served.
func (b *bundle) reservedLookups() int64 {
	return b.sim.State(false).RequestsByPath[reservedPath]
}

// walkAndWait publishes a walk of the watched sections and waits until it
// stored them.
func (b *bundle) walkAndWait(sweep string, watched ...asusim.SectionSpec) {
	b.t.Helper()
	since := time.Now()
	b.publishWalk(sweep, watched...)
	for _, s := range watched {
		b.observedAfter(s.Key(), since, 30*time.Second)
	}
}

// End to end over real HTTP, PostgreSQL, Redis and SMTP: seats that open
// only for a reserved group alert nobody by default and, once, the watcher
// who asked for reserved seats, naming the group; a seat that then opens to
// everyone alerts every watcher once. Reserved groups are looked up only
// when the section's seats changed.
func TestReservedSeatsAlerts(t *testing.T) {
	t.Parallel()
	sec := section("2267", "70412", "CSE", "240", 30, 30)
	sec.Reserved = true
	sec.ReservedGroups = []catalog.ReservedGroup{{Name: "Computer Science majors", Capacity: 5, Enrolled: 5}}
	other := section("2267", "70413", "CSE", "240", 30, 30)
	b := setup(t, scenario(sec, other))
	b.watch("plain@example.edu", sec)
	wants := b.watch("wants@example.edu", sec)
	views, err := b.db.ListWatches(context.Background(), wants.ID)
	if err != nil || len(views) != 1 {
		t.Fatalf("ListWatches: %v, %v", views, err)
	}
	if err := b.db.SetNotifyReserved(context.Background(), wants.ID, views[0].ID, true); err != nil {
		t.Fatal(err)
	}
	b.startWorker("w1", nil)
	b.walkAndWait("s0", sec)
	if n := b.reservedLookups(); n != 0 {
		t.Fatalf("%d reserved lookups for a full section; want none", n)
	}

	// Three majors' seats free up; nobody else's.
	if err := b.sim.SetReserved(sec.Key(), []catalog.ReservedGroup{{Name: "Computer Science majors", Capacity: 5, Enrolled: 2}}); err != nil {
		t.Fatal(err)
	}
	if err := b.sim.SetSeats(sec.Key(), 27, -1); err != nil {
		t.Fatal(err)
	}
	b.publishWalk("s1", sec)
	msgs := b.sink.WaitFor(t, 1, 30*time.Second)
	if got := recipients(msgs); len(got) != 1 || got[0] != "wants@example.edu" {
		t.Fatalf("recipients %v; want wants@ only", got)
	}
	if !strings.HasPrefix(msgs[0].Subject, "Reserved seats open: CSE 240 #70412") {
		t.Errorf("subject %q; want a reserved-seats label", msgs[0].Subject)
	}
	if body := text(t, msgs[0]); !strings.Contains(body, "Computer Science majors: 3 of 5 seats open") || !strings.Contains(body, "none open to everyone") {
		t.Errorf("body does not name the group:\n%s", body)
	}
	if n := b.reservedLookups(); n != 1 {
		t.Errorf("%d reserved lookups after the seats changed; want 1", n)
	}

	// Nothing changed: the groups are carried over, not looked up, and
	// nobody hears again (the plain watcher never heard at all).
	b.walkAndWait("s2", sec)
	if n := b.reservedLookups(); n != 1 {
		t.Errorf("%d reserved lookups after an unchanged walk; want still 1", n)
	}
	if n := len(b.sink.Messages()); n != 1 {
		t.Fatalf("%d emails after an unchanged walk; want 1", n)
	}

	// A student outside the group drops: one seat is open to everyone.
	if err := b.sim.SetSeats(sec.Key(), 26, -1); err != nil {
		t.Fatal(err)
	}
	b.publishWalk("s3", sec)
	msgs = b.sink.WaitFor(t, 3, 30*time.Second)
	got := map[string]int{}
	for _, m := range msgs[1:] {
		for _, to := range m.To {
			got[to]++
		}
		if !strings.HasPrefix(m.Subject, "Seat open: CSE 240 #70412") {
			t.Errorf("subject %q; want a seat open to everyone", m.Subject)
		}
	}
	if got["plain@example.edu"] != 1 || got["wants@example.edu"] != 1 {
		t.Fatalf("recipients of the general opening %v; want each watcher once", got)
	}
	b.walkAndWait("s4", sec)
	if n := len(b.sink.Messages()); n != 3 {
		t.Fatalf("%d emails after the seat stayed open; want 3", n)
	}
	st, err := b.db.GetSectionState(context.Background(), sec.Key())
	if err != nil {
		t.Fatal(err)
	}
	if st.Section.NonReservedOpen == nil || *st.Section.NonReservedOpen != 1 || len(st.Section.ReservedGroups) != 1 {
		t.Errorf("stored state: open to everyone %v, groups %v; want 1 and the majors", st.Section.NonReservedOpen, st.Section.ReservedGroups)
	}
}

// A failed lookup leaves the count unknown: no alert, not even a false
// "seat open"; the next walk that reads the groups alerts once.
func TestReservedLookupFailureNeverAlerts(t *testing.T) {
	t.Parallel()
	sec := section("2267", "70412", "CSE", "240", 30, 30)
	sec.Reserved = true
	sec.ReservedGroups = []catalog.ReservedGroup{{Name: "Honors", Capacity: 2, Enrolled: 2}}
	b := setup(t, scenario(sec))
	b.watch("plain@example.edu", sec)
	b.startWorker("w1", nil)
	b.walkAndWait("s0", sec)

	if err := b.sim.SetSeats(sec.Key(), 28, -1); err != nil { // two seats, both open to everyone
		t.Fatal(err)
	}
	if err := b.sim.InjectFault(asusim.Fault{Kind: asusim.FaultMalformed, Endpoint: "reservedseatsadditionalinfo", Count: 1}); err != nil {
		t.Fatal(err)
	}
	since := time.Now()
	b.publishWalk("s1", sec)
	st := b.observedAfter(sec.Key(), since, 30*time.Second)
	if f := b.sim.State(false).Faults; len(f) != 0 || st.Section.Enrolled != 28 {
		t.Fatalf("faults left %+v, stored enrolled %d; want the lookup to have taken the fault after the walk", f, st.Section.Enrolled)
	}
	if st.Section.NonReservedOpen != nil {
		t.Fatalf("open to everyone %d after a failed lookup; want unknown", *st.Section.NonReservedOpen)
	}
	if n := len(b.sink.Messages()); n != 0 {
		t.Fatalf("%d emails while the count is unknown; want none", n)
	}
	b.publishWalk("s2", sec)
	msgs := b.sink.WaitFor(t, 1, 30*time.Second)
	if got := recipients(msgs); len(got) != 1 || !strings.HasPrefix(msgs[0].Subject, "Seat open:") {
		t.Fatalf("after the groups were read: %v %q; want one seat-open alert", got, msgs[0].Subject)
	}
	b.walkAndWait("s3", sec)
	if n := len(b.sink.Messages()); n != 1 {
		t.Fatalf("%d emails; want exactly 1", n)
	}
}

func text(t *testing.T, m smtptest.Message) string {
	t.Helper()
	body, err := m.Part("text/plain")
	if err != nil {
		t.Fatal(fmt.Errorf("text part: %w", err))
	}
	return body
}
