package asusim_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asu"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asusim"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asusim/asusimtest"
)

// linkedScenario is BIO 181 in Fall 2026: lecture 1011 with labs 1012 and
// 1013, lecture 2011 alone, and MAT 343 with two sections.
func linkedScenario() asusim.Scenario {
	sec := func(nbr, code, component, assoc string, capacity, enrolled int) asusim.SectionSpec {
		return asusim.SectionSpec{Term: "2267", ClassNbr: nbr, Subject: "BIO", CatalogNbr: "181", Section: code,
			Title: "General Biology I", Capacity: capacity, Enrolled: enrolled, Component: component, Association: assoc}
	}
	return asusim.Scenario{
		Terms: []catalog.Term{{Code: "2267", Name: "Fall 2026"}},
		Sections: []asusim.SectionSpec{
			sec("76100", "1011", "", "", 150, 150),
			sec("76101", "1012", "LAB", "1011", 24, 24),
			sec("76102", "1013", "lab", "1011", 24, 23),
			sec("76110", "2011", "LEC", "", 120, 90),
			{Term: "2267", ClassNbr: "71020", Subject: "MAT", CatalogNbr: "343", Section: "0001", Capacity: 45, Enrolled: 45},
			{Term: "2267", ClassNbr: "71021", Subject: "MAT", CatalogNbr: "343", Section: "0002", Capacity: 45, Enrolled: 31},
		},
	}
}

// byNbr indexes sections by class number.
func byNbr(secs []catalog.Section) map[string]catalog.Section {
	m := map[string]catalog.Section{}
	for _, s := range secs {
		m[s.ClassNbr] = s
	}
	return m
}

func classNbrs(secs []catalog.Section) []string {
	var out []string
	for _, s := range secs {
		out = append(out, s.ClassNbr)
	}
	return out
}

