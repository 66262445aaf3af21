package channel

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
)

// maxListed is how many sections a message details. Receivers cap a
// message's size (Discord 4096 characters, Slack 3000, a push record 2048
// bytes) and refuse a longer one for good, so the rest of a course's
// sections are only counted.
const maxListed = 4

// watchText is the title and body of a course or linked watch's alert
// about the sections w names (at least one).
func watchText(ev catalog.Event, w Watch, termName string) (title, body string) {
	first := w.Sections[0]
	course := strings.TrimSpace(first.Subject + " " + first.CatalogNbr)
	names := make([]string, len(w.Sections))
	for i, s := range w.Sections {
		noun := ""
		if w.Kind == catalog.WatchLinked {
			noun = "section"
			if i == 0 {
				noun = "lecture"
			}
		}
		names[i] = sectionName(s, noun)
	}
	combo := course + " " + names[0]
	if len(names) > 1 {
		combo += " with " + listPhrase(capped(names[1:]))
	}

	var b strings.Builder
	switch {
	case ev == catalog.EventSeatGone && w.Kind == catalog.WatchCourse:
		title = "Full again: " + course
		if len(names) == 1 {
			fmt.Fprintf(&b, "The section of %s you were told about, %s, is full again.\n", course, names[0])
		} else {
			fmt.Fprintf(&b, "The sections of %s you were told about, %s, are full again.\n", course, listPhrase(capped(names)))
		}
		b.WriteString("Still watching the course: you'll get another alert when a section opens.")
		return title, b.String()
	case ev == catalog.EventSeatGone:
		title = "No longer open: " + combo
		fmt.Fprintf(&b, "The lecture+lab combination you were told about, %s, is no longer open.\n", combo)
		b.WriteString("Still watching: you'll get another alert when the lecture and one of its labs or recitations both have seats.")
		return title, b.String()
	case w.Kind == catalog.WatchCourse:
		title = "Seats open in " + course + ": " + names[0]
		if len(names) > 1 {
			title = fmt.Sprintf("Seats open in %s: %d sections", course, len(names))
		}
	default:
		switch len(names) {
		case 1:
			title = combo + " has seats"
		case 2:
			title = course + " " + names[0] + " and " + names[1] + " both have seats"
		default:
			title = course + " " + names[0] + " and " + listPhrase(capped(names[1:])) + " have seats"
		}
	}
	if first.Title != "" {
		fmt.Fprintf(&b, "%s — %s\n", course, first.Title)
	} else {
		fmt.Fprintf(&b, "%s\n", course)
	}
	var about []string
	if termName != "" {
		about = append(about, termName)
	}
	if f := w.Filter.String(); w.Kind == catalog.WatchCourse && f != "" {
		about = append(about, "matching: "+f)
	}
	if len(about) > 0 {
		b.WriteString(strings.Join(about, " · ") + "\n")
	}
	for i, s := range w.Sections[:min(len(w.Sections), maxListed)] {
		fmt.Fprintf(&b, "%s: %s\n", upperFirst(names[i]), sectionLine(s))
		if i < len(w.URLs) && w.URLs[i] != "" {
			fmt.Fprintf(&b, "Enroll: %s\n", w.URLs[i])
		}
	}
	if more := len(w.Sections) - maxListed; more > 0 {
		fmt.Fprintf(&b, "And %d more; see them all on PickMyClass.\n", more)
	}
	return title, strings.TrimRight(b.String(), "\n")
}

// capped is names with those past maxListed counted: "lab #1, lab #2, lab
// #3, lab #4 and 2 more".
func capped(names []string) []string {
	if len(names) <= maxListed {
		return names
	}
	return append(names[:maxListed:maxListed], strconv.Itoa(len(names)-maxListed)+" more")
}

// sectionLine is one section's details on a line: "1 of 150 open · Ada
// Lovelace · M W 1:30 PM–2:45 PM · BYENG 210".
func sectionLine(s catalog.Section) string {
	open := s.OpenSeats()
	if general, ok := s.GeneralOpen(); ok {
		open = general
	}
	seats := strconv.Itoa(open) + " open"
	if s.Capacity > 0 {
		seats = fmt.Sprintf("%d of %d open", open, s.Capacity)
	}
	if reserved, ok := s.ReservedOpen(); ok && reserved > 0 {
		seats += fmt.Sprintf(", plus %d reserved", reserved)
	}
	parts := []string{seats, Instructors(s)}
	for _, m := range s.Meetings {
		if t := strings.TrimSpace(m.Days + " " + meetingTimes(m)); t != "" {
			parts = append(parts, t)
		}
	}
	switch {
	case s.Online:
		parts = append(parts, "Online")
	case s.Location != "":
		parts = append(parts, s.Location)
	}
	return strings.Join(parts, " · ")
}

func meetingTimes(m catalog.Meeting) string {
	if m.StartTime != "" && m.EndTime != "" {
		return m.StartTime + "–" + m.EndTime
	}
	return m.StartTime
}

// sectionName names s in a sentence: "section 01 (#70412)", or by its
// kind when noun is set ("lab #66450"), its component winning over noun
// when known.
func sectionName(s catalog.Section, noun string) string {
	if c, ok := s.ComponentNoun(); ok && noun != "" {
		noun = c
	}
	switch {
	case noun != "":
		return noun + " #" + s.ClassNbr
	case s.SectionCode != "":
		return "section " + s.SectionCode + " (#" + s.ClassNbr + ")"
	}
	return "class #" + s.ClassNbr
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// listPhrase joins items as a sentence does: "a", "a and b", "a, b and c".
func listPhrase(items []string) string {
	if len(items) <= 1 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}
