package catalog

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// WatchKind is what a watch asks about.
type WatchKind string

// Watch kinds.
const (
	// WatchSection is one section: its seats opening, its instructor named.
	WatchSection WatchKind = "section"
	// WatchCourse is any section of a course that passes the watch's
	// filter: it alerts when such a section gets seats, naming it.
	WatchCourse WatchKind = "course"
	// WatchLinked is a lecture together with its labs or recitations: it
	// alerts when the lecture and one of them both have seats.
	WatchLinked WatchKind = "linked"
)

// Valid reports whether k is a known kind.
func (k WatchKind) Valid() bool {
	return k == WatchSection || k == WatchCourse || k == WatchLinked
}

// EventSeatGone is the short notice that the seats a watcher was alerted
// about are gone again; a watcher asks for it per watch.
const EventSeatGone Event = "seat_gone"

// Filter narrows a course watch to the sections a student can take. The
// zero Filter matches every section.
type Filter struct {
	// Mode is "in_person", "online" or empty for either.
	Mode string `json:"mode,omitempty"`
	// Campus is a campus name, matched without regard to case.
	Campus string `json:"campus,omitempty"`
	// Instructor is part of an instructor's name, matched without regard
	// to case.
	Instructor string `json:"instructor,omitempty"`
	// Days lists the days a section may meet ("M", "T", "W", "Th", "F",
	// "Sa", "Su"): every meeting day must be one of them. Empty allows any.
	Days []string `json:"days,omitempty"`
	// After and Before bound the meeting times ("HH:MM", 24-hour): no
	// meeting starts before After or ends after Before.
	After  string `json:"after,omitempty"`
	Before string `json:"before,omitempty"`
}

// Filter modes.
const (
	ModeInPerson = "in_person"
	ModeOnline   = "online"
)

var weekdays = []string{"M", "T", "W", "Th", "F", "Sa", "Su"}

// Normalize trims the filter, orders its days and rejects what it cannot
// match on: an unknown mode or day, a time that is not HH:MM, or a window
// that ends before it starts.
func (f Filter) Normalize() (Filter, error) {
	f.Mode = strings.ToLower(strings.TrimSpace(f.Mode))
	f.Campus = strings.ToUpper(strings.TrimSpace(f.Campus))
	f.Instructor = strings.TrimSpace(f.Instructor)
	f.After, f.Before = strings.TrimSpace(f.After), strings.TrimSpace(f.Before)
	var errs []error
	if f.Mode != "" && f.Mode != ModeInPerson && f.Mode != ModeOnline {
		errs = append(errs, fmt.Errorf("mode %q is not %q or %q", f.Mode, ModeInPerson, ModeOnline))
	}
	if len(f.Campus) > 64 || len(f.Instructor) > 64 {
		errs = append(errs, errors.New("campus and instructor are at most 64 characters"))
	}
	var days []string
	for _, d := range f.Days {
		d = strings.TrimSpace(d)
		i := slices.IndexFunc(weekdays, func(w string) bool { return strings.EqualFold(w, d) })
		if i < 0 {
			errs = append(errs, fmt.Errorf("day %q is not one of %s", d, strings.Join(weekdays, " ")))
			continue
		}
		days = append(days, weekdays[i])
	}
	slices.SortFunc(days, func(a, b string) int { return slices.Index(weekdays, a) - slices.Index(weekdays, b) })
	f.Days = slices.Compact(days)
	after, okA := clock(f.After)
	before, okB := clock(f.Before)
	if f.After != "" && !okA || f.Before != "" && !okB {
		errs = append(errs, errors.New("after and before are times as HH:MM"))
	}
	if okA && okB && before <= after {
		errs = append(errs, errors.New("before must be later than after"))
	}
	if err := errors.Join(errs...); err != nil {
		return f, fmt.Errorf("filter: %w", err)
	}
	return f, nil
}

// IsZero reports whether the filter matches every section.
func (f Filter) IsZero() bool {
	return f.Mode == "" && f.Campus == "" && f.Instructor == "" && len(f.Days) == 0 && f.After == "" && f.Before == ""
}

