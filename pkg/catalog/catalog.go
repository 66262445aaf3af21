// Package catalog holds the domain types of a university class search — terms,
// courses and sections — the Source interface every university adapter
// implements, and the change detection rules that turn two observations of a
// section into events. It imports no infrastructure.
package catalog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// CourseKey names a course within a term. One upstream request serves every
// section of a course, so checks are coalesced by CourseKey.
type CourseKey struct {
	Term       string `json:"term"`
	Subject    string `json:"subject"`
	CatalogNbr string `json:"catalog_nbr"`
}

func (k CourseKey) String() string { return k.Term + ":" + k.Subject + ":" + k.CatalogNbr }

// SectionKey names one section. A class number is unique only within a term, so
// a section is always keyed by both.
type SectionKey struct {
	Term     string `json:"term"`
	ClassNbr string `json:"class_nbr"`
}

func (k SectionKey) String() string { return k.Term + ":" + k.ClassNbr }

// ScanKey names a walk of the class search: every section of one subject in
// a term, or of the whole term when Subject is empty. One paged search
// serves every watched section it covers.
type ScanKey struct {
	Term    string `json:"term"`
	Subject string `json:"subject,omitempty"`
}

func (k ScanKey) String() string {
	if k.Subject == "" {
		return k.Term + ":*"
	}
	return k.Term + ":" + k.Subject + ":*"
}

// Covers reports whether the walk returns the sections of course c.
func (k ScanKey) Covers(c CourseKey) bool {
	return c.Term == k.Term && (k.Subject == "" || strings.EqualFold(c.Subject, k.Subject))
}

// Scan is the outcome of a complete walk: every section the search matched,
// read through all its pages. A walk that could not read every page is an
// error, never a Scan, so a section missing from a Scan is truly absent.
type Scan struct {
	Key      ScanKey
	Sections []Section
	// Total is the search's own count of matching sections (ASU's
	// total.value); the planner uses it to price the next walk.
	Total int
	// Pages is the number of requests the walk took.
	Pages int
}

// Term is a registrar term such as {Code: "2267", Name: "Fall 2026"}.
type Term struct {
	Code string `json:"code"`
	Name string `json:"name"`
}

// Instructor is a named instructor. ID is the university's stable identifier
// when the source gives one (ASU: the asurite after "~").
type Instructor struct {
	Name string `json:"name"`
	ID   string `json:"id,omitempty"`
}

// Meeting is one meeting pattern of a section.
type Meeting struct {
	Days      string `json:"days"`       // "M W", "T Th"
	StartTime string `json:"start_time"` // "1:30 PM"
	EndTime   string `json:"end_time"`
}

// Status is the registrar's view of a section.
type Status string

// Section statuses.
const (
	StatusOpen      Status = "open"
	StatusClosed    Status = "closed"
	StatusCancelled Status = "cancelled"
	// StatusUnknown is a section whose seat counts the source left out: it
	// is neither open nor closed, and never the grounds of a seat alert.
	StatusUnknown Status = "unknown"
)

// Section is one observation of a class section.
type Section struct {
	Term        string `json:"term"`
	ClassNbr    string `json:"class_nbr"`
	Subject     string `json:"subject"`
	CatalogNbr  string `json:"catalog_nbr"`
	SectionCode string `json:"section"`
	Title       string `json:"title"`

	// Instructors is empty when the registrar lists none ("Staff").
	Instructors []Instructor `json:"instructors"`

	Capacity int    `json:"capacity"`
	Enrolled int    `json:"enrolled"`
	Status   Status `json:"status"`
	// HasReservedSeats is the registrar's flag that some seats are reserved.
	HasReservedSeats bool `json:"has_reserved_seats"`
	// NonReservedOpen is the number of open seats anyone may take, when the
	// source reports it; nil when unknown.
	NonReservedOpen *int `json:"non_reserved_open,omitempty"`
	// ReservedGroups are the blocks of seats held for some students, as
	// read together with NonReservedOpen (see SetReserved).
	ReservedGroups []ReservedGroup `json:"reserved_groups,omitempty"`
	// Offering holds the source's own identifiers of the section, needed for
	// follow-up lookups such as reserved seats. It is neither stored nor
	// shown.
	Offering Offering `json:"-"`

	Campus   string    `json:"campus,omitempty"`
	Location string    `json:"location,omitempty"`
	Online   bool      `json:"online"`
	Mode     string    `json:"mode,omitempty"`
	Session  string    `json:"session,omitempty"`
	Meetings []Meeting `json:"meetings,omitempty"`
	// Component is the kind of class: "LEC", "LAB", "REC", "SEM"…; empty
	// when the source does not say.
	Component string `json:"component,omitempty"`
	// Association groups a course's sections that are taken together: a
	// lecture and the labs or recitations that go with it share it (ASU's
	// ASSOCIATEDCLASS). Empty when the source does not say.
	Association string `json:"association,omitempty"`
	// Primary marks the section a student enrolls in for its association
	// (the lecture); the others of the association are its linked
	// components.
	Primary bool `json:"primary,omitempty"`
	// EnrollDeadline is the last moment a student can add the section:
	// the end of its enrollment deadline day, else of its last class day,
	// in the university's time zone. Zero when unknown.
	EnrollDeadline time.Time `json:"enroll_deadline,omitzero"`
}

