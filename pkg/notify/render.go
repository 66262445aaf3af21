package notify

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"net/url"
	"strconv"
	"strings"
	texttemplate "text/template"
	"unicode"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
)

//go:embed templates
var templateFS embed.FS

// Alert is everything one alert email says. Section supplies the class
// details; the other fields are what the worker knows about the watcher and
// the links it has built for them.
type Alert struct {
	Event    catalog.Event
	To       string
	UserName string // may be empty
	Section  catalog.Section
	TermName string // "Fall 2026"
	// OpenSeats and Capacity default to the section's own figures when zero.
	OpenSeats int
	Capacity  int
	// HasReservedSeats adds a caution that some open seats may not be open
	// to everyone; the section's own flag sets it too.
	HasReservedSeats bool
	ClassURL         string // the university's page for the class; the call to action
	DashboardURL     string // where the user manages their alerts
	// UnsubscribeURL is the signed link in the footer, which should open a
	// confirmation page: link scanners follow every link in an email.
	UnsubscribeURL string
	// ListUnsubscribePostURL receives the RFC 8058 one-click POST from mail
	// clients; when empty the List-Unsubscribe header uses UnsubscribeURL.
	ListUnsubscribePostURL string
	MessageID              string // see Email.MessageID

	// Kind is what the watch asks for; empty means a section watch.
	Kind catalog.WatchKind
	// Filter narrows a course watch; its alert says what it matched.
	Filter catalog.Filter
	// Sections are the current states of the sections a course or linked
	// alert names: for a course watch the sections that just opened (or,
	// for EventSeatGone, that are full again); for a linked watch the
	// lecture first, then its open labs or recitations. Empty means
	// Section alone. A section watch's alert ignores them.
	Sections []catalog.Section
	// ClassURLs are the class pages of Sections, index for index: each
	// named section gets its own link. When empty, ClassURL is the one
	// link of a course or linked alert.
	ClassURLs []string
}

type templatePair struct {
	html *htmltemplate.Template
	text *texttemplate.Template
}

// templateKey picks an alert's templates: what its watch asks for and what
// happened.
type templateKey struct {
	kind  catalog.WatchKind
	event catalog.Event
}

var templates = map[templateKey]templatePair{
	{catalog.WatchSection, catalog.EventSeatAvailable}:      parseTemplates("seat_available", "footer_alert"),
	{catalog.WatchSection, catalog.EventInstructorAssigned}: parseTemplates("instructor_assigned", "footer_alert"),
	{catalog.WatchSection, catalog.EventSeatGone}:           parseTemplates("seat_gone", "footer_alert"),
	{catalog.WatchCourse, catalog.EventSeatAvailable}:       parseTemplates("sections_seat_available", "footer_alert"),
	{catalog.WatchCourse, catalog.EventSeatGone}:            parseTemplates("seat_gone", "footer_alert"),
	{catalog.WatchLinked, catalog.EventSeatAvailable}:       parseTemplates("sections_seat_available", "footer_alert"),
	{catalog.WatchLinked, catalog.EventSeatGone}:            parseTemplates("seat_gone", "footer_alert"),
}

// parseTemplates parses the layout with the named template files, which
// define its "content" and "footer".
func parseTemplates(names ...string) templatePair {
	htmlFiles := []string{"templates/layout.html.tmpl"}
	textFiles := []string{"templates/layout.txt.tmpl"}
	for _, n := range names {
		htmlFiles = append(htmlFiles, "templates/"+n+".html.tmpl")
		textFiles = append(textFiles, "templates/"+n+".txt.tmpl")
	}
	return templatePair{
		html: htmltemplate.Must(htmltemplate.New("layout").ParseFS(templateFS, htmlFiles...)),
		text: texttemplate.Must(texttemplate.New("layout").ParseFS(templateFS, textFiles...)),
	}
}

// view is what the templates see: every value already chosen and formatted,
// so the templates hold layout and wording only.
type view struct {
	Subject   string
	Preheader string // the preview line mail clients show after the subject
	UserName  string
	Course    string // "CSE 240"
	Title     string
	TermName  string
	ClassNbr  string
	Details   string // "Fall 2026 · Section 01 · Class #70412"
	// Watching is what the footer says the user watches: "CSE 240
	// #70412", "any section of CSE 240".
	Watching string
	// facts describe Section; a course or linked alert's sections have
	// their own.
	facts

	// Headline, Intro and Outro are the wording of the templates shared by
	// several kinds of watch.
	Headline string
	Intro    string
	Outro    string
	// Sections are the sections a course or linked alert names.
	Sections []sectionView

	ClassURL       string
	DashboardURL   string
	UnsubscribeURL string
}

// facts are one section's details as the "facts" template lays them out.
type facts struct {
	InstructorLabel string // "Instructor" or "Instructors"
	Instructors     string
	Seats           string // "1 of 150 seats open"
	Reserved        bool   // some seats may be reserved, for whom is unknown
	// Groups describes each reserved group when they were read: "Computer
	// Science majors: 2 of 20 seats open".
	Groups []string
	// ReservedOnly labels an alert about seats open only to some groups.
	ReservedOnly bool
	Meetings     []string
	Location     string
}

