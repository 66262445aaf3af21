package web

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asu"
	"github.com/pickmyclass/pickmyclass/pkg/store"
)

// watchStatus is the state of a watch, or of one section, as a card and
// the API show it.
type watchStatus string

const (
	statusOpen      watchStatus = "open"
	statusFull      watchStatus = "full"
	statusNotFound  watchStatus = "not_found"
	statusCancelled watchStatus = "cancelled"
	statusUnknown   watchStatus = "unknown"  // last read without seat counts
	statusReserved  watchStatus = "reserved" // open only to reserved groups
	statusWaiting   watchStatus = "waiting"  // not checked yet
	statusNoMatch   watchStatus = "no_match" // a course watch's filter passes no section
	// statusClosed and statusPaused describe the watch, not its seats: its
	// enrollment deadline passed, or its alerts are held back.
	statusClosed watchStatus = "enrollment_closed"
	statusPaused watchStatus = "paused"
)

// label is the status in words.
func (s watchStatus) label() string {
	switch s {
	case statusOpen:
		return "Open"
	case statusFull:
		return "Full"
	case statusNotFound:
		return "Not found in the catalog"
	case statusCancelled:
		return "Cancelled"
	case statusUnknown:
		return "Seat count unavailable"
	case statusReserved:
		return "Reserved seats only"
	case statusNoMatch:
		return "No section matches your filter"
	case statusClosed:
		return "Enrollment closed"
	case statusPaused:
		return "Paused"
	default:
		return "Waiting for first check"
	}
}

// counts reports whether a section in this status has seats for a watch:
// seats open to everyone, or reserved ones when the watch asks for those.
func (s watchStatus) counts(reserved bool) bool {
	return s == statusOpen || reserved && s == statusReserved
}

// sectionView is one section as a card and the API show it: the section
// of a section watch, or one section of a course or linked watch.
type sectionView struct {
	ClassNbr    string      `json:"class_nbr"`
	Section     string      `json:"section,omitempty"`
	Component   string      `json:"component,omitempty"`
	Title       string      `json:"title,omitempty"`
	Status      watchStatus `json:"status"`
	StatusLabel string      `json:"status_label"`
	Instructors []string    `json:"instructors"`
	OpenSeats   *int        `json:"open_seats"`
	Capacity    *int        `json:"capacity"`
	Enrolled    *int        `json:"enrolled"`
	// ReservedNote, OpenToEveryone and ReservedGroups describe the seats
	// held for some students; the last two are set once the reserved seat
	// groups of a section that has them were read.
	ReservedNote   string              `json:"reserved_note,omitempty"`
	OpenToEveryone *int                `json:"open_to_everyone,omitempty"`
	ReservedGroups []reservedGroupView `json:"reserved_groups,omitempty"`
	Campus         string              `json:"campus,omitempty"`
	Location       string              `json:"location,omitempty"`
	Online         bool                `json:"online"`
	Meetings       []catalog.Meeting   `json:"meetings"`
	EnrollDeadline *time.Time          `json:"enroll_deadline,omitempty"`
	LastChecked    *time.Time          `json:"last_checked"`
	// Matches is set for a course watch's sections: whether the section
	// passes the watch's filter.
	Matches *bool `json:"matches,omitempty"`
	// Role is set for a linked watch's sections: "lecture", or "linked"
	// for its labs and recitations.
	Role string `json:"role,omitempty"`
	// Alerted marks the sections the watch's last alert named while that
	// opening lasts.
	Alerted  bool   `json:"alerted,omitempty"`
	ClassURL string `json:"class_url"`
}

// reservedGroupView is one reserved seat group of a section.
type reservedGroupView struct {
	Name     string `json:"name"`
	Capacity int    `json:"capacity"`
	Enrolled int    `json:"enrolled"`
	Open     int    `json:"open"`
}

// Label is "Computer Science majors: 2 of 20 open".
func (g reservedGroupView) Label() string {
	return g.Name + ": " + strconv.Itoa(g.Open) + " of " + strconv.Itoa(g.Capacity) + " open"
}

