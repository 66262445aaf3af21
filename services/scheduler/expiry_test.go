package main

import (
	"strings"
	"testing"
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/store"
)

// The summary names each stopped watch with its course, term and the last
// day to enroll as the university gives it, and links to the dashboard.
func TestExpirySummary(t *testing.T) {
	t.Parallel()
	end := time.Date(2026, 8, 27, 7, 0, 0, 0, time.UTC) // the end of Aug 26 in Arizona
	m, err := expirySummary("https://pickmyclass.test/")("ana@example.edu", []store.ExpiredWatch{
		{Kind: catalog.WatchSection, Term: "2267", Subject: "CSE", CatalogNbr: "240", ClassNbr: "70412", Title: "Intro", Deadline: end},
		{Kind: catalog.WatchCourse, Term: "2267", Subject: "MAT", CatalogNbr: "343", Title: "<b>Linear</b>", Deadline: end},
	})
	if err != nil {
		t.Fatal(err)
	}
	if m.To != "ana@example.edu" || m.Subject != "Enrollment closed for 2 of your watches" {
		t.Errorf("to %q subject %q", m.To, m.Subject)
	}
	for _, want := range []string{"CSE 240", "70412", "MAT 343", "Fall 2026", "Aug 26, 2026", "https://pickmyclass.test/dashboard"} {
		if !strings.Contains(m.Text, want) || !strings.Contains(m.HTML, want) {
			t.Errorf("summary lacks %q:\n%s", want, m.Text)
		}
	}
	if strings.Contains(m.HTML, "<b>Linear") {
		t.Error("a title is not escaped in the HTML body")
	}
}
