package channel

import (
	"fmt"
	"strings"
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
)

// Message kinds besides the catalog events.
const (
	// EventTest is a test alert the user asked for.
	EventTest = "test"
	// EventVerify carries the code that proves the user reads the channel.
	EventVerify = "verify"
)

// Message is one alert, ready for any channel.
type Message struct {
	// ID is stable across retries of one delivery (the webhook-id, the push
	// Topic), so a receiver can drop a repeat.
	ID string
	// Event is a catalog event, EventTest or EventVerify.
	Event string
	Title string
	// Body is plain text, a few short lines.
	Body string
	// URL is where the alert leads: the enroll page.
	URL string
	// Section, TermName and OpenSeats are the class details; zero for a
	// verification message.
	Section   catalog.Section
	TermName  string
	OpenSeats int
	// Code is the verification code of an EventVerify message.
	Code string
	At   time.Time
	// Watch is what the alert's watch asks for; zero for a test or
	// verification message.
	Watch Watch
}

// Watch is what an alert's watch asks for beyond its section.
type Watch struct {
	// Kind is the watch's kind; empty means a section watch.
	Kind catalog.WatchKind
	// Filter narrows a course watch.
	Filter catalog.Filter
	// Sections are the current states of the sections a course or linked
	// alert names: for a course watch those that opened (or, for
	// catalog.EventSeatGone, are full again); for a linked watch the
	// lecture first, then its open labs or recitations. Empty for a
	// section watch, whose section is the message's Section.
	Sections []catalog.Section
	// URLs are the enroll pages of Sections, index for index; optional.
	URLs []string
}

// Alert builds the message of a section watch's event on section s: a seat
// opened, an instructor was assigned, or the seat alerted about is gone.
func Alert(id string, ev catalog.Event, s catalog.Section, termName string, openSeats int, enrollURL string, at time.Time) Message {
	return WatchAlert(id, ev, s, Watch{}, termName, openSeats, enrollURL, at)
}

// WatchAlert builds the message of an event of any watch: w says what the
// watch asks for and, for a course or linked watch, names the sections;
// s is the first of them (or the watched section), enrollURL its page.
// Any other event is told as a section watch's alert on s.
func WatchAlert(id string, ev catalog.Event, s catalog.Section, w Watch, termName string, openSeats int, enrollURL string, at time.Time) Message {
	if w.Kind == "" {
		w.Kind = catalog.WatchSection
	}
	m := Message{ID: id, Event: string(ev), URL: enrollURL, Section: s, TermName: termName, OpenSeats: openSeats, At: at, Watch: w}
	if (w.Kind == catalog.WatchCourse || w.Kind == catalog.WatchLinked) &&
		(ev == catalog.EventSeatAvailable || ev == catalog.EventSeatGone) {
		if len(m.Watch.Sections) == 0 {
			m.Watch.Sections = []catalog.Section{s}
			m.Watch.URLs = []string{enrollURL}
		}
		m.Title, m.Body = watchText(ev, m.Watch, termName)
		return m
	}
	course := strings.TrimSpace(s.Subject + " " + s.CatalogNbr)
	general, known := s.GeneralOpen()
	reserved, _ := s.ReservedOpen()
	reservedOnly := ev == catalog.EventSeatAvailable && known && general == 0 && reserved > 0
	switch {
	case ev == catalog.EventInstructorAssigned:
		m.Title = fmt.Sprintf("Instructor assigned: %s (#%s)", course, s.ClassNbr)
	case ev == catalog.EventSeatGone:
		m.Title = fmt.Sprintf("Seat taken again: %s (#%s)", course, s.ClassNbr)
		m.Body = fmt.Sprintf("The seat in %s %s you were told about is taken again.\n%s", course, sectionName(s, ""),
			"Still watching it: you'll get another alert when a seat opens.")
		return m
	case reservedOnly:
		m.Title = fmt.Sprintf("Reserved seats open (%d, none open to everyone): %s (#%s)", reserved, course, s.ClassNbr)
	default:
		seats := "seats"
		if openSeats == 1 {
			seats = "seat"
		}
		m.Title = fmt.Sprintf("%d %s open: %s (#%s)", openSeats, seats, course, s.ClassNbr)
	}
	var b strings.Builder
	if s.Title != "" {
		fmt.Fprintf(&b, "%s — %s\n", course, s.Title)
	} else {
		fmt.Fprintf(&b, "%s\n", course)
	}
	fmt.Fprintf(&b, "Class #%s", s.ClassNbr)
	if termName != "" {
		fmt.Fprintf(&b, ", %s", termName)
	}
	b.WriteString("\n")
	if s.Capacity > 0 {
		fmt.Fprintf(&b, "Seats: %d open of %d\n", openSeats, s.Capacity)
	} else {
		fmt.Fprintf(&b, "Seats: %d open\n", openSeats)
	}
	if s.NonReservedOpen != nil {
		for _, g := range s.ReservedGroups {
			fmt.Fprintf(&b, "Reserved for %s: %d open of %d\n", g.Name, g.Open(), g.Capacity)
		}
	}
	fmt.Fprintf(&b, "Instructor: %s\n", Instructors(s))
	if enrollURL != "" {
		fmt.Fprintf(&b, "Enroll: %s", enrollURL)
	}
	m.Body = strings.TrimRight(b.String(), "\n")
	return m
}

// Instructors names the section's instructors, or "Staff".
func Instructors(s catalog.Section) string {
	names := make([]string, 0, len(s.Instructors))
	for _, in := range s.Instructors {
		if in.Name != "" {
			names = append(names, in.Name)
		}
	}
	if len(names) == 0 {
		return "Staff"
	}
	return strings.Join(names, ", ")
}

// Test builds a test alert: it looks like a real one, marked as a test.
func Test(id string, dashboardURL string, at time.Time) Message {
	return Message{
		ID: id, Event: EventTest, URL: dashboardURL, At: at,
		Title: "PickMyClass test alert",
		Body:  "This is a test. Seat alerts for the classes you watch will arrive here.",
	}
}

// Verify builds the message that carries a channel's verification code.
func Verify(id, code, settingsURL string, at time.Time) Message {
	return Message{
		ID: id, Event: EventVerify, URL: settingsURL, At: at, Code: code,
		Title: "PickMyClass verification code: " + code,
		Body:  "Enter " + code + " in PickMyClass settings to start receiving seat alerts here.",
	}
}
