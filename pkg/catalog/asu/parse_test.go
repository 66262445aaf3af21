package asu

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the parser's output")

// TestParseGolden parses every testdata/<case>.json and compares the result
// with testdata/<case>.golden.json.
func TestParseGolden(t *testing.T) {
	t.Parallel()
	inputs, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, in := range inputs {
		if strings.HasSuffix(in, ".golden.json") {
			continue
		}
		n++
		name := strings.TrimSuffix(filepath.Base(in), ".json")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			body, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			page, err := Parse(body)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			got, err := json.MarshalIndent(page, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := filepath.Join("testdata", name+".golden.json")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden (run go test -update to create it): %v", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("Parse(%s) (-want +got):\n%s", in, diff)
			}
		})
	}
	if n < 8 {
		t.Fatalf("found %d golden cases, want at least 8", n)
	}
}

// TestParseSample pins the facts about the shared sample that the rest of
// the system relies on, so a golden rewrite cannot silently change them.
func TestParseSample(t *testing.T) {
	t.Parallel()
	body, err := os.ReadFile(filepath.Join("testdata", "sample.json"))
	if err != nil {
		t.Fatal(err)
	}
	page, err := Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Sections) != 3 || page.Total != 3 {
		t.Fatalf("got %d sections, total %d; want 3, 3", len(page.Sections), page.Total)
	}
	full, open, online := page.Sections[0], page.Sections[1], page.Sections[2]
	if full.Status != catalog.StatusClosed || full.OpenSeats() != 0 || !full.IsStaff() || !full.HasReservedSeats {
		t.Errorf("70412 = %+v; want closed, full, Staff, reserved", full)
	}
	if full.Title != "Introduction to Programming Languages" {
		t.Errorf("title = %q; want COURSETITLELONG", full.Title)
	}
	if open.OpenSeats() != 2 || open.Instructors[0] != (catalog.Instructor{Name: "Ada Lovelace", ID: "alovela1"}) {
		t.Errorf("70413 = %+v; want 2 open seats taught by alovela1", open)
	}
	if !online.Online || online.Meetings != nil || online.Location != "" || online.Capacity != 300 {
		t.Errorf("81777 = %+v; want online, no meetings, seats from CLAS", online)
	}
}

// TestRowWithoutSeatCountsIsUnknown: a row that lacks a seat count, or has
// an unusable one, is neither open nor closed, whatever ENRLSTAT says, and
// has no open seats: read as 0 of 0 closed, the next good read would be an
// opening that never happened.
func TestRowWithoutSeatCountsIsUnknown(t *testing.T) {
	t.Parallel()
	for name, fields := range map[string]string{
		"no counts":          `"ENRLSTAT": "C"`,
		"null counts":        `"ENRLCAP": null, "ENRLTOT": null`,
		"capacity only":      `"ENRLCAP": 30, "ENRLSTAT": "O"`,
		"enrolled only":      `"ENRLTOT": 30`,
		"negative capacity":  `"ENRLCAP": -1, "ENRLTOT": 0`,
		"unreadable counts":  `"ENRLCAP": "n/a", "ENRLTOT": "n/a"`,
		"seatInfo half-null": `"ENRLCAP": "x", "ENRLTOT": 3}, "seatInfo": {"ENRL_CAP": null, "ENRL_TOT": 3`,
	} {
		body := `{"classes": [{"CLAS": {"STRM": "2267", "CLASSNBR": "70412", "SUBJECT": "CSE", "CATALOGNBR": "240", ` + fields + `}}]}`
		page, err := Parse([]byte(body))
		if err != nil || len(page.Sections) != 1 {
			t.Fatalf("%s: %d sections, %v", name, len(page.Sections), err)
		}
		if s := page.Sections[0]; s.Status != catalog.StatusUnknown || s.OpenSeats() != 0 || s.Capacity != 0 || s.Enrolled != 0 {
			t.Errorf("%s: %+v; want status unknown, no counts, no open seats", name, s)
		}
	}
	// A cancelled section stays cancelled.
	page, err := Parse([]byte(`{"classes": [{"CLAS": {"STRM": "2267", "CLASSNBR": "70412", "CLASSSTAT": "X"}}]}`))
	if err != nil || len(page.Sections) != 1 || page.Sections[0].Status != catalog.StatusCancelled {
		t.Errorf("cancelled without counts: %+v, %v", page.Sections, err)
	}
}

func TestParseMalformed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
	}{
		{name: "empty body", body: ""},
		{name: "html", body: "<html><body>Service Unavailable</body></html>"},
		{name: "truncated", body: `{"classes":[{"CLAS":{"STRM":"2267"`},
		{name: "no classes", body: `{"error":"bad request"}`},
		{name: "empty object", body: `{}`},
		{name: "classes not a list", body: `{"classes":{"CLAS":{}}}`},
		{name: "array", body: `[]`},
		{name: "string", body: `"classes"`},
		{name: "null", body: `null`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tc.body))
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("Parse(%q) error = %v; want ErrMalformed", tc.body, err)
			}
		})
	}
}

