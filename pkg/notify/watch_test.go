package notify_test

import (
	"html"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/notify"
)

// hostile is upstream text that must come out escaped.
const hostile = `<script>alert("x")</script>`

// course240 is three sections of CSE 240: two just opened, one with two
// instructors and reserved groups read.
func course240() []catalog.Section {
	a := cse240()
	a.SectionCode, a.ClassNbr = "1002", "70413"
	a.Instructors = []catalog.Instructor{{Name: "Grace Hopper"}, {Name: "Alan Turing"}}
	a.Location = "COOR 170"
	a.Meetings = []catalog.Meeting{{Days: "T Th", StartTime: "10:30 AM", EndTime: "11:45 AM"}}
	a.Enrolled = 145
	a.HasReservedSeats = true
	a.SetReserved([]catalog.ReservedGroup{{Name: "Barrett Honors", Capacity: 10, Enrolled: 8}})
	return []catalog.Section{cse240(), a}
}

// cse310 is a lecture with two open labs.
func cse310() []catalog.Section {
	lec := catalog.Section{
		Term: "2267", ClassNbr: "66445", Subject: "CSE", CatalogNbr: "310", SectionCode: "01",
		Title: "Data Structures and Algorithms", Component: "LEC", Association: "1", Primary: true,
		Instructors: []catalog.Instructor{{Name: "Edsger Dijkstra"}}, Capacity: 200, Enrolled: 198,
		Status: catalog.StatusOpen, Location: "LSE 104",
		Meetings: []catalog.Meeting{{Days: "M W", StartTime: "9:00 AM", EndTime: "10:15 AM"}},
	}
	lab := lec
	lab.ClassNbr, lab.SectionCode, lab.Component, lab.Primary = "66450", "02", "LAB", false
	lab.Instructors, lab.Capacity, lab.Enrolled, lab.Location = nil, 24, 23, "BYENG 217"
	lab.Meetings = []catalog.Meeting{{Days: "F", StartTime: "1:00 PM", EndTime: "2:50 PM"}}
	lab2 := lab
	lab2.ClassNbr, lab2.SectionCode, lab2.Component, lab2.Enrolled = "66452", "04", "REC", 20
	return []catalog.Section{lec, lab, lab2}
}

func classURL(s catalog.Section) string {
	return "https://pickmyclass.test/go/asu?" + url.Values{"term": {s.Term}, "classNbr": {s.ClassNbr}}.Encode()
}

func watchAlert(kind catalog.WatchKind, ev catalog.Event, secs []catalog.Section) notify.Alert {
	a := seatAlert()
	a.Kind, a.Event, a.Sections = kind, ev, secs
	a.Section, a.OpenSeats, a.Capacity = secs[0], 0, 0
	a.ClassURL = classURL(secs[0])
	for _, s := range secs {
		a.ClassURLs = append(a.ClassURLs, classURL(s))
	}
	return a
}

