package catalog

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// sec is a section of CSE 240 with seats open of capacity 30.
func sec(nbr string, open int, opts ...func(*Section)) Section {
	s := Section{Term: "2267", ClassNbr: nbr, Subject: "CSE", CatalogNbr: "240", Capacity: 30, Enrolled: 30 - open, Status: StatusOpen}
	if open <= 0 {
		s.Status = StatusClosed
	}
	for _, o := range opts {
		o(&s)
	}
	return s
}

func online(s *Section)    { s.Online = true }
func cancelled(s *Section) { s.Status = StatusCancelled }
func meets(days, start, end string) func(*Section) {
	return func(s *Section) { s.Meetings = []Meeting{{Days: days, StartTime: start, EndTime: end}} }
}
func taughtBy(name string) func(*Section) {
	return func(s *Section) { s.Instructors = []Instructor{{Name: name}} }
}
func lecture(assoc string) func(*Section) {
	return func(s *Section) { s.Component, s.Association, s.Primary = "LEC", assoc, true }
}
func lab(assoc string) func(*Section) {
	return func(s *Section) { s.Component, s.Association = "LAB", assoc }
}

var (
	t0    = time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)
	fresh = t0.Add(-time.Minute) // a baseline observed within the stale bound
	stale = t0.Add(-time.Hour)   // the bound
)

// change is a section going from prev to cur, its previous observation
// fresh.
func change(prev, cur Section) SectionChange {
	return SectionChange{Prev: &prev, Cur: cur, BaselineAt: fresh}
}

func same(s Section) SectionChange { return change(s, s) }