// SeatsLabel is the seat line of a card.
func (v sectionView) SeatsLabel() string {
	if v.OpenSeats == nil || v.Capacity == nil {
		return ""
	}
	// "1 of 100 seats open": the noun goes with the capacity.
	n := *v.OpenSeats
	word := "seats"
	if *v.Capacity == 1 {
		word = "seat"
	}
	label := strconv.Itoa(n) + " of " + strconv.Itoa(*v.Capacity) + " " + word + " open"
	if v.OpenToEveryone != nil {
		label += " to everyone"
	}
	return label
}

// MeetingsLabel joins the meeting patterns.
func (v sectionView) MeetingsLabel() string {
	var parts []string
	for _, m := range v.Meetings {
		s := strings.TrimSpace(m.Days + " " + m.StartTime)
		if m.EndTime != "" {
			s += "–" + m.EndTime
		}
		if s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, "; ")
}

// InstructorsLabel names the instructors, or says there is none yet.
func (v sectionView) InstructorsLabel() string {
	if len(v.Instructors) == 0 {
		return "Staff (not yet assigned)"
	}
	return strings.Join(v.Instructors, ", ")
}

// ComponentLabel is the component in words: "Lecture", "Lab"…
func (v sectionView) ComponentLabel() string {
	return componentLabel(v.Component)
}

func componentLabel(c string) string {
	switch c {
	case "LEC":
		return "Lecture"
	case "LAB":
		return "Lab"
	case "REC":
		return "Recitation"
	case "SEM":
		return "Seminar"
	case "DIS":
		return "Discussion"
	case "":
		return "Section"
	}
	return c
}

// newSectionView describes a section as last observed. A nil state is a
// section not observed yet.
func newSectionView(term, classNbr string, st *store.SectionState) sectionView {
	v := sectionView{ClassNbr: classNbr, Instructors: []string{}, Meetings: []catalog.Meeting{},
		ClassURL: "/go/asu?term=" + term + "&classNbr=" + classNbr}
	if st == nil {
		v.Status = statusWaiting
		v.StatusLabel = v.Status.label()
		return v
	}
	s := st.Section
	v.Title, v.Section, v.Component, v.Campus, v.Location, v.Online = s.Title, s.SectionCode, s.Component, s.Campus, s.Location, s.Online
	if v.Location == "" && s.Online {
		v.Location = "Online"
	}
	for _, in := range s.Instructors {
		v.Instructors = append(v.Instructors, in.Name)
	}
	if s.Meetings != nil {
		v.Meetings = s.Meetings
	}
	if !s.EnrollDeadline.IsZero() {
		d := s.EnrollDeadline
		v.EnrollDeadline = &d
	}
	open, capacity, enrolled := st.OpenSeats, s.Capacity, s.Enrolled
	if s.Status != catalog.StatusUnknown {
		v.OpenSeats, v.Capacity, v.Enrolled = &open, &capacity, &enrolled
	}
	observed := st.ObservedAt
	v.LastChecked = &observed
	reserved := 0
	if s.HasReservedSeats {
		general, known := s.GeneralOpen()
		switch {
		case s.NonReservedOpen != nil && known:
			v.OpenToEveryone = &general
			reserved, _ = s.ReservedOpen()
			for _, g := range s.ReservedGroups {
				v.ReservedGroups = append(v.ReservedGroups, reservedGroupView{Name: g.Name, Capacity: g.Capacity, Enrolled: g.Enrolled, Open: g.Open()})
			}
			v.ReservedNote = "Some seats are reserved; the count shows seats open to everyone."
		case s.OpenSeats() > 0:
			v.ReservedNote = "Some seats may be reserved for certain students; check before enrolling."
		default:
			v.ReservedNote = "Some seats are reserved for certain students."
		}
	}
	switch {
	case st.NotFoundAt != nil:
		v.Status = statusNotFound
	case s.Status == catalog.StatusCancelled:
		v.Status = statusCancelled
	case s.Status == catalog.StatusUnknown:
		v.Status = statusUnknown
	case open > 0:
		v.Status = statusOpen
	case reserved > 0:
		v.Status = statusReserved
	default:
		v.Status = statusFull
	}
	v.StatusLabel = v.Status.label()
	return v
}