// FuzzParse checks that no input makes Parse panic or return sections
// without their key.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"sample", "types", "nulls", "es_envelope", "meetings"} {
		b, err := os.ReadFile(filepath.Join("testdata", name+".json"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		page, err := Parse(body)
		if err != nil {
			return
		}
		for _, s := range page.Sections {
			if s.Term == "" || s.ClassNbr == "" || s.Capacity < 0 || s.Enrolled < 0 {
				t.Fatalf("bad section %+v", s)
			}
		}
	})
}

func TestParseTerms(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		body    string
		want    []catalog.Term
		wantErr bool
	}{
		{
			name: "real shape",
			body: `{"fullList":[{"value":"2271","label":"2027 Spring"},{"value":"2267","label":"2026 Fall"}],
				"futureList":[{"value":"2271","label":"2027 Spring"}],"currentTerm":[{"value":"2267","label":"2026 Fall"}]}`,
			want: []catalog.Term{{Code: "2271", Name: "2027 Spring"}, {Code: "2267", Name: "2026 Fall"}},
		},
		{
			name: "numbers, missing labels, single current term",
			body: `{"fullList":[{"value":2264}],"futureList":null,"currentTerm":{"value":"2267"}}`,
			want: []catalog.Term{{Code: "2264", Name: "Summer 2026"}, {Code: "2267", Name: "Fall 2026"}},
		},
		{
			name: "bare list",
			body: `[{"value":"2261","label":"Spring 2026"},{"label":"no value"}]`,
			want: []catalog.Term{{Code: "2261", Name: "Spring 2026"}},
		},
		{name: "no terms", body: `{"fullList":[]}`, wantErr: true},
		{name: "not json", body: `<html>`, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseTerms([]byte(tc.body))
			if (err != nil) != tc.wantErr {
				t.Fatalf("parseTerms error = %v; want error %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("parseTerms (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTermHelpers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code   string
		name   string
		ends   time.Time
		endsOK bool
	}{
		{code: "2267", name: "Fall 2026", ends: time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC), endsOK: true},
		{code: "2271", name: "Spring 2027", ends: time.Date(2027, 5, 31, 23, 59, 59, 0, time.UTC), endsOK: true},
		{code: "2264", name: "Summer 2026", ends: time.Date(2026, 8, 20, 23, 59, 59, 0, time.UTC), endsOK: true},
		{code: "2261", name: "Spring 2026", ends: time.Date(2026, 5, 31, 23, 59, 59, 0, time.UTC), endsOK: true},
		{code: "2265", name: "2265"},
		{code: "1267", name: "1267"},
		{code: "22a7", name: "22a7"},
		{code: "", name: ""},
		{code: "22671", name: "22671"},
	}
	for _, tc := range tests {
		t.Run(tc.code, func(t *testing.T) {
			t.Parallel()
			if got := TermName(tc.code); got != tc.name {
				t.Errorf("TermName(%q) = %q; want %q", tc.code, got, tc.name)
			}
			ends, ok := TermEnds(tc.code)
			if ok != tc.endsOK || !ends.Equal(tc.ends) {
				t.Errorf("TermEnds(%q) = %v, %v; want %v, %v", tc.code, ends, ok, tc.ends, tc.endsOK)
			}
		})
	}
}

func TestClassURL(t *testing.T) {
	t.Parallel()
	want := "https://catalog.apps.asu.edu/catalog/classes/classlist?campusOrOnlineSelection=A&classNbr=70412&honors=F&promod=F&searchType=all&term=2267"
	if got := ClassURL("2267", "70412"); got != want {
		t.Errorf("ClassURL = %q; want %q", got, want)
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{in: "", want: 0},
		{in: "120", want: 2 * time.Minute},
		{in: " 7 ", want: 7 * time.Second},
		{in: "0", want: 0},
		{in: "-3", want: 0},
		{in: "99999999999", want: 24 * time.Hour},
		{in: "Tue, 01 Sep 2026 12:01:30 GMT", want: 90 * time.Second},
		{in: "Tue, 01 Sep 2026 11:00:00 GMT", want: 0},
		{in: "soon", want: 0},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			if got := parseRetryAfter(tc.in, now); got != tc.want {
				t.Errorf("parseRetryAfter(%q) = %v; want %v", tc.in, got, tc.want)
			}
		})
	}
}

