package notify

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
)

// ExpiredWatch is a watch that stopped at its enrollment deadline, as the
// expiry summary names it.
type ExpiredWatch struct {
	Kind catalog.WatchKind // empty means a section watch
	// Term is the term's name ("Fall 2026"), or its code when the name is
	// unknown.
	Term   string
	Course string // "CSE 240"
	// Section and ClassNbr name a section or linked watch's section (a
	// linked watch's lecture); empty for a course watch.
	Section  string
	ClassNbr string
	Title    string
	// Deadline is when enrollment closed, shown as a date in its own
	// location (pass it in the university's time zone); zero leaves it out.
	Deadline time.Time
}

// summaryView is what the expiry summary's templates see.
type summaryView struct {
	Subject      string
	Preheader    string
	UserName     string
	Intro        string
	Items        []summaryItem
	DashboardURL string
}

// summaryItem is one expired watch: "CSE 240 section 01 (#70412)", its
// title, and "Fall 2026 · any section · enrollment closed Aug 28, 2026".
type summaryItem struct {
	Name   string
	Title  string
	Detail string
}

var summaryTemplates = parseTemplates("expiry_summary", "footer_summary")

// RenderExpirySummary renders the one email that tells a user which of
// their watches stopped because enrollment closed: subject "Enrollment
// closed for N of your watches", an HTML and a plain-text body (everything
// from the user or the university escaped in the HTML), and a link to
// dashboardURL.
//
// The Email it returns sets To, Subject, Text and HTML only, which is all
// a mail_outbox row holds: queue it as store.OutboxMail{To: e.To, Subject:
// e.Subject, Text: e.Text, HTML: e.HTML, ExpiresAt: …}.
func RenderExpirySummary(to, dashboardURL string, watches []ExpiredWatch) (Email, error) {
	var problems []error
	if strings.TrimSpace(to) == "" {
		problems = append(problems, errors.New("no recipient"))
	}
	if len(watches) == 0 {
		problems = append(problems, errors.New("no expired watches"))
	}
	if dashboardURL == "" {
		problems = append(problems, errors.New("no dashboard url"))
	} else if err := checkURL("dashboard url", dashboardURL); err != nil {
		problems = append(problems, err)
	}
	if err := errors.Join(problems...); err != nil {
		return Email{}, fmt.Errorf("render expiry summary: %w", err)
	}
	v := summaryView{DashboardURL: dashboardURL}
	n := len(watches)
	v.Subject = "Enrollment closed for " + strconv.Itoa(n) + " of your watches"
	if n == 1 {
		v.Intro = "Enrollment has closed for a class you were watching, so PickMyClass stopped watching it:"
	} else {
		v.Intro = "Enrollment has closed for " + strconv.Itoa(n) + " classes you were watching, so PickMyClass stopped watching them:"
	}
	v.Preheader = v.Intro
	for _, w := range watches {
		v.Items = append(v.Items, expiredItem(w))
	}
	var html, text bytes.Buffer
	if err := summaryTemplates.html.ExecuteTemplate(&html, "layout", v); err != nil {
		return Email{}, fmt.Errorf("render expiry summary html: %w", err)
	}
	if err := summaryTemplates.text.ExecuteTemplate(&text, "layout", v); err != nil {
		return Email{}, fmt.Errorf("render expiry summary text: %w", err)
	}
	return Email{To: to, Subject: v.Subject, HTML: html.String(), Text: text.String()}, nil
}

func expiredItem(w ExpiredWatch) summaryItem {
	it := summaryItem{Name: clean(w.Course), Title: clean(w.Title)}
	section := ""
	if code := clean(w.Section); code != "" {
		section = "section " + code
	}
	if nbr := clean(w.ClassNbr); nbr != "" {
		section = strings.TrimSpace(section + " (#" + nbr + ")")
	}
	var detail []string
	if term := clean(w.Term); term != "" {
		detail = append(detail, term)
	}
	switch w.Kind {
	case catalog.WatchCourse:
		detail = append(detail, "any section")
	case catalog.WatchLinked:
		detail = append(detail, "the lecture with its labs or recitations")
	}
	if w.Kind != catalog.WatchCourse {
		it.Name = strings.TrimSpace(it.Name + " " + section)
	}
	if !w.Deadline.IsZero() {
		detail = append(detail, "enrollment closed "+w.Deadline.Format("Jan 2, 2006"))
	}
	it.Detail = strings.Join(detail, " · ")
	return it
}