// courseCounts sums up a course or linked watch's sections.
type courseCounts struct {
	// Sections counts the course's sections in the catalog.
	Sections int `json:"sections"`
	// Matching counts a course watch's sections that pass its filter, or
	// a linked watch's labs and recitations.
	Matching int `json:"matching"`
	// Available counts those of Matching with seats the watch counts.
	Available int `json:"available"`
}

// watchView is a watch as the dashboard and the API show it. For a section
// or linked watch the embedded sectionView is its section (the lecture);
// its own fields (class number, status, link) shadow the section's.
type watchView struct {
	sectionView
	ID         int64             `json:"id"`
	Kind       catalog.WatchKind `json:"kind"`
	Term       string            `json:"term"`
	TermName   string            `json:"term_name"`
	ClassNbr   string            `json:"class_nbr"`
	Subject    string            `json:"subject"`
	CatalogNbr string            `json:"catalog_nbr"`
	CreatedAt  time.Time         `json:"created_at"`
	// Status is what the card leads with: enrollment_closed or paused
	// when so, else SeatStatus.
	Status      watchStatus `json:"status"`
	StatusLabel string      `json:"status_label"`
	// SeatStatus is the seats' state whatever the watch's: for a course
	// watch the best of its matching sections, for a linked watch open
	// when the lecture and a lab both have seats.
	SeatStatus watchStatus `json:"seat_status"`
	// NotifyReserved: alert also when only reserved seats open.
	NotifyReserved bool `json:"notify_reserved"`
	// NotifyGone: one notice when the seats alerted about are gone again.
	NotifyGone bool `json:"notify_gone"`
	// Filter is a course watch's filter; FilterLabel says it in words.
	Filter      *catalog.Filter `json:"filter,omitempty"`
	FilterLabel string          `json:"filter_label,omitempty"`
	PausedUntil *time.Time      `json:"paused_until"`
	ExpiredAt   *time.Time      `json:"expired_at"`
	// Deadline is the last day to enroll (the latest of a course's
	// sections); null when unknown.
	Deadline *time.Time `json:"deadline"`
	// Sections are a course watch's sections, or a linked watch's lecture
	// and its labs and recitations; Counts sums them up.
	Sections []sectionView `json:"sections,omitempty"`
	Counts   *courseCounts `json:"counts,omitempty"`
	ClassURL string        `json:"class_url"`
	// CSRF is the token the card's forms (pause, resume) carry; set by the
	// page or stream that renders the card.
	CSRF string `json:"-"`
	// keys are the sections the card shows, for live updates.
	keys []catalog.SectionKey
}

// Name is what the watch is about, in a few words: "CSE 240 #70412",
// "any section of CSE 240", "BIO 181 #71001 with a lab".
func (v watchView) Name() string {
	course := v.Subject + " " + v.CatalogNbr
	switch v.Kind {
	case catalog.WatchCourse:
		return "any section of " + course
	case catalog.WatchLinked:
		return course + " #" + v.ClassNbr + " with a lab"
	}
	return course + " #" + v.ClassNbr
}

// DeadlineDay is the last day to enroll, in the university's time zone:
// the deadline is the end of that day.
func (v watchView) DeadlineDay() string {
	if v.Deadline == nil {
		return ""
	}
	return v.Deadline.Add(-time.Second).In(asu.Phoenix).Format("Mon, Jan 2, 2006")
}

// Paused reports whether the watch's alerts are held back.
func (v watchView) Paused() bool { return v.Status == statusPaused }

// Expired reports whether the watch stopped at its enrollment deadline.
func (v watchView) Expired() bool { return v.ExpiredAt != nil }

