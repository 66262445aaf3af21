package notify_test

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/notify"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func cse240() catalog.Section {
	return catalog.Section{
		Term:        "2267",
		ClassNbr:    "70412",
		Subject:     "CSE",
		CatalogNbr:  "240",
		SectionCode: "01",
		Title:       "Introduction to Programming Languages",
		Instructors: []catalog.Instructor{{Name: "Ada Lovelace", ID: "alovelace"}},
		Capacity:    150,
		Enrolled:    149,
		Status:      catalog.StatusOpen,
		Location:    "BYENG 210",
		Meetings: []catalog.Meeting{
			{Days: "M W", StartTime: "1:30 PM", EndTime: "2:45 PM"},
			{Days: "F", StartTime: "10:00 AM", EndTime: "10:50 AM"},
		},
	}
}

func seatAlert() notify.Alert {
	return notify.Alert{
		Event:                  catalog.EventSeatAvailable,
		To:                     "ada@example.edu",
		UserName:               "Ada",
		Section:                cse240(),
		TermName:               "Fall 2026",
		OpenSeats:              1,
		Capacity:               150,
		ClassURL:               "https://catalog.apps.asu.edu/catalog/classes/classlist?keywords=70412&term=2267",
		DashboardURL:           "https://pickmyclass.test/dashboard",
		UnsubscribeURL:         "https://pickmyclass.test/unsubscribe?token=abc123",
		ListUnsubscribePostURL: "https://pickmyclass.test/api/unsubscribe?token=abc123",
		MessageID:              "claim-42@pickmyclass.test",
	}
}

func TestRenderAlertGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		alert func() notify.Alert
	}{
		{name: "seat_available", alert: seatAlert},
		{name: "seat_available_minimal", alert: func() notify.Alert {
			a := seatAlert()
			a.UserName, a.DashboardURL, a.ListUnsubscribePostURL, a.OpenSeats, a.Capacity = "", "", "", 0, 0
			a.Section.Instructors = nil
			a.Section.Meetings = nil
			a.Section.Online = true
			a.Section.SectionCode = ""
			return a
		}},
		{name: "seat_available_reserved_escaped", alert: func() notify.Alert {
			a := seatAlert()
			a.UserName = `<script>alert("x")</script>`
			a.OpenSeats, a.HasReservedSeats = 3, true
			a.Section.Title = "Data & <b>Algorithms</b>\r\nBcc: eve@example.com"
			a.Section.Instructors = []catalog.Instructor{{Name: "O'Brien & Sons"}, {Name: "Grace Hopper"}}
			a.Section.Location = `" onmouseover="alert(1)`
			return a
		}},
		{name: "seat_available_reserved_only", alert: func() notify.Alert {
			a := seatAlert()
			a.Section.Enrolled = 148
			a.Section.HasReservedSeats = true
			a.Section.SetReserved([]catalog.ReservedGroup{{Name: "Computer Science majors", Capacity: 20, Enrolled: 18}, {Name: "Barrett <Honors>", Capacity: 5, Enrolled: 6}})
			a.OpenSeats = 0
			return a
		}},
		{name: "seat_available_reserved_groups", alert: func() notify.Alert {
			a := seatAlert()
			a.Section.Enrolled = 145
			a.Section.HasReservedSeats = true
			a.Section.SetReserved([]catalog.ReservedGroup{{Name: "Computer Science majors", Capacity: 20, Enrolled: 18}})
			a.OpenSeats = 3
			return a
		}},
		{name: "instructor_assigned", alert: func() notify.Alert {
			a := seatAlert()
			a.Event = catalog.EventInstructorAssigned
			a.OpenSeats = 0
			a.Section.Enrolled = 150
			return a
		}},
		{name: "course_seat_available", alert: func() notify.Alert {
			a := watchAlert(catalog.WatchCourse, catalog.EventSeatAvailable, course240())
			a.Filter = catalog.Filter{Mode: catalog.ModeInPerson, After: "10:00"}
			return a
		}},
		{name: "linked_seat_available", alert: func() notify.Alert {
			return watchAlert(catalog.WatchLinked, catalog.EventSeatAvailable, cse310()[:2])
		}},
		{name: "seat_gone_section", alert: func() notify.Alert {
			a := seatAlert()
			a.Event = catalog.EventSeatGone
			a.Section.Enrolled = 150
			return a
		}},
		{name: "seat_gone_course", alert: func() notify.Alert {
			return watchAlert(catalog.WatchCourse, catalog.EventSeatGone, course240())
		}},
		{name: "seat_gone_linked", alert: func() notify.Alert {
			return watchAlert(catalog.WatchLinked, catalog.EventSeatGone, cse310())
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, err := notify.RenderAlert(tc.alert())
			if err != nil {
				t.Fatalf("RenderAlert: %v", err)
			}
			checkGolden(t, tc.name, goldenText(e))
		})
	}
}

