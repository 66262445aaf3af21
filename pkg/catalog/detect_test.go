package catalog

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func ptr(n int) *int { return &n }

func TestDetect(t *testing.T) {
	t.Parallel()
	full := Section{Capacity: 30, Enrolled: 30, Status: StatusClosed}
	open := Section{Capacity: 30, Enrolled: 29, Status: StatusOpen}
	named := []Instructor{{Name: "Ada Lovelace", ID: "alovela1"}}
	tests := []struct {
		name string
		prev *Section
		next Section
		want []Event
	}{
		{name: "first observation", prev: nil, next: open},
		{name: "seat opens", prev: &full, next: open, want: []Event{EventSeatAvailable}},
		{name: "still open", prev: &open, next: open},
		{name: "fills", prev: &open, next: full},
		{name: "enrolled below capacity but flag closed", prev: &full, next: Section{Capacity: 30, Enrolled: 20, Status: StatusClosed}},
		{name: "cancelled never opens", prev: &full, next: Section{Capacity: 30, Enrolled: 0, Status: StatusCancelled}},
		{name: "over-enrolled is zero", prev: &Section{Capacity: 30, Enrolled: 35, Status: StatusOpen}, next: open, want: []Event{EventSeatAvailable}},
		{
			name: "non-reserved seats open",
			prev: &Section{Capacity: 30, Enrolled: 25, Status: StatusOpen, NonReservedOpen: ptr(0)},
			next: Section{Capacity: 30, Enrolled: 24, Status: StatusOpen, NonReservedOpen: ptr(1)},
			want: []Event{EventSeatAvailable},
		},
		{
			name: "reserved count becomes unknown",
			prev: &Section{Capacity: 30, Enrolled: 25, Status: StatusOpen, HasReservedSeats: true, NonReservedOpen: ptr(0)},
			next: Section{Capacity: 30, Enrolled: 24, Status: StatusOpen, HasReservedSeats: true},
		},
		{
			name: "reserved count was unknown",
			prev: &Section{Capacity: 30, Enrolled: 25, Status: StatusOpen, HasReservedSeats: true},
			next: Section{Capacity: 30, Enrolled: 25, Status: StatusOpen, HasReservedSeats: true, NonReservedOpen: ptr(2)},
		},
		{
			name: "full to open with reserved count unknown",
			prev: &Section{Capacity: 30, Enrolled: 30, Status: StatusClosed, HasReservedSeats: true},
			next: Section{Capacity: 30, Enrolled: 25, Status: StatusOpen, HasReservedSeats: true},
		},
		{
			name: "full to open for everyone with reserved seats",
			prev: &Section{Capacity: 30, Enrolled: 30, Status: StatusClosed, HasReservedSeats: true},
			next: Section{Capacity: 30, Enrolled: 25, Status: StatusOpen, HasReservedSeats: true, NonReservedOpen: ptr(1)},
			want: []Event{EventSeatAvailable},
		},
		{
			name: "only reserved seats open",
			prev: &Section{Capacity: 30, Enrolled: 30, Status: StatusClosed, HasReservedSeats: true},
			next: Section{Capacity: 30, Enrolled: 25, Status: StatusOpen, HasReservedSeats: true, NonReservedOpen: ptr(0)},
		},
		{
			name: "reservations lifted",
			prev: &Section{Capacity: 30, Enrolled: 25, Status: StatusOpen, HasReservedSeats: true, NonReservedOpen: ptr(0)},
			next: Section{Capacity: 30, Enrolled: 25, Status: StatusOpen},
			want: []Event{EventSeatAvailable},
		},
		{name: "instructor assigned", prev: &full, next: Section{Capacity: 30, Enrolled: 30, Status: StatusClosed, Instructors: named}, want: []Event{EventInstructorAssigned}},
		{name: "literal Staff to name", prev: &Section{Instructors: []Instructor{{Name: "Staff"}}, Status: StatusClosed}, next: Section{Instructors: named, Status: StatusClosed}, want: []Event{EventInstructorAssigned}},
		{name: "name changes", prev: &Section{Instructors: named, Status: StatusClosed}, next: Section{Instructors: []Instructor{{Name: "Grace Hopper"}}, Status: StatusClosed}},
		{name: "unknown counts then open", prev: &Section{Status: StatusUnknown}, next: open},
		{name: "full then unknown counts", prev: &full, next: Section{Status: StatusUnknown}},
		{name: "unknown counts keep an instructor event", prev: &Section{Status: StatusUnknown}, next: Section{Status: StatusUnknown, Instructors: named}, want: []Event{EventInstructorAssigned}},
		{name: "both at once", prev: &full, next: Section{Capacity: 30, Enrolled: 10, Status: StatusOpen, Instructors: named}, want: []Event{EventSeatAvailable, EventInstructorAssigned}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tc.want, Detect(tc.prev, tc.next)); diff != "" {
				t.Errorf("Detect (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReservedOpened(t *testing.T) {
	t.Parallel()
	full := Section{Capacity: 30, Enrolled: 30, Status: StatusClosed, HasReservedSeats: true}
	withGroups := func(enrolled int, general *int) Section {
		return Section{Capacity: 30, Enrolled: enrolled, Status: StatusOpen, HasReservedSeats: true, NonReservedOpen: general}
	}
	tests := []struct {
		name string
		prev *Section
		next Section
		want bool
	}{
		{name: "first observation", next: withGroups(25, ptr(0))},
		{name: "full to reserved only", prev: &full, next: withGroups(25, ptr(0)), want: true},
		{name: "full to open for everyone", prev: &full, next: withGroups(25, ptr(2))},
		{name: "full to unknown", prev: &full, next: withGroups(25, nil)},
		{name: "more reserved seats", prev: ptr2(withGroups(28, ptr(0))), next: withGroups(25, ptr(0))},
		{name: "general filled, reserved freed", prev: ptr2(withGroups(29, ptr(1))), next: withGroups(27, ptr(0)), want: true},
		{name: "from unknown", prev: ptr2(withGroups(28, nil)), next: withGroups(25, ptr(0))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := ReservedOpened(tc.prev, tc.next); got != tc.want {
				t.Errorf("ReservedOpened = %v, want %v", got, tc.want)
			}
		})
	}
}

func ptr2(s Section) *Section { return &s }

func TestSetReserved(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name             string
		capacity, enroll int
		groups           []ReservedGroup
		want             int
	}{
		{name: "no groups", capacity: 100, enroll: 90, want: 10},
		{name: "groups hold some seats", capacity: 100, enroll: 90, groups: []ReservedGroup{{Name: "CS majors", Capacity: 20, Enrolled: 16}, {Name: "Honors", Capacity: 5, Enrolled: 4}}, want: 5},
		{name: "groups hold every seat", capacity: 100, enroll: 90, groups: []ReservedGroup{{Name: "CS majors", Capacity: 40, Enrolled: 25}}, want: 0},
		{name: "over-filled group holds none", capacity: 100, enroll: 90, groups: []ReservedGroup{{Name: "CS majors", Capacity: 20, Enrolled: 26}, {Name: "Honors", Capacity: 5, Enrolled: 3}}, want: 8},
		{name: "over-enrolled section", capacity: 100, enroll: 104, groups: []ReservedGroup{{Name: "CS majors", Capacity: 10, Enrolled: 2}}, want: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := Section{Capacity: tc.capacity, Enrolled: tc.enroll, Status: StatusOpen, HasReservedSeats: true}
			s.SetReserved(tc.groups)
			if s.NonReservedOpen == nil || *s.NonReservedOpen != tc.want {
				t.Fatalf("NonReservedOpen = %v, want %d", s.NonReservedOpen, tc.want)
			}
			if got, ok := s.GeneralOpen(); !ok || got != tc.want {
				t.Errorf("GeneralOpen = %d, %v; want %d, true", got, ok, tc.want)
			}
		})
	}
}