// IsCourse and IsLinked tell the card which kind it shows.
func (v watchView) IsCourse() bool { return v.Kind == catalog.WatchCourse }
func (v watchView) IsLinked() bool { return v.Kind == catalog.WatchLinked }

// MatchLabel is a course watch's "2 of 5 sections match · 1 with seats"
// or a linked watch's "Labs with seats: 1 of 2".
func (v watchView) MatchLabel() string {
	if v.Counts == nil {
		return ""
	}
	c := *v.Counts
	if v.Kind == catalog.WatchLinked {
		if c.Matching == 0 {
			return ""
		}
		return v.linkedNoun() + " with seats: " + strconv.Itoa(c.Available) + " of " + strconv.Itoa(c.Matching)
	}
	label := plural(c.Sections, "section", "sections")
	if v.Filter != nil && !v.Filter.IsZero() {
		verb := " match"
		if c.Sections == 1 {
			verb = " matches"
		}
		label = strconv.Itoa(c.Matching) + " of " + label + verb
	}
	return label + " · " + strconv.Itoa(c.Available) + " with seats"
}

// linkedNoun names a linked watch's labs: "Labs", "Recitations" or
// "Linked sections" when they are of several kinds.
func (v watchView) linkedNoun() string {
	noun := ""
	for _, s := range v.Sections[1:] {
		n := "Linked sections"
		switch s.Component {
		case "LAB":
			n = "Labs"
		case "REC":
			n = "Recitations"
		}
		if noun != "" && noun != n {
			return "Linked sections"
		}
		noun = n
	}
	return noun
}

// plural is "1 section" or "2 sections".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// newWatchView describes a watch as of now.
func newWatchView(w store.WatchView, now time.Time) watchView {
	v := watchView{
		ID: w.ID, Kind: w.Kind, Term: w.Term, TermName: asu.TermName(w.Term), ClassNbr: w.ClassNbr, Subject: w.Subject,
		CatalogNbr: w.CatalogNbr, CreatedAt: w.CreatedAt, NotifyReserved: w.NotifyReserved, NotifyGone: w.NotifyGone,
		PausedUntil: w.PausedUntil, ExpiredAt: w.ExpiredAt,
	}
	if v.Kind == "" {
		v.Kind = catalog.WatchSection
	}
	if d := w.Deadline(); !d.IsZero() {
		v.Deadline = &d
	}
	switch v.Kind {
	case catalog.WatchCourse:
		v.sectionView = sectionView{Instructors: []string{}, Meetings: []catalog.Meeting{}}
		v.ClassURL = "/go/asu?term=" + w.Term + "&subject=" + w.Subject + "&catalogNbr=" + w.CatalogNbr
		f := w.Filter
		v.Filter, v.FilterLabel = &f, f.String()
		v.SeatStatus = v.fillCourse(w)
	default:
		v.sectionView = newSectionView(w.Term, w.ClassNbr, w.State)
		v.ClassURL = v.sectionView.ClassURL
		v.keys = []catalog.SectionKey{{Term: w.Term, ClassNbr: w.ClassNbr}}
		v.SeatStatus = v.sectionView.Status
		if w.NotFoundAt != nil {
			v.SeatStatus = statusNotFound
		}
		if v.Kind == catalog.WatchLinked {
			v.fillLinked(w)
		}
	}
	v.Status = v.SeatStatus
	v.StatusLabel = v.Status.label()
	switch {
	case w.ExpiredAt != nil:
		v.Status = statusClosed
		v.StatusLabel = v.Status.label()
	case w.Paused(now):
		v.Status = statusPaused
		v.StatusLabel = v.Status.label()
	default:
		if v.Kind == catalog.WatchLinked && v.Counts != nil {
			v.StatusLabel = v.linkedLabel()
		}
	}
	return v
}

// alerted returns the sections a watch's last alert named, while that
// opening lasts.
func alerted(w store.WatchView) map[string]bool {
	out := map[string]bool{}
	if w.AlertOpen {
		for _, n := range w.AlertNbrs {
			out[n] = true
		}
	}
	return out
}