// oneRow parses a one-row page whose CLAS holds the identity fields and extra.
func oneRow(t *testing.T, clas, top string) catalog.Section {
	t.Helper()
	if top != "" {
		top = ", " + top
	}
	body := `{"classes": [{"CLAS": {"STRM": "2267", "CLASSNBR": "70412", "SUBJECT": "CSE", "CATALOGNBR": "240", ` +
		`"ENRLCAP": "10", "ENRLTOT": "5"` + clas + `}` + top + `}]}`
	page, err := Parse([]byte(body))
	if err != nil || len(page.Sections) != 1 {
		t.Fatalf("Parse(%s) = %d sections, %v; want 1", body, len(page.Sections), err)
	}
	return page.Sections[0]
}

func TestParseComponents(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		clas        string
		component   string
		association string
		primary     bool
	}{
		{name: "nothing said", clas: ``, primary: true},
		{name: "lecture of a lecture and lab", clas: `, "SSRCOMPONENT": "LEC", "ASSOCIATEDCLASS": "1", "SSR": "Lecture, Laboratory"`,
			component: "LEC", association: "1", primary: true},
		{name: "lab by SSR", clas: `, "SSRCOMPONENT": " lab ", "ASSOCIATEDCLASS": 1, "SSR": "Lecture, Laboratory"`,
			component: "LAB", association: "1", primary: false},
		{name: "recitation by SSR", clas: `, "SSRCOMPONENT": "REC", "ASSOCIATEDCLASS": "1011", "SSR": "Lecture, Recitation"`,
			component: "REC", association: "1011", primary: false},
		{name: "seminar first in SSR", clas: `, "SSRCOMPONENT": "SEM", "SSR": "Seminar, Discussion"`,
			component: "SEM", primary: true},
		{name: "discussion second in SSR", clas: `, "SSRCOMPONENT": "DIS", "SSR": "Seminar, Discussion"`,
			component: "DIS", primary: false},
		{name: "studio alone", clas: `, "SSRCOMPONENT": "STU", "SSR": "Studio"`, component: "STU", primary: true},
		{name: "lab first as Lab", clas: `, "SSRCOMPONENT": "LAB", "SSR": "Lab"`, component: "LAB", primary: true},
		{name: "component without SSR", clas: `, "SSRCOMPONENT": "LAB"`, component: "LAB", primary: false},
		{name: "component, SSR of unknown words", clas: `, "SSRCOMPONENT": "LAB", "SSR": "Practicum"`, component: "LAB", primary: false},
		{name: "COMPONENTPRIMARY Y wins over SSR", clas: `, "SSRCOMPONENT": "LAB", "SSR": "Lecture, Laboratory", "COMPONENTPRIMARY": "Y"`,
			component: "LAB", primary: true},
		{name: "COMPONENTPRIMARY N wins over a lecture", clas: `, "SSRCOMPONENT": "LEC", "COMPONENTPRIMARY": "N"`,
			component: "LEC", primary: false},
		{name: "COMPONENTPRIMARY as the primary code, a lecture", clas: `, "SSRCOMPONENT": "LEC", "COMPONENTPRIMARY": "LEC"`,
			component: "LEC", primary: true},
		{name: "COMPONENTPRIMARY as the primary code, a lab", clas: `, "SSRCOMPONENT": "LAB", "COMPONENTPRIMARY": "lec", "SSR": "Laboratory"`,
			component: "LAB", primary: false},
		{name: "COMPONENTPRIMARY empty is absent", clas: `, "SSRCOMPONENT": "REC", "COMPONENTPRIMARY": "", "SSR": "Lecture, Recitation"`,
			component: "REC", primary: false},
		{name: "COMPONENTPRIMARY null is absent", clas: `, "SSRCOMPONENT": "LEC", "COMPONENTPRIMARY": null`,
			component: "LEC", primary: true},
		{name: "odd types", clas: `, "SSRCOMPONENT": ["LAB"], "ASSOCIATEDCLASS": 1011, "COMPONENTPRIMARY": false`,
			association: "1011", primary: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := oneRow(t, tc.clas, "")
			if s.Component != tc.component || s.Association != tc.association || s.Primary != tc.primary {
				t.Errorf("component %q, association %q, primary %t; want %q, %q, %t",
					s.Component, s.Association, s.Primary, tc.component, tc.association, tc.primary)
			}
			if s.Status != catalog.StatusOpen || s.Capacity != 10 {
				t.Errorf("the rest of the row was lost: %+v", s)
			}
		})
	}
}