// sectionView is one section named by a course or linked alert.
type sectionView struct {
	facts
	Heading  string // "Lab · Section 02 · Class #66450"
	ClassURL string
	Action   string // the label of the link to ClassURL
}

// RenderAlert renders the email for a, with both an HTML and a plain-text
// body and the List-Unsubscribe, List-Unsubscribe-Post and Auto-Submitted
// headers. Everything that comes from the user or the university is escaped
// in the HTML body; the email loads no remote content.
func RenderAlert(a Alert) (Email, error) {
	kind := a.Kind
	if kind == "" {
		kind = catalog.WatchSection
	}
	if !kind.Valid() {
		return Email{}, fmt.Errorf("render alert: unknown watch kind %q", a.Kind)
	}
	tp, ok := templates[templateKey{kind, a.Event}]
	if !ok {
		return Email{}, fmt.Errorf("render alert: unknown event %q for a %s watch", a.Event, kind)
	}
	if err := a.validate(); err != nil {
		return Email{}, fmt.Errorf("render alert: %w", err)
	}
	var v view
	if kind == catalog.WatchSection {
		v = newView(a)
	} else {
		v = newWatchView(a, kind)
	}
	var html, text bytes.Buffer
	if err := tp.html.ExecuteTemplate(&html, "layout", v); err != nil {
		return Email{}, fmt.Errorf("render alert %s html: %w", a.Event, err)
	}
	if err := tp.text.ExecuteTemplate(&text, "layout", v); err != nil {
		return Email{}, fmt.Errorf("render alert %s text: %w", a.Event, err)
	}

	unsub := a.ListUnsubscribePostURL
	if unsub == "" {
		unsub = a.UnsubscribeURL
	}
	headers := map[string]string{
		"List-Unsubscribe": "<" + unsub + ">",
		"Auto-Submitted":   "auto-generated",
	}
	// RFC 8058 requires an https URI for one-click; advertising it for a
	// plain http link (a dev setup) would invite clients to POST in clear.
	if strings.HasPrefix(unsub, "https://") {
		headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
	}
	return Email{
		To:        a.To,
		Subject:   v.Subject,
		HTML:      html.String(),
		Text:      text.String(),
		Headers:   headers,
		MessageID: a.MessageID,
	}, nil
}

func (a Alert) validate() error {
	var problems []error
	if strings.TrimSpace(a.To) == "" {
		problems = append(problems, errors.New("no recipient"))
	}
	if a.UnsubscribeURL == "" {
		problems = append(problems, errors.New("no unsubscribe url"))
	}
	if len(a.ClassURLs) > max(len(a.Sections), 1) {
		problems = append(problems, fmt.Errorf("%d class urls for %d sections", len(a.ClassURLs), len(a.Sections)))
	}
	urls := []struct{ name, value string }{
		{"class url", a.ClassURL},
		{"dashboard url", a.DashboardURL},
		{"unsubscribe url", a.UnsubscribeURL},
		{"list-unsubscribe post url", a.ListUnsubscribePostURL},
	}
	for _, u := range a.ClassURLs {
		urls = append(urls, struct{ name, value string }{"section class url", u})
	}
	for _, u := range urls {
		if err := checkURL(u.name, u.value); err != nil {
			problems = append(problems, err)
		}
	}
	return errors.Join(problems...)
}

// checkURL reports a value that is set but not an absolute http(s) URL. The
// plain-text body prints URLs as they are, so a javascript: or relative
// link must be stopped here, not left to html/template.
func checkURL(name, value string) error {
	if value == "" {
		return nil
	}
	p, err := url.Parse(value)
	if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" ||
		strings.ContainsAny(value, " <>\r\n") {
		return fmt.Errorf("%s %q is not an absolute http(s) url", name, value)
	}
	return nil
}

// baseView is what every alert's view says of its user, links and
// course, the course named by s.
func baseView(a Alert, s catalog.Section) view {
	return view{
		UserName: clean(a.UserName),
		Course:   clean(s.Subject + " " + s.CatalogNbr),
		Title:    clean(s.Title),
		TermName: clean(a.TermName),
		ClassNbr: clean(s.ClassNbr),

		ClassURL:       a.ClassURL,
		DashboardURL:   a.DashboardURL,
		UnsubscribeURL: a.UnsubscribeURL,
	}
}