func TestRenderExpirySummaryGolden(t *testing.T) {
	t.Parallel()
	e, err := notify.RenderExpirySummary("ada@example.edu", "https://pickmyclass.test/dashboard", expiredWatches())
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "expiry_summary", goldenText(e))
}

// checkGolden compares got with testdata/name.golden, which -update
// rewrites.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}

// goldenText lays an email out as one reviewable file.
func goldenText(e notify.Email) string {
	var b strings.Builder
	b.WriteString("To: " + e.To + "\n")
	b.WriteString("Subject: " + e.Subject + "\n")
	b.WriteString("Message-ID: " + e.MessageID + "\n")
	keys := make([]string, 0, len(e.Headers))
	for k := range e.Headers {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b.WriteString(k + ": " + e.Headers[k] + "\n")
	}
	b.WriteString("\n===== text/plain =====\n" + e.Text)
	b.WriteString("\n===== text/html =====\n" + e.HTML)
	return b.String()
}

func TestRenderAlertEscapesAndStaysLocal(t *testing.T) {
	t.Parallel()
	a := seatAlert()
	a.Section.Title = `<img src="https://evil.example/pixel.gif">`
	a.UserName = "<b>Eve</b>"
	e, err := notify.RenderAlert(a)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<img", "<b>Eve", "<script"} {
		if strings.Contains(e.HTML, bad) {
			t.Errorf("HTML contains unescaped %q", bad)
		}
	}
	// No remote content: the only URLs in src attributes would be images.
	if strings.Contains(e.HTML, `src="`) {
		t.Error("HTML loads remote content")
	}
	if strings.ContainsAny(e.Subject, "\r\n") {
		t.Errorf("subject has a line break: %q", e.Subject)
	}
}

func TestRenderAlertHeaders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(*notify.Alert)
		want   map[string]string
	}{
		{
			name:   "one-click post url",
			mutate: func(*notify.Alert) {},
			want: map[string]string{
				"List-Unsubscribe":      "<https://pickmyclass.test/api/unsubscribe?token=abc123>",
				"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
				"Auto-Submitted":        "auto-generated",
			},
		},
		{
			name:   "falls back to the unsubscribe url",
			mutate: func(a *notify.Alert) { a.ListUnsubscribePostURL = "" },
			want: map[string]string{
				"List-Unsubscribe":      "<https://pickmyclass.test/unsubscribe?token=abc123>",
				"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
				"Auto-Submitted":        "auto-generated",
			},
		},
		{
			name: "no one-click over plain http",
			mutate: func(a *notify.Alert) {
				a.ListUnsubscribePostURL = ""
				a.UnsubscribeURL = "http://localhost:8080/unsubscribe?token=abc123"
			},
			want: map[string]string{
				"List-Unsubscribe": "<http://localhost:8080/unsubscribe?token=abc123>",
				"Auto-Submitted":   "auto-generated",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := seatAlert()
			tc.mutate(&a)
			e, err := notify.RenderAlert(a)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, e.Headers); diff != "" {
				t.Errorf("headers (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRenderAlertRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		mutate  func(*notify.Alert)
		wantErr string
	}{
		{name: "unknown event", mutate: func(a *notify.Alert) { a.Event = "seat_lost" }, wantErr: "unknown event"},
		{name: "no recipient", mutate: func(a *notify.Alert) { a.To = " " }, wantErr: "no recipient"},
		{name: "no unsubscribe url", mutate: func(a *notify.Alert) { a.UnsubscribeURL = "" }, wantErr: "no unsubscribe url"},
		{name: "javascript class url", mutate: func(a *notify.Alert) { a.ClassURL = "javascript:alert(1)" }, wantErr: "class url"},
		{name: "relative dashboard url", mutate: func(a *notify.Alert) { a.DashboardURL = "/dashboard" }, wantErr: "dashboard url"},
		{name: "header-breaking post url", mutate: func(a *notify.Alert) { a.ListUnsubscribePostURL = "https://x.test/a>b" }, wantErr: "post url"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := seatAlert()
			tc.mutate(&a)
			_, err := notify.RenderAlert(a)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("RenderAlert error = %v, want one mentioning %q", err, tc.wantErr)
			}
		})
	}
}