func TestEvaluateCourseWatch(t *testing.T) {
	t.Parallel()
	base := WatchState{Baselined: true}
	tests := []struct {
		name  string
		rule  WatchRule
		state WatchState
		secs  []SectionChange
		alert []string
		gone  bool
		open  bool
		epoch int
	}{
		{name: "nothing open", state: base, secs: []SectionChange{same(sec("1", 0)), same(sec("2", 0))}},
		{name: "one section opens", state: base, secs: []SectionChange{change(sec("1", 0), sec("1", 2)), same(sec("2", 0))},
			alert: []string{"1"}, open: true, epoch: 1},
		{name: "two open at once: one alert naming both", state: base,
			secs:  []SectionChange{change(sec("2", 0), sec("2", 1)), change(sec("1", 0), sec("1", 3))},
			alert: []string{"1", "2"}, open: true, epoch: 1},
		{name: "already open stays quiet", state: WatchState{Baselined: true, Epoch: 1, Open: true, Nbrs: []string{"1"}},
			secs: []SectionChange{same(sec("1", 2))}, open: true, epoch: 1},
		{name: "another section opens while one is open: both named", state: WatchState{Baselined: true, Epoch: 1, Open: true, Nbrs: []string{"1"}},
			secs:  []SectionChange{same(sec("1", 2)), change(sec("2", 0), sec("2", 1))},
			alert: []string{"1", "2"}, open: true, epoch: 2},
		{name: "another opens after one alerted refilled: only the open one named", state: WatchState{Baselined: true, Epoch: 1, Open: true, Nbrs: []string{"1"}},
			secs:  []SectionChange{change(sec("1", 1), sec("1", 0)), change(sec("2", 0), sec("2", 1))},
			alert: []string{"2"}, open: true, epoch: 2},
		{name: "over-enrolled to open", state: base,
			secs:  []SectionChange{change(Section{Term: "2267", ClassNbr: "1", Capacity: 30, Enrolled: 33, Status: StatusOpen}, sec("1", 1))},
			alert: []string{"1"}, open: true, epoch: 1},
		{name: "over-enrolment is no seat", state: base,
			secs: []SectionChange{change(sec("1", 0), Section{Term: "2267", ClassNbr: "1", Capacity: 30, Enrolled: 31, Status: StatusOpen})}},
		{name: "cancelled section never opens", state: base, secs: []SectionChange{change(sec("1", 0), sec("1", 5, cancelled))}},
		{name: "new section with seats, course seen before", state: base,
			secs: []SectionChange{same(sec("1", 0)), {Cur: sec("9", 10)}}, alert: []string{"9"}, open: true, epoch: 1},
		{name: "first sight of the course is a baseline", state: WatchState{},
			secs: []SectionChange{{Cur: sec("1", 3)}, {Cur: sec("2", 0)}}},
		{name: "new full section is no opening", state: base, secs: []SectionChange{{Cur: sec("9", 0)}}},
		{name: "a missing section is not open", state: base,
			secs: []SectionChange{{Prev: ptrTo(sec("1", 0)), Cur: sec("1", 4), Missing: true, BaselineAt: fresh}}},
		{name: "alerted section refills: gone, notice asked", rule: WatchRule{NotifyGone: true},
			state: WatchState{Baselined: true, Epoch: 1, Open: true, Nbrs: []string{"1"}},
			secs:  []SectionChange{change(sec("1", 1), sec("1", 0))}, gone: true, epoch: 1},
		{name: "alerted section refills: gone, no notice asked",
			state: WatchState{Baselined: true, Epoch: 1, Open: true, Nbrs: []string{"1"}},
			secs:  []SectionChange{change(sec("1", 1), sec("1", 0))}, epoch: 1},
		{name: "one of two alerted sections refills: not gone", rule: WatchRule{NotifyGone: true},
			state: WatchState{Baselined: true, Epoch: 1, Open: true, Nbrs: []string{"1", "2"}},
			secs:  []SectionChange{change(sec("1", 1), sec("1", 0)), same(sec("2", 1))}, open: true, epoch: 1},
		{name: "alerted section disappears: gone", rule: WatchRule{NotifyGone: true},
			state: WatchState{Baselined: true, Epoch: 1, Open: true, Nbrs: []string{"1"}},
			secs:  []SectionChange{{Prev: ptrTo(sec("1", 1)), Cur: sec("1", 1), Missing: true, BaselineAt: fresh}}, gone: true, epoch: 1},
		{name: "refilled and reopened: a second alert", state: WatchState{Baselined: true, Epoch: 1},
			secs: []SectionChange{change(sec("1", 0), sec("1", 1))}, alert: []string{"1"}, open: true, epoch: 2},
		{name: "stale baseline, watch made after it", rule: WatchRule{CreatedAt: t0.Add(-time.Minute)}, state: base,
			secs: []SectionChange{{Prev: ptrTo(sec("1", 0)), Cur: sec("1", 2), BaselineAt: stale.Add(-time.Hour)}}},
		{name: "stale baseline, watch made before it", rule: WatchRule{CreatedAt: stale.Add(-2 * time.Hour)}, state: base,
			secs:  []SectionChange{{Prev: ptrTo(sec("1", 0)), Cur: sec("1", 2), BaselineAt: stale.Add(-time.Hour)}},
			alert: []string{"1"}, open: true, epoch: 1},
		{name: "filter: only in person", rule: WatchRule{Filter: Filter{Mode: ModeInPerson}}, state: base,
			secs:  []SectionChange{change(sec("1", 0, online), sec("1", 2, online)), change(sec("2", 0), sec("2", 2))},
			alert: []string{"2"}, open: true, epoch: 1},
		{name: "filter: online only, none matches", rule: WatchRule{Filter: Filter{Mode: ModeOnline}}, state: base,
			secs: []SectionChange{change(sec("2", 0), sec("2", 2))}},
		{name: "filter: after 10:00", rule: WatchRule{Filter: Filter{After: "10:00"}}, state: base,
			secs: []SectionChange{change(sec("1", 0, meets("M W", "9:00 AM", "10:15 AM")), sec("1", 1, meets("M W", "9:00 AM", "10:15 AM"))),
				change(sec("2", 0, meets("T Th", "1:30 PM", "2:45 PM")), sec("2", 1, meets("T Th", "1:30 PM", "2:45 PM")))},
			alert: []string{"2"}, open: true, epoch: 1},
		{name: "filter: days", rule: WatchRule{Filter: Filter{Days: []string{"T", "Th"}}}, state: base,
			secs: []SectionChange{change(sec("1", 0, meets("MWF", "9:00 AM", "9:50 AM")), sec("1", 1, meets("MWF", "9:00 AM", "9:50 AM"))),
				change(sec("2", 0, meets("TTh", "9:00 AM", "10:15 AM")), sec("2", 1, meets("TTh", "9:00 AM", "10:15 AM")))},
			alert: []string{"2"}, open: true, epoch: 1},
		{name: "filter: instructor named while open", rule: WatchRule{Filter: Filter{Instructor: "lovelace"}}, state: base,
			secs:  []SectionChange{change(sec("1", 2), sec("1", 2, taughtBy("Ada Lovelace")))},
			alert: []string{"1"}, open: true, epoch: 1},
		{name: "reserved seats only: not for a plain watch", state: base,
			secs: []SectionChange{change(sec("1", 0), Section{Term: "2267", ClassNbr: "1", Capacity: 30, Enrolled: 25, Status: StatusOpen, HasReservedSeats: true, NonReservedOpen: ptr(0)})}},
		{name: "reserved seats only: for a watch that asks", rule: WatchRule{NotifyReserved: true}, state: base,
			secs:  []SectionChange{change(sec("1", 0), Section{Term: "2267", ClassNbr: "1", Capacity: 30, Enrolled: 25, Status: StatusOpen, HasReservedSeats: true, NonReservedOpen: ptr(0)})},
			alert: []string{"1"}, open: true, epoch: 1},
		{name: "reserved count unknown is no seat", state: base,
			secs: []SectionChange{change(sec("1", 0), Section{Term: "2267", ClassNbr: "1", Capacity: 30, Enrolled: 25, Status: StatusOpen, HasReservedSeats: true})}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rule := tc.rule
			rule.Kind = WatchCourse
			out := Evaluate(rule, tc.state, tc.secs, stale)
			if diff := cmp.Diff(tc.alert, out.Alert); diff != "" {
				t.Errorf("alert (-want +got):\n%s", diff)
			}
			if out.Gone != tc.gone || out.State.Open != tc.open || out.State.Epoch != tc.epoch || !out.State.Baselined {
				t.Errorf("gone %t open %t epoch %d baselined %t, want gone %t open %t epoch %d baselined",
					out.Gone, out.State.Open, out.State.Epoch, out.State.Baselined, tc.gone, tc.open, tc.epoch)
			}
		})
	}
}

