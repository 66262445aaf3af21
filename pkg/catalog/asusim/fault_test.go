package asusim_test

import (
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asu"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asusim"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asusim/asusimtest"
)

// stepper reads a walk one request at a time.
type stepper struct {
	t        *testing.T
	base, q  string
	scrollID string
}

// next requests the walk's next page and returns the status, the header
// and, for a 200, the parsed page.
func (s *stepper) next() (int, http.Header, asu.Page) {
	s.t.Helper()
	u := s.base + "/classes?" + s.q
	if s.scrollID != "" {
		u += "&scrollId=" + url.QueryEscape(s.scrollID)
	}
	req, err := http.NewRequestWithContext(s.t.Context(), http.MethodGet, u, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer null")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var p asu.Page
	if resp.StatusCode == http.StatusOK {
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			s.t.Fatal(err)
		}
		if p, err = parsePage(body); err != nil {
			return -1, resp.Header, p // 200 with a body that does not parse
		}
		s.scrollID = p.ScrollID
	}
	return resp.StatusCode, resp.Header, p
}

// TestPageFault: a fault aimed at one page of a walk hits that page only,
// and a failed page does not move the walk on.
func TestPageFault(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		fault asusim.Fault
	}{
		{"503 on page 3", asusim.Fault{Kind: asusim.FaultStatus, Status: 503, Page: 3, Count: 1}},
		{"429 on page 2", asusim.Fault{Kind: asusim.FaultStatus, Status: 429, RetryAfterSeconds: 4, Page: 2, Count: 1}},
		{"malformed page 4", asusim.Fault{Kind: asusim.FaultMalformed, Page: 4, Count: 1}},
		{"503 on page 1", asusim.Fault{Kind: asusim.FaultStatus, Status: 503, Page: 1, Count: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sc := asusim.GenerateTerm("2267", 1000, 8, 2) // 5 pages
			sim, base := asusimtest.Start(t, sc)
			if err := sim.InjectFault(tc.fault); err != nil {
				t.Fatal(err)
			}
			// Other requests go by untouched: terms, and a course search's
			// only page (unless the fault is aimed at first pages).
			if code, _ := get(t, base+"/terms"); code != http.StatusOK {
				t.Errorf("terms: %d", code)
			}
			if tc.fault.Page != 1 {
				if code, _ := get(t, base+"/classes?term=2267&subject="+sc.Sections[0].Subject+"&catalogNbr="+sc.Sections[0].CatalogNbr); code != http.StatusOK {
					t.Errorf("course search: %d", code)
				}
			}
			w := &stepper{t: t, base: base, q: "term=2267"}
			seen := map[catalog.SectionKey]int{}
			failures := 0
			for page := 1; page <= 5; {
				code, hdr, p := w.next()
				if code != http.StatusOK {
					failures++
					if page != tc.fault.Page {
						t.Fatalf("page %d failed with %d; the fault is aimed at page %d", page, code, tc.fault.Page)
					}
					if tc.fault.RetryAfterSeconds > 0 && hdr.Get("Retry-After") != "4" {
						t.Errorf("Retry-After %q", hdr.Get("Retry-After"))
					}
					continue // retry the same scrollId
				}
				if p.Total != 1000 || len(p.Sections) != asusim.PageSize {
					t.Fatalf("page %d: %d rows of %d", page, len(p.Sections), p.Total)
				}
				for _, s := range p.Sections {
					seen[s.Key()]++
				}
				page++
			}
			if failures != 1 {
				t.Errorf("%d failed requests; want 1", failures)
			}
			if len(seen) != 1000 {
				t.Errorf("the walk read %d distinct sections; want 1000", len(seen))
			}
			for k, n := range seen {
				if n != 1 {
					t.Errorf("%s read %d times", k, n)
				}
			}
			if st := sim.State(false); len(st.Faults) != 0 {
				t.Errorf("faults left: %+v", st.Faults)
			}
		})
	}
}

// TestPageFaultUntilCleared: a page fault without a count fails that page of
// every walk, and nothing else, until cleared.
func TestPageFaultUntilCleared(t *testing.T) {
	t.Parallel()
	sim, base := asusimtest.Start(t, asusim.GenerateTerm("2267", 500, 3, 2)) // 3 pages
	if err := sim.InjectFault(asusim.Fault{Kind: asusim.FaultStatus, Status: 502, Page: 2}); err != nil {
		t.Fatal(err)
	}
	for walkNo := range 2 {
		w := &stepper{t: t, base: base, q: "term=2267"}
		var codes []int
		for range 3 {
			code, _, _ := w.next()
			codes = append(codes, code)
		}
		if codes[0] != 200 || codes[1] != 502 || codes[2] != 502 {
			t.Errorf("walk %d: statuses %v; want 200 502 502", walkNo, codes)
		}
	}
	sim.ClearFaults()
	w := &stepper{t: t, base: base, q: "term=2267"}
	for page := 1; page <= 3; page++ {
		if code, _, _ := w.next(); code != http.StatusOK {
			t.Errorf("page %d after clear: %d", page, code)
		}
	}
}