func TestRenderWatchAlerts(t *testing.T) {
	t.Parallel()
	filter := catalog.Filter{Mode: catalog.ModeInPerson, After: "10:00"}
	tests := []struct {
		name    string
		alert   func() notify.Alert
		subject string
		// want are in the text body and, once unescaped, in the HTML body.
		want []string
		// notWant are in neither.
		notWant []string
	}{
		{
			name: "course seat available, two sections, filter",
			alert: func() notify.Alert {
				a := watchAlert(catalog.WatchCourse, catalog.EventSeatAvailable, course240())
				a.Filter = filter
				return a
			},
			subject: "Seats open in CSE 240 (Fall 2026) — 2 sections",
			want: []string{
				"Seats opened in 2 sections of CSE 240", "section 01 (70412) and section 1002 (70413)",
				"matching: in person, from 10:00",
				"Section 01 · Class #70412", "1 of 150 seats open", "Ada Lovelace", "M W 1:30 PM – 2:45 PM", "BYENG 210",
				"Section 1002 · Class #70413", "Instructors", "Grace Hopper, Alan Turing", "3 of 150 seats open to everyone, plus 2 seats reserved",
				"Barrett Honors: 2 of 10 seats open", "T Th 10:30 AM – 11:45 AM", "COOR 170",
				"View section 01 (70412)", "View section 1002 (70413)",
				classURL(course240()[0]), classURL(course240()[1]),
				"watch any section of CSE 240 (in person, from 10:00) for Fall 2026",
			},
			notWant: []string{"Enroll now"},
		},
		{
			name: "course seat available, one section, no filter, one link",
			alert: func() notify.Alert {
				a := watchAlert(catalog.WatchCourse, catalog.EventSeatAvailable, course240()[1:])
				a.ClassURLs = nil
				return a
			},
			subject: "Seats open in CSE 240 (Fall 2026) — section 1002 (70413)",
			want:    []string{"Seats opened in section 1002 (70413) of CSE 240", "Grace Hopper", "Enroll now", classURL(course240()[1])},
			notWant: []string{"matching", "View section"},
		},
		{
			name:    "linked seat available, one lab",
			alert:   func() notify.Alert { return watchAlert(catalog.WatchLinked, catalog.EventSeatAvailable, cse310()[:2]) },
			subject: "CSE 310 lecture 66445 and lab 66450 both have seats",
			want: []string{
				"so does lab 66450: you can enroll in both",
				"Lecture · Section 01 · Class #66445", "2 of 200 seats open", "Edsger Dijkstra", "LSE 104",
				"Lab · Section 02 · Class #66450", "1 of 24 seats open", "Staff", "BYENG 217",
				"View lecture 66445", "View lab 66450", classURL(cse310()[1]),
				"watch CSE 310 lecture 66445 with its labs or recitations",
			},
		},
		{
			name:    "linked seat available, two companions",
			alert:   func() notify.Alert { return watchAlert(catalog.WatchLinked, catalog.EventSeatAvailable, cse310()) },
			subject: "CSE 310 lecture 66445 and lab 66450, recitation 66452 have seats",
			want:    []string{"do lab 66450 and recitation 66452", "Recitation · Section 04 · Class #66452", "4 of 24 seats open"},
		},
		{
			name:    "linked seat available, lecture alone",
			alert:   func() notify.Alert { return watchAlert(catalog.WatchLinked, catalog.EventSeatAvailable, cse310()[:1]) },
			subject: "CSE 310 lecture 66445 has seats",
			want:    []string{"it needs no lab or recitation", "2 of 200 seats open"},
		},
		{
			name: "section seat gone",
			alert: func() notify.Alert {
				a := seatAlert()
				a.Event = catalog.EventSeatGone
				a.Section.SectionCode = "1002"
				return a
			},
			subject: "Seat taken again: CSE 240 #70412",
			want: []string{"The seat in CSE 240 section 1002 (70412) you were told about is taken again.",
				"still watching it and will email you again"},
		},
		{
			name:    "course seat gone",
			alert:   func() notify.Alert { return watchAlert(catalog.WatchCourse, catalog.EventSeatGone, course240()) },
			subject: "Full again: CSE 240 (Fall 2026)",
			want: []string{"The sections of CSE 240 you were told about, section 01 (70412) and section 1002 (70413), are full again.",
				"still watching the course and will email you again"},
		},
		{
			name:    "linked seat gone",
			alert:   func() notify.Alert { return watchAlert(catalog.WatchLinked, catalog.EventSeatGone, cse310()[:2]) },
			subject: "No longer open: CSE 310 lecture 66445 with lab 66450",
			want: []string{"The lecture+lab combination you were told about, CSE 310 lecture 66445 with lab 66450, is no longer open.",
				"still watching and will email you again"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, err := notify.RenderAlert(tc.alert())
			if err != nil {
				t.Fatalf("RenderAlert: %v", err)
			}
			if e.Subject != tc.subject {
				t.Errorf("subject = %q, want %q", e.Subject, tc.subject)
			}
			for _, w := range tc.want {
				if !strings.Contains(e.Text, w) {
					t.Errorf("text lacks %q:\n%s", w, e.Text)
				}
				if !strings.Contains(html.UnescapeString(e.HTML), w) {
					t.Errorf("html lacks %q", w)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(e.Text, w) || strings.Contains(e.HTML, w) {
					t.Errorf("alert has %q", w)
				}
			}
		})
	}
}

// TestRenderWatchAlertsEscape: upstream text with markup in every section
// of every new kind of alert comes out escaped.
func TestRenderWatchAlertsEscape(t *testing.T) {
	t.Parallel()
	taint := func(secs []catalog.Section) []catalog.Section {
		for i := range secs {
			secs[i].Title = hostile
			secs[i].Location = hostile
			secs[i].SectionCode = "<b>1</b>"
			secs[i].Instructors = []catalog.Instructor{{Name: hostile}}
		}
		return secs
	}
	for _, kind := range []catalog.WatchKind{catalog.WatchCourse, catalog.WatchLinked} {
		for _, ev := range []catalog.Event{catalog.EventSeatAvailable, catalog.EventSeatGone} {
			secs := cse310()
			if kind == catalog.WatchCourse {
				secs = course240()
			}
			a := watchAlert(kind, ev, taint(secs))
			a.UserName = hostile
			a.Filter = catalog.Filter{Instructor: hostile}
			e, err := notify.RenderAlert(a)
			if err != nil {
				t.Fatalf("%s %s: %v", kind, ev, err)
			}
			for _, bad := range []string{"<script", "<b>1"} {
				if strings.Contains(e.HTML, bad) {
					t.Errorf("%s %s: HTML contains unescaped %q", kind, ev, bad)
				}
			}
			if !strings.Contains(e.HTML, "&lt;script&gt;") {
				t.Errorf("%s %s: HTML lacks the escaped title", kind, ev)
			}
			if strings.ContainsAny(e.Subject, "\r\n") {
				t.Errorf("%s %s: subject has a line break: %q", kind, ev, e.Subject)
			}
		}
	}
}

func TestRenderWatchAlertRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		mutate  func(*notify.Alert)
		wantErr string
	}{
		{name: "instructor event on a course watch", mutate: func(a *notify.Alert) { a.Event = catalog.EventInstructorAssigned }, wantErr: "unknown event"},
		{name: "unknown kind", mutate: func(a *notify.Alert) { a.Kind = "department" }, wantErr: "unknown watch kind"},
		{name: "javascript section url", mutate: func(a *notify.Alert) { a.ClassURLs[1] = "javascript:alert(1)" }, wantErr: "section class url"},
		{name: "more urls than sections", mutate: func(a *notify.Alert) { a.ClassURLs = append(a.ClassURLs, a.ClassURL) }, wantErr: "3 class urls for 2 sections"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := watchAlert(catalog.WatchCourse, catalog.EventSeatAvailable, course240())
			tc.mutate(&a)
			_, err := notify.RenderAlert(a)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("RenderAlert error = %v, want one mentioning %q", err, tc.wantErr)
			}
		})
	}
}

