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
			name: "reserved count flaps null to number",
			prev: &Section{Capacity: 30, Enrolled: 25, Status: StatusOpen, NonReservedOpen: ptr(0)},
			next: Section{Capacity: 30, Enrolled: 25, Status: StatusOpen},
		},
		{
			name: "reserved count flaps number to null",
			prev: &Section{Capacity: 30, Enrolled: 25, Status: StatusOpen},
			next: Section{Capacity: 30, Enrolled: 25, Status: StatusOpen, NonReservedOpen: ptr(0)},
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