// TestTruncatedPage: a truncated page is well-formed and short while total
// counts every row; the walk moves past the whole page, so a complete walk
// reads fewer rows than total.value.
func TestTruncatedPage(t *testing.T) {
	t.Parallel()
	sc := asusim.GenerateTerm("2267", 1000, 8, 2)
	sim, base := asusimtest.Start(t, sc)
	root := strings.TrimSuffix(base, asusim.BasePath)
	// Aimed at no page: terms requests are not class pages and go by.
	if err := sim.InjectFault(asusim.Fault{Kind: asusim.FaultTruncated, Count: 1}); err != nil {
		t.Fatal(err)
	}
	if code := post(t, root+"/_sim/faults", `{"kind":"truncated","page":3,"rows":50,"count":1}`); code != http.StatusOK {
		t.Fatalf("inject over HTTP: %d", code)
	}
	if code, _ := get(t, base+"/terms"); code != http.StatusOK {
		t.Errorf("terms: %d", code)
	}
	w := &stepper{t: t, base: base, q: "term=2267"}
	var perPage []int
	read := map[catalog.SectionKey]bool{}
	for range 5 {
		code, _, p := w.next()
		if code != http.StatusOK || p.Total != 1000 {
			t.Fatalf("status %d, total %d", code, p.Total)
		}
		perPage = append(perPage, len(p.Sections))
		for _, s := range p.Sections {
			read[s.Key()] = true
		}
	}
	if want := []int{100, 200, 50, 200, 200}; !slices.Equal(perPage, want) {
		t.Errorf("rows per page %v; want %v", perPage, want)
	}
	// The rows missing from pages 1 and 3 are the ends of those pages.
	for i, s := range sc.Sections {
		missing := (i >= 100 && i < 200) || (i >= 450 && i < 600)
		if read[s.Key()] == missing {
			t.Errorf("row %d (%s): read %v", i, s.Key(), read[s.Key()])
		}
	}
	if st := sim.State(false); st.SectionsServed != 750 || st.FirstPages != 1 || st.ScrollPages != 4 || st.LiveScrolls != 0 {
		t.Errorf("state = %+v", st)
	}
	// A single-page search cut short keeps fewer rows than total too.
	if err := sim.InjectFault(asusim.Fault{Kind: asusim.FaultTruncated, Count: 1}); err != nil {
		t.Fatal(err)
	}
	course := sc.Sections[0]
	w = &stepper{t: t, base: base, q: "term=2267&subject=" + course.Subject + "&catalogNbr=" + course.CatalogNbr}
	if code, _, p := w.next(); code != http.StatusOK || p.Total < 1 || len(p.Sections) >= p.Total {
		t.Errorf("truncated course page: %d rows of %d", len(p.Sections), p.Total)
	}
}

func TestFaultValidation(t *testing.T) {
	t.Parallel()
	sim, base := asusimtest.Start(t, asusim.Scenario{})
	root := strings.TrimSuffix(base, asusim.BasePath)
	for _, body := range []string{
		`{"kind":"truncated","rows":200}`,
		`{"kind":"truncated","rows":-1}`,
		`{"kind":"status","status":503,"page":-1}`,
		`{"kind":"status","status":503,"rows":5}`,
		`{"kind":"truncated","pages":2}`,
	} {
		if code := post(t, root+"/_sim/faults", body); code != http.StatusBadRequest {
			t.Errorf("POST /_sim/faults %s: %d; want 400", body, code)
		}
	}
	if err := sim.InjectFault(asusim.Fault{Kind: asusim.FaultTruncated, Page: 2, Rows: 199}); err != nil {
		t.Errorf("a valid truncated fault: %v", err)
	}
	if st := sim.State(false); len(st.Faults) != 1 || st.Faults[0].Page != 2 {
		t.Errorf("faults = %+v", st.Faults)
	}
}

// A fault limited to one endpoint leaves the others alone.
func TestFaultOnOneEndpoint(t *testing.T) {
	t.Parallel()
	sim, base := asusimtest.Start(t, asusim.Scenario{Sections: []asusim.SectionSpec{
		{Term: "2267", ClassNbr: "70412", Subject: "CSE", CatalogNbr: "240", Section: "1002", Capacity: 10, Reserved: true},
	}})
	if err := sim.InjectFault(asusim.Fault{Kind: asusim.FaultStatus, Status: 503, Endpoint: "reservedseatsadditionalinfo", Count: 1}); err != nil {
		t.Fatal(err)
	}
	if err := sim.InjectFault(asusim.Fault{Kind: asusim.FaultStatus, Status: 503, Endpoint: "terms", Page: 1}); err == nil {
		t.Error("a page fault on the terms endpoint was accepted")
	}
	if code, _ := get(t, base+"/classes?term=2267"); code != http.StatusOK {
		t.Errorf("classes under a reserved-seats fault: %d", code)
	}
	lookup := base + "/reservedseatsadditionalinfo?term=2267&classNbr=70412&crseId=170412&sessionCode=C&classType=E&acadCareer=UGRD&crseOfferNbr=1&classSection=1002"
	if code, _ := get(t, lookup); code != http.StatusServiceUnavailable {
		t.Errorf("reserved seats under its fault: %d", code)
	}
	if code, body := get(t, lookup); code != http.StatusOK || strings.TrimSpace(string(body)) != "[]" {
		t.Errorf("reserved seats after the fault: %d %s", code, body)
	}
}
