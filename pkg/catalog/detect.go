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

// GeneralOpen returns the open seats anyone may take and whether that is
// known. It is known when the source reports it (NonReservedOpen), when the
// section holds no reserved seats (capacity − enrolled), or when the section
// has no open seat at all; a section flagged with reserved seats whose
// groups were not read is unknown, never 0, and so is a section whose
// counts the source left out (StatusUnknown).
func (s Section) GeneralOpen() (int, bool) {
	raw := s.openSeats(false)
	switch {
	case s.Status == StatusUnknown:
		return 0, false
	case raw == 0:
		return 0, true
	case s.NonReservedOpen != nil:
		return min(max(*s.NonReservedOpen, 0), raw), true
	case !s.HasReservedSeats:
		return raw, true
	}
	return 0, false
}

// ReservedOpen returns the open seats held for some students only, and
// whether that is known: the open seats that are not open to everyone.
func (s Section) ReservedOpen() (int, bool) {
	general, ok := s.GeneralOpen()
	if !ok {
		return 0, false
	}
	return s.openSeats(false) - general, true
}

// NeedsReserved reports whether next's reserved groups must be read from the
// source: it is flagged with reserved seats, has open seats, and its seats
// changed since prev (or prev never had its groups read). Otherwise the
// groups, if any, can be carried over from prev (see CarryReserved).
func NeedsReserved(prev *Section, next Section) bool {
	if !next.HasReservedSeats || next.openSeats(false) == 0 {
		return false
	}
	return prev == nil || !prev.HasReservedSeats || prev.NonReservedOpen == nil ||
		prev.Capacity != next.Capacity || prev.Enrolled != next.Enrolled || prev.Status != next.Status
}

// CarryReserved copies prev's reserved groups to next when next needs no
// new read (NeedsReserved is false) and is flagged with open seats; it
// reports whether it did.
func CarryReserved(prev *Section, next *Section) bool {
	if prev == nil || prev.NonReservedOpen == nil || !next.HasReservedSeats || next.openSeats(false) == 0 || NeedsReserved(prev, *next) {
		return false
	}
	n := *prev.NonReservedOpen
	next.NonReservedOpen = &n
	next.ReservedGroups = prev.ReservedGroups
	return true
}

// Detect returns the events between a previous observation and the next one.
// There is no event on a section's first observation (prev == nil): we do not
// know what changed. A seat is available when the seats open to everyone go
// from 0 to more than 0; when either side's count is unknown (reserved seats
// not read, or the source left the counts out), there is no event: an
// unknown count is never taken for 0, and a section read without its counts
// was not seen full. Openings of reserved seats alone are ReservedOpened's.
func Detect(prev *Section, next Section) []Event {
	if prev == nil {
		return nil
	}
	var events []Event
	before, okBefore := prev.GeneralOpen()
	after, okAfter := next.GeneralOpen()
	if okBefore && okAfter && before == 0 && after > 0 {
		events = append(events, EventSeatAvailable)
	}
	if prev.IsStaff() && !next.IsStaff() {
		events = append(events, EventInstructorAssigned)
	}
	return events
}

// ReservedOpened reports whether only reserved seats opened between prev and
// next: next has no seat open to everyone but some held for certain
// students, where prev had none of those. Both counts must be known. Such an
// opening is announced only to watchers who asked for reserved seats.
func ReservedOpened(prev *Section, next Section) bool {
	if prev == nil {
		return false
	}
	general, ok := next.GeneralOpen()
	if !ok || general > 0 {
		return false
	}
	after, _ := next.ReservedOpen()
	before, ok := prev.ReservedOpen()
	return ok && before == 0 && after > 0
}