func ptrTo(s Section) *Section { return &s }

func TestEvaluateLinkedWatch(t *testing.T) {
	t.Parallel()
	lec := func(open int) Section { return sec("100", open, lecture("1")) }
	labA := func(open int) Section { return sec("101", open, lab("1")) }
	labB := func(open int) Section { return sec("102", open, lab("1")) }
	other := sec("201", 5, lab("2")) // a lab of another lecture
	tests := []struct {
		name  string
		rule  WatchRule
		state WatchState
		secs  []SectionChange
		alert []string
		gone  bool
		open  bool
	}{
		{name: "lecture open, its labs full", secs: []SectionChange{same(lec(3)), same(labA(0)), same(labB(0)), same(other)}},
		{name: "lab open, lecture full", secs: []SectionChange{same(lec(0)), same(labA(2))}},
		{name: "both open", secs: []SectionChange{same(lec(3)), same(labA(0)), same(labB(1))}, alert: []string{"100", "102"}, open: true},
		{name: "both labs open: the alert names both", secs: []SectionChange{same(lec(1)), same(labA(1)), same(labB(1))},
			alert: []string{"100", "101", "102"}, open: true},
		{name: "already open stays quiet", state: WatchState{Epoch: 1, Open: true, Nbrs: []string{"100", "101"}},
			secs: []SectionChange{same(lec(1)), same(labA(1))}, open: true},
		{name: "lab refills: gone, notice asked", rule: WatchRule{NotifyGone: true}, state: WatchState{Epoch: 1, Open: true, Nbrs: []string{"100", "101"}},
			secs: []SectionChange{same(lec(1)), change(labA(1), labA(0))}, gone: true},
		{name: "open at creation, then closes: no notice for what was never alerted", rule: WatchRule{NotifyGone: true},
			state: WatchState{Open: true}, secs: []SectionChange{same(lec(0)), same(labA(1))}},
		{name: "lecture without labs alerts alone", secs: []SectionChange{same(sec("100", 2, lecture("")))}, alert: []string{"100"}, open: true},
		{name: "lecture cancelled", secs: []SectionChange{same(sec("100", 2, lecture("1"), cancelled)), same(labA(2))}},
		{name: "lecture missing", secs: []SectionChange{{Prev: ptrTo(lec(2)), Cur: lec(2), Missing: true}, same(labA(2))}},
		{name: "missing lab does not count", secs: []SectionChange{same(lec(2)), {Prev: ptrTo(labA(2)), Cur: labA(2), Missing: true}, same(labB(0))}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rule := tc.rule
			rule.Kind, rule.ClassNbr = WatchLinked, "100"
			out := Evaluate(rule, tc.state, tc.secs, stale)
			if diff := cmp.Diff(tc.alert, out.Alert); diff != "" {
				t.Errorf("alert (-want +got):\n%s", diff)
			}
			wantEpoch := tc.state.Epoch
			if len(tc.alert) > 0 {
				wantEpoch++
			}
			if out.Gone != tc.gone || out.State.Open != tc.open || out.State.Epoch != wantEpoch {
				t.Errorf("gone %t open %t epoch %d, want gone %t open %t epoch %d", out.Gone, out.State.Open, out.State.Epoch, tc.gone, tc.open, wantEpoch)
			}
		})
	}
}