// componentNouns are the words for the kinds of class, as a sentence names
// a section by its component ("lab 66450").
var componentNouns = map[string]string{
	"LEC": "lecture",
	"LAB": "lab",
	"REC": "recitation",
	"SEM": "seminar",
	"DIS": "discussion",
	"STU": "studio",
}

// ComponentNoun returns the word for the section's component ("lab" for
// LAB), and whether the component is one of those known.
func (s Section) ComponentNoun() (string, bool) {
	n, ok := componentNouns[strings.ToUpper(strings.TrimSpace(s.Component))]
	return n, ok
}

// Linked returns the sections of secs taken together with s: those of its
// course and association other than s itself that are not primary. A
// section without an association has none.
func (s Section) Linked(secs []Section) []Section {
	if s.Association == "" {
		return nil
	}
	var out []Section
	for _, o := range secs {
		if o.ClassNbr != s.ClassNbr && !o.Primary && o.Association == s.Association &&
			o.Term == s.Term && o.Subject == s.Subject && o.CatalogNbr == s.CatalogNbr {
			out = append(out, o)
		}
	}
	return out
}

// ReservedGroup is a block of a section's seats held for some students: a
// major, a program, a cohort.
type ReservedGroup struct {
	Name     string `json:"name"`
	Capacity int    `json:"capacity"`
	Enrolled int    `json:"enrolled"`
}

// Open returns the group's unfilled seats; an over-filled group has none.
func (g ReservedGroup) Open() int { return max(g.Capacity-g.Enrolled, 0) }

// Offering is how a source names a section beyond its class number (ASU:
// CRSEID, CRSEOFFERNBR and ACADCAREER of the class search).
type Offering struct {
	CourseID string
	OfferNbr string
	Career   string
}

// SetReserved records a section's reserved groups and derives the seats
// open to everyone: capacity − enrolled less every group's unfilled seats,
// never below 0. No groups means every open seat is open to everyone.
func (s *Section) SetReserved(groups []ReservedGroup) {
	held := 0
	for _, g := range groups {
		held += g.Open()
	}
	n := max(s.Capacity-s.Enrolled-held, 0)
	s.NonReservedOpen = &n
	s.ReservedGroups = groups
}

// Course returns the key of the course the section belongs to.
func (s Section) Course() CourseKey {
	return CourseKey{Term: s.Term, Subject: s.Subject, CatalogNbr: s.CatalogNbr}
}

// Key returns the section's key.
func (s Section) Key() SectionKey { return SectionKey{Term: s.Term, ClassNbr: s.ClassNbr} }

// Source is a university's class search.
type Source interface {
	// Course returns every section of a course. A course that does not exist
	// yields an empty slice, not an error.
	Course(ctx context.Context, key CourseKey) ([]Section, error)
	// Section returns one section, or an error of KindNotFound.
	Section(ctx context.Context, key SectionKey) (Section, error)
	// Terms lists the terms the catalog offers.
	Terms(ctx context.Context) ([]Term, error)
}

// Kind classifies a Source failure; the worker's outcome depends on it.
type Kind int

// Failure kinds.
const (
	KindServer       Kind = iota // 5xx or a transport failure: counts toward the breaker
	KindNotFound                 // no such section: not retried, not a breaker failure
	KindRateLimited              // 429: back off, not a breaker failure
	KindUnauthorized             // 401/403: the source changed its auth; a breaker failure
	KindTimeout                  // no answer in time: a breaker failure
	KindMalformed                // a body we cannot parse: a breaker failure
)

func (k Kind) String() string {
	switch k {
	case KindNotFound:
		return "not_found"
	case KindRateLimited:
		return "rate_limited"
	case KindUnauthorized:
		return "unauthorized"
	case KindTimeout:
		return "timeout"
	case KindMalformed:
		return "malformed"
	default:
		return "server_error"
	}
}

// Error is a classified Source failure.
type Error struct {
	Kind       Kind
	Status     int           // HTTP status when there was one
	RetryAfter time.Duration // for KindRateLimited, when the source said
	Err        error
}

func (e *Error) Error() string {
	msg := e.Kind.String()
	if e.Status != 0 {
		msg = fmt.Sprintf("%s (status %d)", msg, e.Status)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the kind of a Source error; errors that are not *Error are
// KindServer.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindServer
}
