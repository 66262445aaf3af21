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
}

type templatePair struct {
	html *htmltemplate.Template
	text *texttemplate.Template
}

var templates = map[catalog.Event]templatePair{
	catalog.EventSeatAvailable:      parseTemplates("seat_available"),
	catalog.EventInstructorAssigned: parseTemplates("instructor_assigned"),
}

func parseTemplates(name string) templatePair {
	return templatePair{
		html: htmltemplate.Must(htmltemplate.New("layout").ParseFS(templateFS,
			"templates/layout.html.tmpl", "templates/"+name+".html.tmpl")),
		text: texttemplate.Must(texttemplate.New("layout").ParseFS(templateFS,
			"templates/layout.txt.tmpl", "templates/"+name+".txt.tmpl")),
	}
}

// view is what the templates see: every value already chosen and formatted,
// so the templates hold layout and wording only.
type view struct {
	Subject         string
	Preheader       string // the preview line mail clients show after the subject
	UserName        string
	Course          string // "CSE 240"
	Title           string
	TermName        string
	ClassNbr        string
	Details         string // "Fall 2026 · Section 01 · Class #70412"
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

	ClassURL       string
	DashboardURL   string
	UnsubscribeURL string
}

// RenderAlert renders the email for a, with both an HTML and a plain-text
// body and the List-Unsubscribe, List-Unsubscribe-Post and Auto-Submitted
// headers. Everything that comes from the user or the university is escaped
// in the HTML body; the email loads no remote content.
func RenderAlert(a Alert) (Email, error) {
	tp, ok := templates[a.Event]
	if !ok {
		return Email{}, fmt.Errorf("render alert: unknown event %q", a.Event)
	}
	if err := a.validate(); err != nil {
		return Email{}, fmt.Errorf("render alert: %w", err)
	}
	v := newView(a)
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
	for _, u := range []struct{ name, value string }{
		{"class url", a.ClassURL},
		{"dashboard url", a.DashboardURL},
		{"unsubscribe url", a.UnsubscribeURL},
		{"list-unsubscribe post url", a.ListUnsubscribePostURL},
	} {
		if u.value == "" {
			continue
		}
		// The plain-text body prints URLs as they are, so a javascript: or
		// relative link must be stopped here, not left to html/template.
		p, err := url.Parse(u.value)
		if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" ||
			strings.ContainsAny(u.value, " <>\r\n") {
			problems = append(problems, fmt.Errorf("%s %q is not an absolute http(s) url", u.name, u.value))
		}
	}
	return errors.Join(problems...)
}

func newView(a Alert) view {
	s := a.Section
	v := view{
		UserName:        clean(a.UserName),
		Course:          clean(s.Subject + " " + s.CatalogNbr),
		Title:           clean(s.Title),
		TermName:        clean(a.TermName),
		ClassNbr:        clean(s.ClassNbr),
		InstructorLabel: "Instructor",
		Instructors:     clean(s.InstructorNames()),
		Reserved:        a.HasReservedSeats || s.HasReservedSeats,

		ClassURL:       a.ClassURL,
		DashboardURL:   a.DashboardURL,
		UnsubscribeURL: a.UnsubscribeURL,
	}
	var details []string
	if v.TermName != "" {
		details = append(details, v.TermName)
	}
	if code := clean(s.SectionCode); code != "" {
		details = append(details, "Section "+code)
	}
	v.Details = strings.Join(append(details, "Class #"+v.ClassNbr), " · ")
	named := 0
	for _, in := range s.Instructors {
		if n := strings.TrimSpace(in.Name); n != "" && !strings.EqualFold(n, "staff") {
			named++
		}
	}
	if named > 1 {
		v.InstructorLabel = "Instructors"
	}
	open, capacity := a.OpenSeats, a.Capacity
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
		v.Reserved = false
		for _, g := range s.ReservedGroups {
			v.Groups = append(v.Groups, clean(g.Name)+": "+seatPhrase(g.Open(), g.Capacity)+" open")
		}
		v.ReservedOnly = a.Event == catalog.EventSeatAvailable && general == 0 && reserved > 0
		open = general
	}
	switch {
	case v.ReservedOnly:
		v.Seats = seatPhrase(reserved, 0) + " open, all reserved; none open to everyone"
	case grouped && open > 0:
		v.Seats = seatPhrase(open, capacity) + " open to everyone"
		if reserved > 0 {
			v.Seats += ", plus " + seatPhrase(reserved, 0) + " reserved"
		}
	case open > 0:
		v.Seats = seatPhrase(open, capacity) + " open"
	default:
		v.Seats = "none open right now"
		if capacity > 0 {
			v.Seats += " (" + strconv.Itoa(capacity) + " total)"
		}
	}
	for _, m := range s.Meetings {
		if line := meetingLine(m); line != "" {
			v.Meetings = append(v.Meetings, line)
		}
	}
	if s.Online {
		v.Location = "Online"
	} else {
		v.Location = clean(s.Location)
	}

	class := v.Course + " #" + v.ClassNbr
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
	}
	return v
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