func TestNeedsAndCarryReserved(t *testing.T) {
	t.Parallel()
	prev := Section{Capacity: 30, Enrolled: 25, Status: StatusOpen, HasReservedSeats: true}
	prev.SetReserved([]ReservedGroup{{Name: "Majors", Capacity: 5, Enrolled: 2}})
	same := Section{Capacity: 30, Enrolled: 25, Status: StatusOpen, HasReservedSeats: true}
	moved := Section{Capacity: 30, Enrolled: 24, Status: StatusOpen, HasReservedSeats: true}
	unflagged := Section{Capacity: 30, Enrolled: 24, Status: StatusOpen}
	full := Section{Capacity: 30, Enrolled: 30, Status: StatusClosed, HasReservedSeats: true}
	unread := same
	for _, tc := range []struct {
		name string
		prev *Section
		next Section
		want bool
	}{
		{name: "first sight", next: same, want: true},
		{name: "seats unchanged", prev: &prev, next: same},
		{name: "seats changed", prev: &prev, next: moved, want: true},
		{name: "never read", prev: &unread, next: same, want: true},
		{name: "not flagged", prev: &prev, next: unflagged},
		{name: "full", prev: &prev, next: full},
	} {
		if got := NeedsReserved(tc.prev, tc.next); got != tc.want {
			t.Errorf("%s: NeedsReserved = %v, want %v", tc.name, got, tc.want)
		}
	}
	next := same
	if !CarryReserved(&prev, &next) || next.NonReservedOpen == nil || *next.NonReservedOpen != 2 || len(next.ReservedGroups) != 1 {
		t.Errorf("CarryReserved onto unchanged seats: %+v", next)
	}
	next = moved
	if CarryReserved(&prev, &next) || next.NonReservedOpen != nil {
		t.Errorf("CarryReserved onto changed seats: %+v", next)
	}
}

func TestInstructorNames(t *testing.T) {
	t.Parallel()
	s := Section{Instructors: []Instructor{{Name: "Grace Hopper"}, {Name: "Alan Turing"}}}
	if got := s.InstructorNames(); got != "Grace Hopper, Alan Turing" {
		t.Errorf("InstructorNames = %q", got)
	}
	if got := (Section{}).InstructorNames(); got != "Staff" {
		t.Errorf("InstructorNames of none = %q", got)
	}
}