func TestSeatGone(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		prev *Section
		next Section
		want bool
	}{
		{name: "first observation", next: sec("1", 0)},
		{name: "fills", prev: ptrTo(sec("1", 2)), next: sec("1", 0), want: true},
		{name: "over-enrolled", prev: ptrTo(sec("1", 2)), next: Section{Capacity: 30, Enrolled: 32, Status: StatusOpen}, want: true},
		{name: "cancelled", prev: ptrTo(sec("1", 2)), next: sec("1", 2, cancelled), want: true},
		{name: "still open", prev: ptrTo(sec("1", 2)), next: sec("1", 1)},
		{name: "was full", prev: ptrTo(sec("1", 0)), next: sec("1", 0)},
		{name: "counts left out", prev: ptrTo(sec("1", 2)), next: Section{Status: StatusUnknown}},
	}
	for _, tc := range tests {
		if got := SeatGone(tc.prev, tc.next); got != tc.want {
			t.Errorf("%s: SeatGone = %t, want %t", tc.name, got, tc.want)
		}
	}
}

func TestFilterNormalize(t *testing.T) {
	t.Parallel()
	f, err := Filter{Mode: " In_Person ", Campus: "tempe", Days: []string{"th", "M", "T", "M"}, After: "09:30", Before: "17:00"}.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	want := Filter{Mode: ModeInPerson, Campus: "TEMPE", Days: []string{"M", "T", "Th"}, After: "09:30", Before: "17:00"}
	if diff := cmp.Diff(want, f); diff != "" {
		t.Errorf("normalized (-want +got):\n%s", diff)
	}
	if got := f.String(); got != "in person, TEMPE, on M T Th, 09:30–17:00" {
		t.Errorf("String = %q", got)
	}
	for _, bad := range []Filter{
		{Mode: "hybrid"}, {Days: []string{"Monday"}}, {After: "9am"}, {After: "12:00", Before: "11:00"},
		{Instructor: strings.Repeat("x", 65)},
	} {
		if _, err := bad.Normalize(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
	if !(Filter{}).IsZero() || (Filter{Campus: "X"}).IsZero() {
		t.Error("IsZero")
	}
}

func TestFilterMatches(t *testing.T) {
	t.Parallel()
	s := sec("1", 1, meets("T Th", "10:30 AM", "11:45 AM"), taughtBy("Ada Lovelace"), func(s *Section) { s.Campus = "TEMPE" })
	tests := []struct {
		f    Filter
		want bool
	}{
		{Filter{}, true},
		{Filter{Mode: ModeInPerson}, true},
		{Filter{Mode: ModeOnline}, false},
		{Filter{Campus: "TEMPE"}, true},
		{Filter{Campus: "POLY"}, false},
		{Filter{Instructor: "LOVE"}, true},
		{Filter{Instructor: "Turing"}, false},
		{Filter{Days: []string{"T", "Th"}}, true},
		{Filter{Days: []string{"T"}}, false},
		{Filter{After: "10:30"}, true},
		{Filter{After: "10:31"}, false},
		{Filter{Before: "11:45"}, true},
		{Filter{Before: "11:00"}, false},
	}
	for _, tc := range tests {
		if got := tc.f.Matches(s); got != tc.want {
			t.Errorf("%+v: Matches = %t, want %t", tc.f, got, tc.want)
		}
	}
	// A section meeting at no set time passes day and time bounds.
	if !(Filter{Days: []string{"M"}, After: "12:00"}).Matches(sec("2", 1, online)) {
		t.Error("an online section without meetings fails a time filter")
	}
}

func TestLinked(t *testing.T) {
	t.Parallel()
	secs := []Section{sec("100", 1, lecture("1")), sec("101", 1, lab("1")), sec("102", 1, lab("1")), sec("200", 1, lecture("2")), sec("201", 1, lab("2"))}
	var got []string
	for _, l := range secs[0].Linked(secs) {
		got = append(got, l.ClassNbr)
	}
	if diff := cmp.Diff([]string{"101", "102"}, got); diff != "" {
		t.Errorf("linked (-want +got):\n%s", diff)
	}
	if l := sec("300", 1).Linked(secs); l != nil {
		t.Errorf("a section without association has linked %v", l)
	}
}
