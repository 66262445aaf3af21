package notify

import (
	"strconv"
	"strings"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
)

// newWatchView is the view of a course or linked watch's alert: it names
// every section of a.Sections (a.Section alone when there are none), each
// with its own details and class link.
func newWatchView(a Alert, kind catalog.WatchKind) view {
	secs := a.Sections
	if len(secs) == 0 {
		secs = []catalog.Section{a.Section}
	}
	v := baseView(a, secs[0])
	filter := clean(a.Filter.String())
	var details []string
	if v.TermName != "" {
		details = append(details, v.TermName)
	}
	if kind == catalog.WatchCourse && filter != "" {
		details = append(details, "matching: "+filter)
	}
	v.Details = strings.Join(details, " · ")
	names := make([]string, len(secs))
	for i, s := range secs {
		noun := ""
		if kind == catalog.WatchLinked {
			noun = "section"
			if i == 0 {
				noun = "lecture"
			}
		}
		names[i] = sectionName(s, noun)
		f, _ := sectionFacts(s, a.Event, 0, 0, false)
		sv := sectionView{facts: f, Heading: sectionHeading(s)}
		if i < len(a.ClassURLs) && a.ClassURLs[i] != "" {
			sv.ClassURL = a.ClassURLs[i]
			sv.Action = "View " + names[i]
			// Each section has its own link; one more for the first
			// would repeat it.
			v.ClassURL = ""
		}
		v.Sections = append(v.Sections, sv)
	}

	switch kind {
	case catalog.WatchCourse:
		v.Watching = "any section of " + v.Course
		if filter != "" {
			v.Watching += " (" + filter + ")"
		}
		v.courseWording(a.Event, names)
	case catalog.WatchLinked:
		v.Watching = v.Course + " " + names[0] + " with its labs or recitations"
		v.linkedWording(a.Event, names)
	}
	return v
}

// courseWording fills the subject and sentences of a course watch's alert
// about the sections named.
func (v *view) courseWording(ev catalog.Event, names []string) {
	switch ev {
	case catalog.EventSeatAvailable:
		v.Subject = "Seats open in " + v.Course
		if v.TermName != "" {
			v.Subject += " (" + v.TermName + ")"
		}
		v.Headline = "Seats just opened"
		if len(names) == 1 {
			v.Subject += " — " + names[0]
			v.Intro = "Seats opened in " + names[0] + " of " + v.Course + ", a course you're watching."
		} else {
			v.Subject += " — " + strconv.Itoa(len(names)) + " sections"
			v.Intro = "Seats opened in " + strconv.Itoa(len(names)) + " sections of " + v.Course +
				", a course you're watching: " + listPhrase(names) + "."
		}
		v.Outro = "Seats can go fast. We'll email you again when seats open in a section that was full."
		v.Preheader = v.Intro + " Enroll before they fill."
	case catalog.EventSeatGone:
		v.Subject = "Full again: " + v.Course
		if v.TermName != "" {
			v.Subject += " (" + v.TermName + ")"
		}
		if len(names) == 1 {
			v.Headline = "The section is full again"
			v.Intro = "The section of " + v.Course + " you were told about, " + names[0] + ", is full again."
		} else {
			v.Headline = "The sections are full again"
			v.Intro = "The sections of " + v.Course + " you were told about, " + listPhrase(names) + ", are full again."
		}
		v.Outro = "We're still watching the course and will email you again when a section opens."
		v.Preheader = v.Intro
	}
}

// linkedWording fills the subject and sentences of a linked watch's alert
// about the lecture (names[0]) and its labs or recitations.
func (v *view) linkedWording(ev catalog.Event, names []string) {
	combo := v.Course + " " + names[0]
	if len(names) > 1 {
		combo += " with " + listPhrase(names[1:])
	}
	switch ev {
	case catalog.EventSeatAvailable:
		switch len(names) {
		case 1:
			v.Subject = v.Course + " " + names[0] + " has seats"
		case 2:
			v.Subject = v.Course + " " + names[0] + " and " + names[1] + " both have seats"
		default:
			shown := names[1:]
			more := 0
			if len(shown) > 3 {
				shown, more = shown[:3], len(shown)-3
			}
			v.Subject = v.Course + " " + names[0] + " and " + strings.Join(shown, ", ")
			if more > 0 {
				v.Subject += " and " + strconv.Itoa(more) + " more"
			}
			v.Subject += " have seats"
		}
		v.Headline = "Seats open in a combination you can take"
		v.Intro = "The lecture you're watching has seats, and so "
		switch len(names) {
		case 1:
			v.Headline = "Your lecture has seats"
			v.Intro = "The lecture you're watching has seats; it needs no lab or recitation."
		case 2:
			v.Intro += "does " + names[1] + ": you can enroll in both."
		default:
			v.Intro += "do " + listPhrase(names[1:]) + ": you can enroll in the lecture with any of them."
		}
		v.Outro = "Seats can go fast. We'll email you again if this combination fills and opens later."
		v.Preheader = v.Subject + ". Enroll before they fill."
	case catalog.EventSeatGone:
		v.Subject = "No longer open: " + combo
		v.Headline = "The combination is no longer open"
		v.Intro = "The lecture+lab combination you were told about, " + combo + ", is no longer open."
		v.Outro = "We're still watching and will email you again when the lecture and one of its labs or recitations both have seats."
		v.Preheader = v.Intro
	}
}

// sectionName names s in a sentence: "section 01 (70412)", or by its kind
// when noun is set or its component is known ("lab 66450"); noun is used
// when the component is unknown.
func sectionName(s catalog.Section, noun string) string {
	nbr := clean(s.ClassNbr)
	if c, ok := s.ComponentNoun(); ok && noun != "" {
		noun = c
	}
	if noun != "" {
		return noun + " " + nbr
	}
	if code := clean(s.SectionCode); code != "" {
		return "section " + code + " (" + nbr + ")"
	}
	return "class #" + nbr
}

// sectionHeading heads one section of a course or linked alert: "Lab ·
// Section 02 · Class #66450".
func sectionHeading(s catalog.Section) string {
	var parts []string
	if c, ok := s.ComponentNoun(); ok {
		parts = append(parts, strings.ToUpper(c[:1])+c[1:])
	}
	if code := clean(s.SectionCode); code != "" {
		parts = append(parts, "Section "+code)
	}
	return strings.Join(append(parts, "Class #"+clean(s.ClassNbr)), " · ")
}

// listPhrase joins items as a sentence does: "a", "a and b", "a, b and c".
func listPhrase(items []string) string {
	if len(items) <= 1 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}