// String describes the filter for people: "in person, TEMPE, with Smith,
// M W, 10:00–17:00"; empty for the zero Filter.
func (f Filter) String() string {
	var parts []string
	switch f.Mode {
	case ModeInPerson:
		parts = append(parts, "in person")
	case ModeOnline:
		parts = append(parts, "online")
	}
	if f.Campus != "" {
		parts = append(parts, f.Campus)
	}
	if f.Instructor != "" {
		parts = append(parts, "with "+f.Instructor)
	}
	if len(f.Days) > 0 {
		parts = append(parts, "on "+strings.Join(f.Days, " "))
	}
	switch {
	case f.After != "" && f.Before != "":
		parts = append(parts, f.After+"–"+f.Before)
	case f.After != "":
		parts = append(parts, "from "+f.After)
	case f.Before != "":
		parts = append(parts, "until "+f.Before)
	}
	return strings.Join(parts, ", ")
}

// Matches reports whether s passes the filter. A section that meets at no
// set time (online, arranged) passes a day or time bound.
func (f Filter) Matches(s Section) bool {
	switch f.Mode {
	case ModeInPerson:
		if s.Online {
			return false
		}
	case ModeOnline:
		if !s.Online {
			return false
		}
	}
	if f.Campus != "" && !strings.EqualFold(strings.TrimSpace(s.Campus), f.Campus) {
		return false
	}
	if f.Instructor != "" {
		want := strings.ToLower(f.Instructor)
		if !slices.ContainsFunc(s.Instructors, func(in Instructor) bool { return strings.Contains(strings.ToLower(in.Name), want) }) {
			return false
		}
	}
	after, okA := clock(f.After)
	before, okB := clock(f.Before)
	for _, m := range s.Meetings {
		if len(f.Days) > 0 {
			for _, d := range meetingDays(m.Days) {
				if !slices.Contains(f.Days, d) {
					return false
				}
			}
		}
		if start, ok := clock12(m.StartTime); ok && okA && start < after {
			return false
		}
		if end, ok := clock12(m.EndTime); ok && okB && end > before {
			return false
		}
	}
	return true
}

// meetingDays splits a day list such as "M W", "TTh" or "MWF" into days.
func meetingDays(list string) []string {
	var out []string
	for _, field := range strings.Fields(list) {
		for field != "" {
			n := 1
			if len(field) >= 2 && (strings.EqualFold(field[:2], "Th") || strings.EqualFold(field[:2], "Sa") || strings.EqualFold(field[:2], "Su")) {
				n = 2
			}
			d := field[:n]
			if i := slices.IndexFunc(weekdays, func(w string) bool { return strings.EqualFold(w, d) }); i >= 0 {
				out = append(out, weekdays[i])
			}
			field = field[n:]
		}
	}
	return out
}

// clock parses "HH:MM" (24-hour) into minutes after midnight.
func clock(s string) (int, bool) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, false
	}
	return t.Hour()*60 + t.Minute(), true
}

// clock12 parses a meeting time such as "1:30 PM" into minutes after
// midnight.
func clock12(s string) (int, bool) {
	t, err := time.Parse("3:04 PM", strings.ToUpper(strings.TrimSpace(s)))
	if err != nil {
		return 0, false
	}
	return t.Hour()*60 + t.Minute(), true
}

// WatchRule is what a course or linked watch asks for.
type WatchRule struct {
	Kind WatchKind
	// ClassNbr is a linked watch's lecture.
	ClassNbr string
	// Filter narrows a course watch.
	Filter Filter
	// NotifyReserved counts seats held for some students as seats.
	NotifyReserved bool
	// NotifyGone asks for a notice when the seats alerted about are gone.
	NotifyGone bool
	// CreatedAt is when the watch was made.
	CreatedAt time.Time
}

// WatchState is what a course or linked watch remembers between checks.
type WatchState struct {
	// Baselined is set once the watch has seen its course: only then is a
	// section new to the catalog an opening.
	Baselined bool
	// Epoch counts the openings alerted so far; each alert is claimed
	// once per epoch.
	Epoch int
	// Open says the opening last alerted about (or, for a linked watch
	// that has not alerted yet, its condition) still holds.
	Open bool
	// Nbrs are the sections the last alert named.
	Nbrs []string
}

// SectionChange is one section of a course as an observation left it.
type SectionChange struct {
	// Prev is the section as stored before, the basis events are
	// detected against; nil on its first observation.
	Prev *Section
	// Cur is the section now.
	Cur Section
	// Missing marks a section absent from a complete check of its course.
	Missing bool
	// BaselineAt is when Prev was observed.
	BaselineAt time.Time
}

// WatchOutcome is what an observation means for a course or linked watch.
type WatchOutcome struct {
	State WatchState
	// Alert names the sections of a new opening, or is empty.
	Alert []string
	// Gone reports that the opening last alerted about is gone and the
	// watch asked to be told.
	Gone bool
}