func TestParseEnrollDeadline(t *testing.T) {
	t.Parallel()
	// The end of the day in Arizona: the next midnight, UTC-7 all year.
	endOf := func(y int, m time.Month, d int) time.Time {
		return time.Date(y, m, d, 7, 0, 0, 0, time.UTC).AddDate(0, 0, 1)
	}
	tests := []struct {
		name string
		clas string
		top  string
		want time.Time
	}{
		{name: "upstream form", clas: `, "ENROLLDEADLINE": "2026-08-26 00:00:00.0"`, want: endOf(2026, 8, 26)},
		{name: "without fraction", clas: `, "ENROLLDEADLINE": "2026-08-26 00:00:00"`, want: endOf(2026, 8, 26)},
		{name: "date only", clas: `, "ENROLLDEADLINE": "2026-08-26"`, want: endOf(2026, 8, 26)},
		{name: "time of day ignored", clas: `, "ENROLLDEADLINE": "2026-08-26 13:45:00.0"`, want: endOf(2026, 8, 26)},
		{name: "month end", clas: `, "ENROLLDEADLINE": "2026-12-31"`, want: endOf(2026, 12, 31)},
		{name: "summer, no daylight saving", clas: `, "ENROLLDEADLINE": "2026-07-01"`, want: time.Date(2026, 7, 2, 7, 0, 0, 0, time.UTC)},
		{name: "top level", top: `"ENROLLDEADLINE": "2026-10-15 00:00:00.0"`, want: endOf(2026, 10, 15)},
		{name: "CLAS before top level", clas: `, "ENROLLDEADLINE": "2026-08-26"`, top: `"ENROLLDEADLINE": "2026-10-15"`, want: endOf(2026, 8, 26)},
		{name: "ENDDATE when no deadline", clas: `, "ENDDATE": "2026-12-04 00:00:00.0"`, want: endOf(2026, 12, 4)},
		{name: "deadline before ENDDATE", clas: `, "ENROLLDEADLINE": "2026-08-26", "ENDDATE": "2026-12-04"`, want: endOf(2026, 8, 26)},
		{name: "empty deadline is absent", clas: `, "ENROLLDEADLINE": "", "ENDDATE": "2026-12-04"`, want: endOf(2026, 12, 4)},
		{name: "null deadline is absent", clas: `, "ENROLLDEADLINE": null, "ENDDATE": "2026-12-04"`, want: endOf(2026, 12, 4)},
		{name: "neither", clas: ``},
		{name: "malformed deadline", clas: `, "ENROLLDEADLINE": "26/08/2026", "ENDDATE": "2026-12-04"`},
		{name: "impossible date", clas: `, "ENROLLDEADLINE": "2026-02-30 00:00:00.0"`},
		{name: "malformed ENDDATE", clas: `, "ENDDATE": "soon"`},
		{name: "a number", clas: `, "ENROLLDEADLINE": 1787209200000`},
		{name: "a structure", clas: `, "ENROLLDEADLINE": {"date": "2026-08-26"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := oneRow(t, tc.clas, tc.top)
			if !s.EnrollDeadline.Equal(tc.want) {
				t.Errorf("EnrollDeadline = %v; want %v", s.EnrollDeadline, tc.want)
			}
			if !s.EnrollDeadline.IsZero() {
				if _, off := s.EnrollDeadline.Zone(); off != -7*3600 {
					t.Errorf("EnrollDeadline %v is not in Arizona time", s.EnrollDeadline)
				}
			}
			if s.Status != catalog.StatusOpen || s.Capacity != 10 {
				t.Errorf("the rest of the row was lost: %+v", s)
			}
		})
	}
}

// TestParseLinked reads a course of two lectures, one with two labs and one
// with a recitation, as upstream sends them, and pairs them up.
func TestParseLinked(t *testing.T) {
	t.Parallel()
	body, err := os.ReadFile(filepath.Join("testdata", "linked.json"))
	if err != nil {
		t.Fatal(err)
	}
	page, err := Parse(body)
	if err != nil || len(page.Sections) != 5 {
		t.Fatalf("Parse = %d sections, %v; want 5", len(page.Sections), err)
	}
	nbrs := func(secs []catalog.Section) []string {
		var out []string
		for _, s := range secs {
			out = append(out, s.ClassNbr)
		}
		return out
	}
	var primaries []string
	for _, s := range page.Sections {
		if s.Primary {
			primaries = append(primaries, s.ClassNbr)
		}
	}
	if diff := cmp.Diff([]string{"66445", "66450"}, primaries); diff != "" {
		t.Errorf("primary sections (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"66446", "66447"}, nbrs(page.Sections[0].Linked(page.Sections))); diff != "" {
		t.Errorf("labs of 66445 (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"66451"}, nbrs(page.Sections[3].Linked(page.Sections))); diff != "" {
		t.Errorf("recitations of 66450 (-want +got):\n%s", diff)
	}
	if rec := page.Sections[4]; !rec.EnrollDeadline.IsZero() || rec.Component != "REC" || rec.Status != catalog.StatusClosed {
		t.Errorf("recitation with a malformed deadline = %+v; want no deadline, the rest read", rec)
	}
}