func newView(a Alert) view {
	s := a.Section
	f, n := sectionFacts(s, a.Event, a.OpenSeats, a.Capacity, a.HasReservedSeats)
	v := baseView(a, s)
	v.facts = f
	var details []string
	if v.TermName != "" {
		details = append(details, v.TermName)
	}
	if code := clean(s.SectionCode); code != "" {
		details = append(details, "Section "+code)
	}
	v.Details = strings.Join(append(details, "Class #"+v.ClassNbr), " · ")
	class := v.Course + " #" + v.ClassNbr
	v.Watching = class
	open, reserved, capacity := n.open, n.reserved, n.capacity
	switch {
	case v.ReservedOnly:
		v.Subject = "Reserved seats open: " + class
		if v.TermName != "" {
			v.Subject += " (" + v.TermName + ")"
		}
		v.Subject += " — " + seatPhrase(reserved, 0) + ", none open to everyone"
		v.Preheader = seatPhrase(reserved, 0) + " open in " + class + ", only for reserved groups. Check that you qualify."
	case a.Event == catalog.EventSeatAvailable:
		v.Subject = "Seat open: " + class
		if v.TermName != "" {
			v.Subject += " (" + v.TermName + ")"
		}
		v.Subject += " — " + seatPhrase(open, capacity)
		v.Preheader = seatPhrase(open, capacity) + " open in " + class + ". Enroll before it fills."
	case a.Event == catalog.EventInstructorAssigned:
		v.Subject = "Instructor assigned: " + class + " — " + v.Instructors
		v.Preheader = v.Instructors + " will teach " + class + "."
	case a.Event == catalog.EventSeatGone:
		v.Subject = "Seat taken again: " + class
		v.Headline = "The seat is taken again"
		v.Intro = "The seat in " + v.Course + " " + sectionName(s, "") + " you were told about is taken again."
		v.Outro = "We're still watching it and will email you again when a seat opens."
		v.Preheader = v.Intro
	}
	return v
}

// seatCounts are the figures behind a section's seat line.
type seatCounts struct {
	open     int // open to everyone when the reserved groups were read
	reserved int // open only to some groups
	capacity int
}

// sectionFacts describes s for an alert about ev. open and capacity
// override the section's own figures when not zero; reservedFlag adds the
// caution that some seats may be reserved.
func sectionFacts(s catalog.Section, ev catalog.Event, open, capacity int, reservedFlag bool) (facts, seatCounts) {
	f := facts{
		InstructorLabel: "Instructor",
		Instructors:     clean(s.InstructorNames()),
		Reserved:        reservedFlag || s.HasReservedSeats,
	}
	named := 0
	for _, in := range s.Instructors {
		if n := strings.TrimSpace(in.Name); n != "" && !strings.EqualFold(n, "staff") {
			named++
		}
	}
	if named > 1 {
		f.InstructorLabel = "Instructors"
	}
	if open == 0 {
		open = s.OpenSeats()
	}
	if capacity == 0 {
		capacity = s.Capacity
	}
	general, known := s.GeneralOpen()
	reserved, _ := s.ReservedOpen()
	grouped := s.HasReservedSeats && s.NonReservedOpen != nil && known
	if grouped {
		// The groups were read: say exactly who the seats are for.
		f.Reserved = false
		for _, g := range s.ReservedGroups {
			f.Groups = append(f.Groups, clean(g.Name)+": "+seatPhrase(g.Open(), g.Capacity)+" open")
		}
		f.ReservedOnly = ev == catalog.EventSeatAvailable && general == 0 && reserved > 0
		open = general
	}
	switch {
	case f.ReservedOnly:
		f.Seats = seatPhrase(reserved, 0) + " open, all reserved; none open to everyone"
	case grouped && open > 0:
		f.Seats = seatPhrase(open, capacity) + " open to everyone"
		if reserved > 0 {
			f.Seats += ", plus " + seatPhrase(reserved, 0) + " reserved"
		}
	case open > 0:
		f.Seats = seatPhrase(open, capacity) + " open"
	default:
		f.Seats = "none open right now"
		if capacity > 0 {
			f.Seats += " (" + strconv.Itoa(capacity) + " total)"
		}
	}
	for _, m := range s.Meetings {
		if line := meetingLine(m); line != "" {
			f.Meetings = append(f.Meetings, line)
		}
	}
	if s.Online {
		f.Location = "Online"
	} else {
		f.Location = clean(s.Location)
	}
	return f, seatCounts{open: open, reserved: reserved, capacity: capacity}
}

// seatPhrase is "1 of 150 seats", or "3 seats" when the capacity is unknown.
func seatPhrase(open, capacity int) string {
	if capacity > 0 {
		return strconv.Itoa(open) + " of " + strconv.Itoa(capacity) + " seats"
	}
	if open == 1 {
		return "1 seat"
	}
	return strconv.Itoa(open) + " seats"
}

func meetingLine(m catalog.Meeting) string {
	days, start, end := clean(m.Days), clean(m.StartTime), clean(m.EndTime)
	times := start
	if start != "" && end != "" {
		times = start + " – " + end
	}
	return strings.TrimSpace(days + " " + times)
}

// clean collapses runs of whitespace and control characters from upstream
// data into single spaces, so a stray newline cannot break a subject line or
// the plain-text layout.
func clean(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
}