// hasSeats reports whether s has seats the rule counts: open to everyone,
// or held for some students when the rule asks for those.
func (r WatchRule) hasSeats(s *Section, missing bool) bool {
	if s == nil || missing {
		return false
	}
	if n, ok := s.GeneralOpen(); ok && n > 0 {
		return true
	}
	return r.NotifyReserved && s.Status == StatusOpen && s.openSeats(false) > 0
}

// usable reports whether a course watch counts s: it has seats and passes
// the filter.
func (r WatchRule) usable(s *Section, missing bool) bool {
	return r.hasSeats(s, missing) && r.Filter.Matches(*s)
}

// Evaluate applies one complete observation of a watch's course (every
// section, as secs lists them) to the watch's state.
//
// A course watch alerts when sections it counts (seats, filter) did not
// count before: a section that got seats, or a section new to the catalog
// with seats once the watch has seen the course. As with a section watch,
// a section whose stored observation is older than staleBefore is a
// baseline only if the watch was made before it was observed. The alert
// names every such section; the opening is gone once none of them has
// seats any more.
//
// A linked watch alerts when its lecture has seats and so has one of its
// labs (or the lecture alone when it has none), where before they did
// not; its opening is gone when that no longer holds.
func Evaluate(r WatchRule, st WatchState, secs []SectionChange, staleBefore time.Time) WatchOutcome {
	if r.Kind == WatchLinked {
		return evaluateLinked(r, st, secs)
	}
	out := WatchOutcome{State: st}
	var opened []string
	byNbr := make(map[string]SectionChange, len(secs))
	for _, c := range secs {
		byNbr[c.Cur.ClassNbr] = c
		if !r.usable(&c.Cur, c.Missing) {
			continue
		}
		switch {
		case c.Prev == nil:
			if st.Baselined {
				opened = append(opened, c.Cur.ClassNbr)
			}
		case !r.usable(c.Prev, false):
			if !c.BaselineAt.Before(staleBefore) || !r.CreatedAt.After(c.BaselineAt) {
				opened = append(opened, c.Cur.ClassNbr)
			}
		}
	}
	out.State.Baselined = true
	if len(opened) > 0 {
		// The sections of the last alert that still count are named
		// again: that alert may not have gone out yet, and it is skipped
		// once superseded.
		if st.Open {
			for _, n := range st.Nbrs {
				if c, ok := byNbr[n]; ok && r.usable(&c.Cur, c.Missing) && !slices.Contains(opened, n) {
					opened = append(opened, n)
				}
			}
		}
		slices.Sort(opened)
		out.State.Epoch++
		out.State.Open = true
		out.State.Nbrs = opened
		out.Alert = opened
		return out
	}
	if st.Open && !slices.ContainsFunc(st.Nbrs, func(n string) bool {
		c, ok := byNbr[n]
		return ok && r.usable(&c.Cur, c.Missing)
	}) {
		out.State.Open = false
		out.Gone = r.NotifyGone && st.Epoch > 0
	}
	return out
}

func evaluateLinked(r WatchRule, st WatchState, secs []SectionChange) WatchOutcome {
	out := WatchOutcome{State: st}
	out.State.Baselined = true
	var combo []string
	var present []Section
	var lecture *SectionChange
	for i, c := range secs {
		if c.Missing {
			continue
		}
		present = append(present, c.Cur)
		if c.Cur.ClassNbr == r.ClassNbr {
			lecture = &secs[i]
		}
	}
	if lecture != nil && r.hasSeats(&lecture.Cur, false) {
		labs := lecture.Cur.Linked(present)
		var open []string
		for _, l := range labs {
			if r.hasSeats(&l, false) {
				open = append(open, l.ClassNbr)
			}
		}
		if len(labs) == 0 || len(open) > 0 {
			slices.Sort(open)
			combo = append([]string{r.ClassNbr}, open...)
		}
	}
	switch {
	case combo != nil && !st.Open:
		out.State.Epoch++
		out.State.Open = true
		out.State.Nbrs = combo
		out.Alert = combo
	case combo == nil && st.Open:
		out.State.Open = false
		out.Gone = r.NotifyGone && st.Epoch > 0
	}
	return out
}

// SeatGone reports whether the seats open to everyone that prev had are
// all taken in next: both counts known, more than 0 before and 0 now.
func SeatGone(prev *Section, next Section) bool {
	if prev == nil {
		return false
	}
	before, okBefore := prev.GeneralOpen()
	after, okAfter := next.GeneralOpen()
	return okBefore && okAfter && before > 0 && after == 0
}