// fillCourse fills a course watch's sections and returns its seat status:
// open when a section passing the filter has seats.
func (v *watchView) fillCourse(w store.WatchView) watchStatus {
	named := alerted(w)
	v.Sections = make([]sectionView, 0, len(w.Course))
	c := courseCounts{Sections: len(w.Course)}
	var statuses []watchStatus
	for _, st := range w.Course {
		v.Title = cmp.Or(v.Title, st.Section.Title)
		sv := newSectionView(w.Term, st.Section.ClassNbr, st)
		m := w.Filter.Matches(st.Section)
		sv.Matches, sv.Alerted = &m, named[sv.ClassNbr]
		if m {
			c.Matching++
			statuses = append(statuses, sv.Status)
			if sv.Status.counts(w.NotifyReserved) {
				c.Available++
			}
		}
		v.Sections = append(v.Sections, sv)
		v.keys = append(v.keys, catalog.SectionKey{Term: w.Term, ClassNbr: sv.ClassNbr})
	}
	// Matching sections first, each group in catalog order.
	slices.SortStableFunc(v.Sections, func(a, b sectionView) int {
		if *a.Matches == *b.Matches {
			return 0
		}
		if *a.Matches {
			return -1
		}
		return 1
	})
	v.Counts = &c
	switch {
	case len(w.Course) == 0:
		return statusWaiting
	case c.Matching == 0:
		return statusNoMatch
	}
	// The best state among the matching sections.
	for _, s := range []watchStatus{statusOpen, statusReserved, statusFull, statusUnknown, statusCancelled} {
		if slices.Contains(statuses, s) {
			return s
		}
	}
	return statusFull
}

// fillLinked fills a linked watch's lecture and its labs, and sets its
// seat status: open when the lecture has seats and so has one of its labs
// (or the lecture alone, when it has none).
func (v *watchView) fillLinked(w store.WatchView) {
	named := alerted(w)
	lecture := v.sectionView
	lecture.Role, lecture.Alerted = "lecture", named[lecture.ClassNbr]
	v.Sections = []sectionView{lecture}
	c := courseCounts{Sections: len(w.Course)}
	if w.State != nil {
		present := make([]catalog.Section, len(w.Course))
		byNbr := make(map[string]*store.SectionState, len(w.Course))
		for i, st := range w.Course {
			present[i] = st.Section
			byNbr[st.Section.ClassNbr] = st
		}
		for _, lab := range w.State.Section.Linked(present) {
			sv := newSectionView(w.Term, lab.ClassNbr, byNbr[lab.ClassNbr])
			sv.Role, sv.Alerted = "linked", named[lab.ClassNbr]
			c.Matching++
			if sv.Status.counts(w.NotifyReserved) {
				c.Available++
			}
			v.Sections = append(v.Sections, sv)
			v.keys = append(v.keys, catalog.SectionKey{Term: w.Term, ClassNbr: lab.ClassNbr})
		}
	}
	v.Counts = &c
	if v.SeatStatus == statusNotFound || w.State == nil {
		return
	}
	if lecture.Status.counts(w.NotifyReserved) {
		v.SeatStatus = statusFull
		if c.Matching == 0 || c.Available > 0 {
			v.SeatStatus = statusOpen
		}
	}
}

// linkedLabel is a linked watch's status in words.
func (v watchView) linkedLabel() string {
	lecture := v.Sections[0]
	switch {
	case v.SeatStatus == statusOpen && v.Counts.Matching == 0:
		return "Lecture open"
	case v.SeatStatus == statusOpen:
		return "Lecture and a lab open"
	case lecture.Status.counts(v.NotifyReserved):
		return "Lecture open, no " + strings.ToLower(v.linkedNoun()) + " with seats"
	case lecture.Status == statusFull:
		return "Lecture full"
	}
	return v.SeatStatus.label()
}