func expiredWatches() []notify.ExpiredWatch {
	phx, err := time.LoadLocation("America/Phoenix")
	if err != nil {
		phx = time.FixedZone("MST", -7*3600)
	}
	deadline := time.Date(2026, 8, 28, 23, 59, 59, 0, phx)
	return []notify.ExpiredWatch{
		{Kind: catalog.WatchSection, Term: "Fall 2026", Course: "CSE 240", Section: "01", ClassNbr: "70412",
			Title: "Introduction to Programming Languages", Deadline: deadline},
		{Kind: catalog.WatchCourse, Term: "Fall 2026", Course: "MAT 343", Title: "Applied Linear Algebra", Deadline: deadline},
		{Kind: catalog.WatchLinked, Term: "2267", Course: "CSE 310", Section: "01", ClassNbr: "66445", Title: hostile},
	}
}

func TestRenderExpirySummary(t *testing.T) {
	t.Parallel()
	e, err := notify.RenderExpirySummary("ada@example.edu", "https://pickmyclass.test/dashboard", expiredWatches())
	if err != nil {
		t.Fatal(err)
	}
	if e.To != "ada@example.edu" || e.Subject != "Enrollment closed for 3 of your watches" {
		t.Errorf("to %q, subject %q", e.To, e.Subject)
	}
	for _, w := range []string{
		"CSE 240 section 01 (#70412): Introduction to Programming Languages", "Fall 2026 · enrollment closed Aug 28, 2026",
		"MAT 343: Applied Linear Algebra", "Fall 2026 · any section · enrollment closed Aug 28, 2026",
		"CSE 310 section 01 (#66445)", "2267 · the lecture with its labs or recitations",
		"https://pickmyclass.test/dashboard",
	} {
		if !strings.Contains(e.Text, w) {
			t.Errorf("text lacks %q:\n%s", w, e.Text)
		}
	}
	for _, w := range []string{"CSE 240 section 01 (#70412)", "MAT 343", "any section", "enrollment closed Aug 28, 2026", "&lt;script&gt;", `href="https://pickmyclass.test/dashboard"`} {
		if !strings.Contains(e.HTML, w) {
			t.Errorf("html lacks %q", w)
		}
	}
	if strings.Contains(e.HTML, "<script") {
		t.Error("HTML contains an unescaped title")
	}

	one, err := notify.RenderExpirySummary("ada@example.edu", "https://pickmyclass.test/dashboard", expiredWatches()[:1])
	if err != nil {
		t.Fatal(err)
	}
	if one.Subject != "Enrollment closed for 1 of your watches" || !strings.Contains(one.Text, "a class you were watching") {
		t.Errorf("one watch: subject %q, text %q", one.Subject, one.Text)
	}
}

func TestRenderExpirySummaryRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, to, dashboard string
		watches             []notify.ExpiredWatch
		wantErr             string
	}{
		{"no recipient", " ", "https://pickmyclass.test/dashboard", expiredWatches(), "no recipient"},
		{"no watches", "ada@example.edu", "https://pickmyclass.test/dashboard", nil, "no expired watches"},
		{"no dashboard", "ada@example.edu", "", expiredWatches(), "no dashboard url"},
		{"relative dashboard", "ada@example.edu", "/dashboard", expiredWatches(), "dashboard url"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := notify.RenderExpirySummary(tc.to, tc.dashboard, tc.watches)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error = %v, want one mentioning %q", err, tc.wantErr)
			}
		})
	}
}