// TestLinkedComponents reads a course of lectures and labs through the
// adapter, as the worker does: the labs are linked to their lecture and are
// not primary; a course of lectures alone has no links.
func TestLinkedComponents(t *testing.T) {
	t.Parallel()
	_, base := asusimtest.Start(t, linkedScenario())
	c, err := asu.New(asu.Config{BaseURL: base})
	if err != nil {
		t.Fatal(err)
	}
	secs, err := c.Course(t.Context(), catalog.CourseKey{Term: "2267", Subject: "BIO", CatalogNbr: "181"})
	if err != nil || len(secs) != 4 {
		t.Fatalf("Course = %d sections, %v; want 4", len(secs), err)
	}
	m := byNbr(secs)
	type comp struct {
		Component, Association string
		Primary                bool
	}
	got := map[string]comp{}
	for nbr, s := range m {
		got[nbr] = comp{s.Component, s.Association, s.Primary}
	}
	want := map[string]comp{
		"76100": {"LEC", "1011", true}, "76101": {"LAB", "1011", false},
		"76102": {"LAB", "1011", false}, "76110": {"LEC", "2011", true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("components (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"76101", "76102"}, classNbrs(m["76100"].Linked(secs))); diff != "" {
		t.Errorf("labs of 76100 (-want +got):\n%s", diff)
	}
	if l := m["76110"].Linked(secs); l != nil {
		t.Errorf("lecture 2011 has links %v; want none", classNbrs(l))
	}

	mat, err := c.Course(t.Context(), catalog.CourseKey{Term: "2267", Subject: "MAT", CatalogNbr: "343"})
	if err != nil || len(mat) != 2 {
		t.Fatalf("Course(MAT 343) = %d sections, %v", len(mat), err)
	}
	for _, s := range mat {
		if !s.Primary || s.Component != "LEC" || s.Association != s.SectionCode || s.Linked(mat) != nil {
			t.Errorf("%s = %+v; want a lecture of its own", s.ClassNbr, s)
		}
	}
}

// TestLinkedWire checks the rows' linked-component fields as upstream
// writes them, inside CLAS.
func TestLinkedWire(t *testing.T) {
	t.Parallel()
	sim, base := asusimtest.Start(t, linkedScenario())
	type clas struct {
		CLASSNBR, SSR, SSRCOMPONENT, ASSOCIATEDCLASS, COMPONENTPRIMARY, ENROLLDEADLINE string
	}
	read := func(query string) map[string]clas {
		t.Helper()
		code, body := get(t, base+"/classes?"+query)
		if code != http.StatusOK {
			t.Fatalf("status %d: %s", code, body)
		}
		var resp struct {
			Classes []struct {
				CLAS clas
				SSR  string
			}
		}
		if err := json.Unmarshal(body, &resp); err != nil {
			t.Fatal(err)
		}
		out := map[string]clas{}
		for _, c := range resp.Classes {
			if c.SSR != c.CLAS.SSR {
				t.Errorf("%s: top-level SSR %q, CLAS.SSR %q", c.CLAS.CLASSNBR, c.SSR, c.CLAS.SSR)
			}
			out[c.CLAS.CLASSNBR] = c.CLAS
		}
		return out
	}
	deadline := time.Now().Add(asusim.DefaultEnrollWindow).In(asu.Phoenix).Format("2006-01-02") + " 00:00:00.0"
	bio := read("term=2267&subject=BIO&catalogNbr=181")
	want := map[string]clas{
		"76100": {"76100", "Lecture, Laboratory", "LEC", "1011", "LEC", deadline},
		"76101": {"76101", "Lecture, Laboratory", "LAB", "1011", "LEC", deadline},
		"76102": {"76102", "Lecture, Laboratory", "LAB", "1011", "LEC", deadline},
		"76110": {"76110", "Lecture, Laboratory", "LEC", "2011", "LEC", deadline},
	}
	if diff := cmp.Diff(want, bio); diff != "" {
		t.Errorf("BIO 181 rows (-want +got):\n%s", diff)
	}
	if mat := read("term=2267&classNbr=71020")["71020"]; mat.SSR != "Lecture" || mat.COMPONENTPRIMARY != "LEC" || mat.SSRCOMPONENT != "LEC" {
		t.Errorf("MAT 343 row = %+v; want a lecture alone", mat)
	}

	// A recitation added to MAT 343 joins its SSR, on every section.
	rec := asusim.SectionSpec{Term: "2267", ClassNbr: "71022", Subject: "mat", CatalogNbr: "343", Section: "0003",
		Capacity: 30, Enrolled: 30, Component: "REC", Association: "0001"}
	if err := sim.AddSection(rec); err != nil {
		t.Fatal(err)
	}
	for nbr, row := range read("term=2267&subject=MAT&catalogNbr=343") {
		if row.SSR != "Lecture, Recitation" {
			t.Errorf("%s after the recitation came: SSR %q", nbr, row.SSR)
		}
	}
	// Removed, it leaves again; so do BIO's labs.
	if err := sim.RemoveSection(rec.Key()); err != nil {
		t.Fatal(err)
	}
	for _, nbr := range []string{"76101", "76102"} {
		if err := sim.RemoveSection(catalog.SectionKey{Term: "2267", ClassNbr: nbr}); err != nil {
			t.Fatal(err)
		}
	}
	for nbr, row := range read("term=2267") {
		if row.SSR != "Lecture" {
			t.Errorf("%s after the labs went: SSR %q; want Lecture", nbr, row.SSR)
		}
	}
}

// TestEnrollDeadlines sets deadlines per term and per section, in Go and
// over the control API, and reads them back through the adapter.
func TestEnrollDeadlines(t *testing.T) {
	t.Parallel()
	sc := linkedScenario()
	sc.Sections = append(sc.Sections, asusim.SectionSpec{Term: "2271", ClassNbr: "20100", Subject: "CSE", CatalogNbr: "240",
		Section: "0001", Capacity: 10, Enrolled: 10, EnrollDeadline: "2027-01-18"})
	sc.EnrollDeadlines = map[string]string{"2271": "2027-01-20"}
	sim, base := asusimtest.Start(t, sc)
	root := strings.TrimSuffix(base, asusim.BasePath)
	c, err := asu.New(asu.Config{BaseURL: base})
	if err != nil {
		t.Fatal(err)
	}
	endOf := func(day string) time.Time {
		d, err := time.ParseInLocation("2006-01-02", day, asu.Phoenix)
		if err != nil {
			t.Fatal(err)
		}
		return d.AddDate(0, 0, 1)
	}
	lecture := catalog.SectionKey{Term: "2267", ClassNbr: "76100"}
	lab := catalog.SectionKey{Term: "2267", ClassNbr: "76101"}
	spring := catalog.SectionKey{Term: "2271", ClassNbr: "20100"}
	check := func(step string, want map[catalog.SectionKey]time.Time) {
		t.Helper()
		for key, w := range want {
			s, err := c.Section(t.Context(), key)
			if err != nil {
				t.Fatalf("%s: Section(%s): %v", step, key, err)
			}
			served, ok := sim.EnrollDeadline(key)
			if !s.EnrollDeadline.Equal(w) || !ok || !served.Equal(w) {
				t.Errorf("%s: %s deadline read %v, served %v; want %v", step, key, s.EnrollDeadline, served, w)
			}
		}
	}

	// The default lies DefaultEnrollWindow ahead: nothing is closed.
	def := endOf(time.Now().Add(asusim.DefaultEnrollWindow).In(asu.Phoenix).Format("2006-01-02"))
	if until := time.Until(def); until < asusim.DefaultEnrollWindow || until > asusim.DefaultEnrollWindow+25*time.Hour {
		t.Errorf("default deadline %v is %v away; want about %v", def, until, asusim.DefaultEnrollWindow)
	}
	check("start", map[catalog.SectionKey]time.Time{lecture: def, lab: def, spring: endOf("2027-01-18")})

	// A section's own deadline: yesterday closes it; zero gives back the
	// term's.
	yesterday := time.Now().AddDate(0, 0, -1)
	if err := sim.SetEnrollDeadline(lab, yesterday); err != nil {
		t.Fatal(err)
	}
	if err := sim.SetEnrollDeadline(spring, time.Time{}); err != nil {
		t.Fatal(err)
	}
	check("section deadlines", map[catalog.SectionKey]time.Time{
		lecture: def, lab: endOf(yesterday.In(asu.Phoenix).Format("2006-01-02")), spring: endOf("2027-01-20"),
	})
	if got, _ := sim.EnrollDeadline(lab); !got.Before(time.Now()) {
		t.Errorf("lab deadline %v; want passed", got)
	}

	// A term's deadline reaches its sections without one of their own.
	sim.SetTermDeadline("2267", time.Date(2026, 8, 26, 12, 0, 0, 0, asu.Phoenix))
	check("term deadline", map[catalog.SectionKey]time.Time{
		lecture: endOf("2026-08-26"), lab: endOf(yesterday.In(asu.Phoenix).Format("2006-01-02")),
	})

	// The same over HTTP.
	steps := []struct {
		body string
		want int
	}{
		{`{"term":"2267","class_nbr":"76101","enroll_deadline":"2026-09-01"}`, 200},
		{`{"term":"2267","enroll_deadline":"2026-08-30"}`, 200},
		{`{"term":"2271","class_nbr":"20100","enroll_deadline":""}`, 200},
		{`{"term":"2271","enroll_deadline":""}`, 200},
		{`{"term":"2267","class_nbr":"99999","enroll_deadline":"2026-09-01"}`, 404},
		{`{"term":"2267","class_nbr":"76101","enroll_deadline":"09/01/2026"}`, 400},
		{`{"term":"2267","enroll_deadline":"2026-02-30"}`, 400},
		{`{"class_nbr":"76101","enroll_deadline":"2026-09-01"}`, 400},
		{`{"term":"2267","class_nbr":"76101","deadline":"2026-09-01"}`, 400},
	}
	for _, st := range steps {
		if got := post(t, root+"/_sim/deadline", st.body); got != st.want {
			t.Errorf("POST /_sim/deadline %s: status %d; want %d", st.body, got, st.want)
		}
	}
	check("over HTTP", map[catalog.SectionKey]time.Time{
		lecture: endOf("2026-08-30"), lab: endOf("2026-09-01"), spring: def,
	})
	st := simState(t, base)
	if diff := cmp.Diff(map[string]string{"2267": "2026-08-30"}, st.EnrollDeadlines); diff != "" {
		t.Errorf("state's term deadlines (-want +got):\n%s", diff)
	}
	if st.DefaultEnrollDeadline != def.AddDate(0, 0, -1).Format("2006-01-02") {
		t.Errorf("state's default deadline %q; want the day of %v", st.DefaultEnrollDeadline, def)
	}
	if sec, _ := sim.Section(lab); sec.EnrollDeadline != "2026-09-01" {
		t.Errorf("lab spec deadline %q", sec.EnrollDeadline)
	}
}

func TestScenarioDeadlineValidation(t *testing.T) {
	t.Parallel()
	for name, body := range map[string]string{
		"section deadline": `{"sections":[{"term":"2267","class_nbr":"1","subject":"CSE","catalog_nbr":"240","enroll_deadline":"soon"}]}`,
		"term deadline":    `{"sections":[],"enroll_deadlines":{"2267":"2026-13-01"}}`,
		"empty term":       `{"sections":[],"enroll_deadlines":{"":"2026-08-26"}}`,
		"component":        `{"sections":[{"term":"2267","class_nbr":"1","subject":"CSE","catalog_nbr":"240","component":"LECTURE"}]}`,
	} {
		if _, err := asusim.ParseScenario([]byte(body)); err == nil {
			t.Errorf("%s: ParseScenario accepted %s", name, body)
		}
	}
	good := `{"sections":[{"term":"2267","class_nbr":"1","subject":"CSE","catalog_nbr":"240","component":"rec","association":"0001",
		"enroll_deadline":"2026-08-26"}],"enroll_deadlines":{"2267":"2026-08-27"}}`
	if _, err := asusim.ParseScenario([]byte(good)); err != nil {
		t.Errorf("ParseScenario(good) = %v", err)
	}
}

// TestSearchCounts counts class searches by what they asked for: a course,
// a subject walk, a term walk, a class number.
func TestSearchCounts(t *testing.T) {
	t.Parallel()
	sim, base := asusimtest.Start(t, asusim.Generate("2267", 40, 15, 0.3, 1)) // 2 courses per subject
	c, err := asu.New(asu.Config{BaseURL: base})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	cse100 := catalog.CourseKey{Term: "2267", Subject: "CSE", CatalogNbr: "100"}
	for range 3 {
		if _, err := c.Course(ctx, cse100); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Course(ctx, catalog.CourseKey{Term: "2267", Subject: "mat", CatalogNbr: "101"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Section(ctx, catalog.SectionKey{Term: "2267", ClassNbr: "10000"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Scan(ctx, catalog.ScanKey{Term: "2267", Subject: "CSE"}, 0); err != nil {
		t.Fatal(err)
	}
	term, err := c.Scan(ctx, catalog.ScanKey{Term: "2267"}, 0)
	if err != nil || term.Pages < 2 {
		t.Fatalf("term walk = %d pages, %v; want several", term.Pages, err)
	}
	// A refused search was asked for all the same.
	if err := sim.InjectFault(asusim.Fault{Kind: asusim.FaultStatus, Status: 503, Count: 1}); err != nil {
		t.Fatal(err)
	}
	code, _ := get(t, base+"/classes?term=2267&subject=CSE&catalogNbr=100")
	if code != http.StatusServiceUnavailable {
		t.Fatalf("faulted search: status %d", code)
	}
	get(t, base+"/classes?term=2267&keywords=topics")

	if got := sim.CourseSearches(cse100); got != 4 {
		t.Errorf("CourseSearches(CSE 100) = %d; want 4", got)
	}
	if got := sim.CourseSearches(catalog.CourseKey{Term: "2267", Subject: "MAT", CatalogNbr: "101"}); got != 1 {
		t.Errorf("CourseSearches(MAT 101) = %d; want 1 (subject case folded)", got)
	}
	if got := sim.CourseSearches(catalog.CourseKey{Term: "2267", Subject: "CSE", CatalogNbr: "101"}); got != 0 {
		t.Errorf("CourseSearches(CSE 101) = %d; want 0, never asked", got)
	}
	if got := sim.ScanSearches(catalog.ScanKey{Term: "2267", Subject: "cse"}); got != 1 {
		t.Errorf("ScanSearches(CSE) = %d; want 1", got)
	}
	if got := sim.ScanSearches(catalog.ScanKey{Term: "2267"}); got != 1 {
		t.Errorf("ScanSearches(2267) = %d; want 1 (its scroll pages are not searches)", got)
	}
	want := map[string]int64{"2267:CSE:100": 4, "2267:MAT:101": 1, "2267:10000": 1, "2267:CSE:*": 1, "2267:*": 1, "other": 1}
	if diff := cmp.Diff(want, simState(t, base).Searches); diff != "" {
		t.Errorf("state's searches (-want +got):\n%s", diff)
	}

	// The control API answers for one search, named as the API names it.
	root := strings.TrimSuffix(base, asusim.BasePath)
	for query, want := range map[string]string{
		"term=2267&subject=cse&catalogNbr=100": `{"key":"2267:CSE:100","searches":4}`,
		"term=2267&subject=CSE":                `{"key":"2267:CSE:*","searches":1}`,
		"term=2267":                            `{"key":"2267:*","searches":1}`,
		"term=2271&subject=CSE&catalogNbr=100": `{"key":"2271:CSE:100","searches":0}`,
	} {
		code, body := get(t, root+"/_sim/searches?"+query)
		if code != http.StatusOK || strings.TrimSpace(string(body)) != want {
			t.Errorf("GET /_sim/searches?%s = %d %s; want %s", query, code, body, want)
		}
	}
}

// TestGeneratedLinks checks the linked courses of both generators: some
// courses are lectures with 1 to 3 labs or recitations each, every one of
// them tied to a lecture of its course.
func TestGeneratedLinks(t *testing.T) {
	t.Parallel()
	for name, sc := range map[string]asusim.Scenario{
		"Generate":     asusim.Generate("2267", 200, 5, 0.3, 11),
		"GenerateTerm": asusim.GenerateTerm("2267", 3000, 60, 42),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if err := sc.Validate(); err != nil {
				t.Fatal(err)
			}
			courses := map[catalog.CourseKey][]asusim.SectionSpec{}
			for _, s := range sc.Sections {
				courses[s.Course()] = append(courses[s.Course()], s)
			}
			linked := 0
			for key, secs := range courses {
				labs := map[string]int{} // by lecture
				lectures := map[string]bool{}
				kinds := map[string]bool{}
				for _, s := range secs {
					switch s.Component {
					case "", "LEC":
						if s.Association != "" && s.Association != s.Section {
							t.Errorf("%s: lecture %s has association %q", key, s.Section, s.Association)
						}
						lectures[s.Section] = true
					case "LAB", "REC":
						labs[s.Association]++
						kinds[s.Component] = true
					default:
						t.Errorf("%s: component %q", key, s.Component)
					}
				}
				if len(labs) == 0 {
					continue
				}
				linked++
				if len(kinds) != 1 {
					t.Errorf("%s mixes %v", key, kinds)
				}
				for lecture, n := range labs {
					if !lectures[lecture] || n < 1 || n > 3 {
						t.Errorf("%s: lecture %s (%t) has %d linked sections; want an existing lecture with 1..3", key, lecture, lectures[lecture], n)
					}
				}
				for lecture := range lectures {
					if labs[lecture] == 0 {
						t.Errorf("%s: lecture %s has no labs in a linked course", key, lecture)
					}
				}
			}
			if linked < len(courses)/10 || linked > len(courses)/2 {
				t.Errorf("%d of %d courses linked; want about a quarter", linked, len(courses))
			}
		})
	}
	// The same seed links the same courses.
	a, b := asusim.Generate("2267", 50, 4, 0.5, 3), asusim.Generate("2267", 50, 4, 0.5, 3)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("same seed, different catalog:\n%s", diff)
	}
	if !slices.ContainsFunc(a.Sections, func(s asusim.SectionSpec) bool { return s.Component == "LAB" || s.Component == "REC" }) {
		t.Error("no labs or recitations in 50 courses")
	}
}
