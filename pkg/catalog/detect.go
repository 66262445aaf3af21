package catalog

import "strings"

// Event is a change in a section that a watcher is told about.
type Event string

// Events.
const (
	// EventSeatAvailable fires when a section's open seats go from 0 to more
	// than 0.
	EventSeatAvailable Event = "seat_available"
	// EventInstructorAssigned fires when a section's instructor goes from
	// "Staff" (none listed) to a named person.
	EventInstructorAssigned Event = "instructor_assigned"
)

// OpenSeats returns the seats a student can take. It prefers the count of
// non-reserved open seats when the source reports one; otherwise it uses
// capacity − enrolled. A closed or cancelled section has none, whatever the
// arithmetic says: the registrar's flag wins. A section whose counts are
// unknown has none that anyone can count on.
func (s Section) OpenSeats() int {
	return s.openSeats(s.NonReservedOpen != nil)
}

func (s Section) openSeats(useNonReserved bool) int {
	if s.Status == StatusCancelled || s.Status == StatusClosed || s.Status == StatusUnknown {
		return 0
	}
	n := s.Capacity - s.Enrolled
	if useNonReserved && s.NonReservedOpen != nil {
		n = *s.NonReservedOpen
	}
	return max(n, 0)
}

// IsStaff reports whether the section has no named instructor.
func (s Section) IsStaff() bool {
	for _, in := range s.Instructors {
		if n := strings.TrimSpace(in.Name); n != "" && !strings.EqualFold(n, "staff") {
			return false
		}
	}
	return true
}

// InstructorNames returns the instructors' names, or "Staff" when none is named.
func (s Section) InstructorNames() string {
	if s.IsStaff() {
		return "Staff"
	}
	names := make([]string, 0, len(s.Instructors))
	for _, in := range s.Instructors {
		if n := strings.TrimSpace(in.Name); n != "" && !strings.EqualFold(n, "staff") {
			names = append(names, n)
		}
	}
	return strings.Join(names, ", ")
}

// Detect returns the events between a previous observation and the next one.
// There is no event on a section's first observation (prev == nil): we do not
// know what changed. Open seats are compared on one basis: when only one of
// the two observations reports non-reserved seats, both are compared by
// capacity − enrolled, so a source that flaps between reporting the reserved
// count and not reporting it cannot cause a false alert. Seats are compared
// only when both observations know their counts: a section read without
// them was not seen full, so its next read opens nothing.
func Detect(prev *Section, next Section) []Event {
	if prev == nil {
		return nil
	}
	var events []Event
	useNonReserved := prev.NonReservedOpen != nil && next.NonReservedOpen != nil
	known := prev.Status != StatusUnknown && next.Status != StatusUnknown
	if known && prev.openSeats(useNonReserved) == 0 && next.openSeats(useNonReserved) > 0 {
		events = append(events, EventSeatAvailable)
	}
	if prev.IsStaff() && !next.IsStaff() {
		events = append(events, EventInstructorAssigned)
	}
	return events
}
