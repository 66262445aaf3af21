package asusim_test

import (
	"cmp"
	"encoding/json"
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

// parsePage decodes the fields of a class search page the tests read (the
// adapter's full parse is checked in TestWireShape and costs much more).
func parsePage(body []byte) (asu.Page, error) {
	var raw struct {
		Classes []struct {
			CLAS struct {
				STRM, CLASSNBR, SUBJECT, CATALOGNBR, CLASSSECTION string
			}
			SeatInfo struct {
				EnrlCap int `json:"ENRL_CAP"`
				EnrlTot int `json:"ENRL_TOT"`
			} `json:"seatInfo"`
		} `json:"classes"`
		ScrollID string `json:"scrollId"`
		Total    struct {
			Value int `json:"value"`
		} `json:"total"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return asu.Page{}, err
	}
	p := asu.Page{ScrollID: raw.ScrollID, Total: raw.Total.Value, Sections: make([]catalog.Section, len(raw.Classes))}
	for i, c := range raw.Classes {
		p.Sections[i] = catalog.Section{
			Term: c.CLAS.STRM, ClassNbr: c.CLAS.CLASSNBR, Subject: c.CLAS.SUBJECT, CatalogNbr: c.CLAS.CATALOGNBR,
			SectionCode: c.CLAS.CLASSSECTION, Capacity: c.SeatInfo.EnrlCap, Enrolled: c.SeatInfo.EnrlTot,
		}
	}
	return p, nil
}

// walkResult is what a walk read.
type walkResult struct {
	rows     []catalog.Section
	perPage  []int // rows on each page
	total    int   // total.value of the first page
	bytes    int
	scrollID string // the last page's
}

// walk reads a class search the way a client walks it: the first page,
// then its scrollId until the rows read reach total.value. Every page must
// answer 200, carry at most PageSize rows and the same total.
func walk(t *testing.T, base, query string) walkResult {
	t.Helper()
	var w walkResult
	u := base + "/classes?" + query
	for page := 1; ; page++ {
		code, body := get(t, u)
		if code != http.StatusOK {
			t.Fatalf("page %d: status %d: %s", page, code, body)
		}
		p, err := parsePage(body)
		if err != nil {
			t.Fatalf("page %d: %v", page, err)
		}
		if page == 1 {
			w.total = p.Total
		} else if p.Total != w.total {
			t.Fatalf("page %d: total %d; the first page said %d", page, p.Total, w.total)
		}
		if len(p.Sections) > asusim.PageSize {
			t.Fatalf("page %d has %d rows", page, len(p.Sections))
		}
		w.rows = append(w.rows, p.Sections...)
		w.perPage = append(w.perPage, len(p.Sections))
		w.bytes += len(body)
		w.scrollID = p.ScrollID
		if len(w.rows) >= w.total || len(p.Sections) == 0 {
			return w
		}
		if page > w.total/asusim.PageSize+1 {
			t.Fatalf("%d pages for %d rows", page, w.total)
		}
		u = base + "/classes?" + query + "&scrollId=" + url.QueryEscape(p.ScrollID)
	}
}

// simState reads the control API's state, as the bench and chaos tests do.
func simState(t *testing.T, base string) asusim.State {
	t.Helper()
	code, body := get(t, strings.TrimSuffix(base, asusim.BasePath)+"/_sim/state?sections=0")
	if code != http.StatusOK {
		t.Fatalf("state: %d %s", code, body)
	}
	var st asusim.State
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestWalkReadsEverySectionOnce(t *testing.T) {
	t.Parallel()
	sc := asusim.GenerateTerm("2267", 2000, 30, 3)
	subjectSize := map[string]int{}
	for _, s := range sc.Sections {
		subjectSize[s.Subject]++
	}
	tests := []struct {
		name, query string
		want        int
	}{
		{"term", "term=2267", 2000},
		{"big subject", "term=2267&subject=MAT", subjectSize["MAT"]},
		{"subject, lower case", "term=2267&subject=cse", subjectSize["CSE"]},
		{"small subject", "term=2267&subject=" + sc.Sections[len(sc.Sections)-1].Subject, subjectSize[sc.Sections[len(sc.Sections)-1].Subject]},
		{"course", "term=2267&subject=" + sc.Sections[0].Subject + "&catalogNbr=" + sc.Sections[0].CatalogNbr, 0},
	}
	for _, s := range sc.Sections {
		if s.Subject == sc.Sections[0].Subject && s.CatalogNbr == sc.Sections[0].CatalogNbr {
			tests[len(tests)-1].want++
		}
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sim, base := asusimtest.Start(t, sc)
			w := walk(t, base, tc.query)
			if w.total != tc.want || len(w.rows) != tc.want {
				t.Fatalf("read %d rows, total %d; want %d", len(w.rows), w.total, tc.want)
			}
			seen := map[catalog.SectionKey]bool{}
			for _, s := range w.rows {
				if seen[s.Key()] {
					t.Fatalf("%s read twice", s.Key())
				}
				seen[s.Key()] = true
			}
			ordered := slices.IsSortedFunc(w.rows, func(a, b catalog.Section) int {
				return cmp.Or(cmp.Compare(a.Subject, b.Subject), cmp.Compare(a.CatalogNbr, b.CatalogNbr),
					cmp.Compare(a.SectionCode, b.SectionCode), cmp.Compare(a.ClassNbr, b.ClassNbr))
			})
			if !ordered {
				t.Error("rows are not in (subject, catalog nbr, section, class nbr) order")
			}
			wantPages := max((tc.want+asusim.PageSize-1)/asusim.PageSize, 1)
			for i, n := range w.perPage[:len(w.perPage)-1] {
				if n != asusim.PageSize {
					t.Errorf("page %d of %d has %d rows", i+1, len(w.perPage), n)
				}
			}
			st := sim.State(false)
			if st.FirstPages != 1 || st.ScrollPages != int64(wantPages-1) || st.SectionsServed != int64(tc.want) ||
				st.BytesServed != int64(w.bytes) || sim.Requests() != int64(wantPages) {
				t.Errorf("state after a walk of %d pages: %+v", wantPages, st)
			}
			// The last page dropped the context.
			if st.LiveScrolls != 0 {
				t.Errorf("%d live scroll contexts after the walk", st.LiveScrolls)
			}
			// Rows weigh about what upstream's do (a captured page: about
			// 4,800 bytes a section).
			if perRow := w.bytes / max(len(w.rows), 1); tc.want > 100 && (perRow < 3500 || perRow > 6000) {
				t.Errorf("%d bytes a section; want upstream's weight, 3,500 to 6,000", perRow)
			}
			code, body := get(t, base+"/classes?scrollId="+w.scrollID)
			if code != http.StatusNotFound || strings.TrimSpace(string(body)) != `{"error":"No search context found"}` {
				t.Errorf("scroll past the end: %d %s; want 404 No search context found", code, body)
			}
			if st := simState(t, base); st.ScrollMisses != 1 || st.ScrollPages != int64(wantPages-1) {
				t.Errorf("after a miss: %+v", st)
			}
		})
	}
}

// TestWalkIsASnapshot: as with Elasticsearch's scroll, a walk reads the
// catalog as it was at its first page; changes show in the next search.
func TestWalkIsASnapshot(t *testing.T) {
	t.Parallel()
	sc := asusim.GenerateTerm("2267", 1000, 5, 4)
	sim, base := asusimtest.Start(t, sc)
	first := sc.Sections[0]                 // served on the first page
	late := sc.Sections[len(sc.Sections)-1] // served on a later page
	gone := sc.Sections[len(sc.Sections)-2] // removed mid-walk
	added := asusim.SectionSpec{Term: "2267", ClassNbr: "99999", Subject: "ZZZ", CatalogNbr: "999", Section: "0001", Capacity: 5, Enrolled: 5}

	code, body := get(t, base+"/classes?term=2267")
	p, err := parsePage(body)
	if code != http.StatusOK || err != nil {
		t.Fatalf("first page: %d %v", code, err)
	}
	if err := sim.SetSeats(late.Key(), 0, -1); err != nil {
		t.Fatal(err)
	}
	if err := sim.RemoveSection(gone.Key()); err != nil {
		t.Fatal(err)
	}
	if err := sim.AddSection(added); err != nil {
		t.Fatal(err)
	}
	if err := sim.SetSeats(first.Key(), 0, -1); err != nil {
		t.Fatal(err)
	}
	rows := p.Sections
	for len(rows) < p.Total {
		code, body := get(t, base+"/classes?scrollId="+p.ScrollID)
		if code != http.StatusOK {
			t.Fatalf("scroll: %d %s", code, body)
		}
		next, err := parsePage(body)
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, next.Sections...)
	}
	byKey := map[catalog.SectionKey]catalog.Section{}
	for _, s := range rows {
		byKey[s.Key()] = s
	}
	if len(rows) != 1000 || p.Total != 1000 {
		t.Errorf("walk read %d rows, total %d; want the 1000 of its start", len(rows), p.Total)
	}
	if s, ok := byKey[late.Key()]; !ok || s.Enrolled != late.Enrolled {
		t.Errorf("a seat change mid-walk reached the walk: %+v", s)
	}
	if _, ok := byKey[gone.Key()]; !ok {
		t.Error("a section removed mid-walk is missing from the walk")
	}
	if _, ok := byKey[added.Key()]; ok {
		t.Error("a section added mid-walk is in the walk")
	}

	w := walk(t, base, "term=2267")
	byKey = map[catalog.SectionKey]catalog.Section{}
	for _, s := range w.rows {
		byKey[s.Key()] = s
	}
	_, hasGone := byKey[gone.Key()]
	_, hasAdded := byKey[added.Key()]
	if len(w.rows) != 1000 || byKey[late.Key()].Enrolled != 0 || byKey[first.Key()].Enrolled != 0 || hasGone || !hasAdded {
		t.Errorf("the next walk does not show the changes: %d rows, gone %v, added %v", len(w.rows), hasGone, hasAdded)
	}
}

func TestScrollExpiredMidWalk(t *testing.T) {
	t.Parallel()
	sim, base := asusimtest.Start(t, asusim.GenerateTerm("2267", 1000, 10, 5))
	root := strings.TrimSuffix(base, asusim.BasePath)
	_, body := get(t, base+"/classes?term=2267")
	p, err := parsePage(body)
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, base+"/classes?term=2267&scrollId="+p.ScrollID); code != http.StatusOK {
		t.Fatalf("page 2: %d", code)
	}
	if code := post(t, root+"/_sim/scrolls/expire", `{}`); code != http.StatusOK {
		t.Fatalf("expire: %d", code)
	}
	code, body := get(t, base+"/classes?term=2267&scrollId="+p.ScrollID)
	if code != http.StatusNotFound || strings.TrimSpace(string(body)) != `{"error":"No search context found"}` {
		t.Errorf("page 3 after expiry: %d %s; want 404 No search context found", code, body)
	}
	// A malformed id is a bad request, not a missing context.
	if code, _ := get(t, base+"/classes?term=2267&scrollId=not-a-scroll-id"); code != http.StatusBadRequest {
		t.Errorf("malformed scrollId: %d; want 400", code)
	}
	// Starting over works.
	if w := walk(t, base, "term=2267"); len(w.rows) != 1000 {
		t.Errorf("restarted walk read %d rows", len(w.rows))
	}
	st := sim.State(false)
	if st.ScrollMisses != 1 || st.FirstPages != 2 || st.ScrollPages != 1+4 {
		t.Errorf("state = %+v", st)
	}
	sim.ExpireScrolls() // and the method does the same
	if code, _ := get(t, base+"/classes?term=2267"); code != http.StatusOK {
		t.Fatal("first page after ExpireScrolls")
	}
}

func TestScrollLimitEvictsOldest(t *testing.T) {
	t.Parallel()
	sim, base := asusimtest.Start(t, asusim.GenerateTerm("2267", 600, 3, 6))
	root := strings.TrimSuffix(base, asusim.BasePath)
	if code := post(t, root+"/_sim/scrolls", `{"max_scrolls":3}`); code != http.StatusOK {
		t.Fatalf("set max: %d", code)
	}
	var ids []string
	for range 4 {
		_, body := get(t, base+"/classes?term=2267")
		p, err := parsePage(body)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, p.ScrollID)
	}
	if code, _ := get(t, base+"/classes?scrollId="+ids[0]); code != http.StatusNotFound {
		t.Errorf("oldest walk: %d; want 404 (evicted)", code)
	}
	// Reading walk 2 makes it the most recent; a fifth walk then evicts 3.
	for _, id := range ids[1:] {
		if code, _ := get(t, base+"/classes?scrollId="+id); code != http.StatusOK {
			t.Errorf("walk %s: %d; want 200", id, code)
		}
	}
	if code, _ := get(t, base+"/classes?term=2267"); code != http.StatusOK {
		t.Fatal("fifth walk")
	}
	if code, _ := get(t, base+"/classes?scrollId="+ids[1]); code != http.StatusNotFound {
		t.Errorf("least recently read walk: %d; want 404 (evicted)", code)
	}
	if code, _ := get(t, base+"/classes?scrollId="+ids[3]); code != http.StatusOK {
		t.Errorf("recently read walk: %d; want 200", code)
	}
	st := sim.State(false)
	if st.ScrollsEvicted != 2 || st.LiveScrolls != 2 || st.MaxScrolls != 3 {
		t.Errorf("state = %+v; want 2 evicted, 2 live (one finished), max 3", st)
	}
	for _, body := range []string{`{"max_scrolls":0}`, `{"keep_alive_ms":0}`, `{"keep_alive_ms":-5}`, `{"keepalive":5}`} {
		if code := post(t, root+"/_sim/scrolls", body); code != http.StatusBadRequest {
			t.Errorf("POST /_sim/scrolls %s: %d; want 400", body, code)
		}
	}
	if code := post(t, root+"/_sim/scrolls", `{"keep_alive_ms":1500}`); code != http.StatusOK {
		t.Errorf("set keep-alive: %d", code)
	}
	if st := sim.State(false); st.ScrollKeepAliveMS != 1500 {
		t.Errorf("keep-alive = %d ms; want 1500", st.ScrollKeepAliveMS)
	}
}
