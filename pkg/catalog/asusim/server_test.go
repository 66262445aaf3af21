package asusim_test

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asu"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asusim"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asusim/asusimtest"
)

func scenario() asusim.Scenario {
	return asusim.Scenario{
		Terms: []catalog.Term{{Code: "2267", Name: "Fall 2026"}},
		Sections: []asusim.SectionSpec{
			{Term: "2267", ClassNbr: "70412", Subject: "CSE", CatalogNbr: "240", Section: "1002", Title: "Introduction to Programming Languages", Capacity: 150, Enrolled: 150},
			{Term: "2267", ClassNbr: "70413", Subject: "CSE", CatalogNbr: "240", Section: "1003", Title: "Introduction to Programming Languages", Capacity: 90, Enrolled: 88,
				Instructors: []catalog.Instructor{{Name: "Ada Lovelace", ID: "alovela1"}}},
			{Term: "2271", ClassNbr: "70412", Subject: "MAT", CatalogNbr: "343", Section: "0001", Title: "Applied Linear Algebra", Capacity: 40, Enrolled: 10},
		},
	}
}

// get fetches path from the simulator with the upstream's auth header.
func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer null")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func post(t *testing.T, url, body string) int {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestAuth(t *testing.T) {
	t.Parallel()
	sim, base := asusimtest.Start(t, scenario())
	for _, auth := range []string{"", "Bearer x", "bearer null", "Bearer nul"} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, base+"/terms", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("Authorization %q: status %d; want 401", auth, resp.StatusCode)
		}
	}
	if code, _ := get(t, base+"/terms"); code != http.StatusOK {
		t.Errorf("Bearer null: status %d", code)
	}
	if sim.Requests() != 5 {
		t.Errorf("Requests = %d; want 5 (refused ones count)", sim.Requests())
	}
}

func TestWireShape(t *testing.T) {
	t.Parallel()
	_, base := asusimtest.Start(t, scenario())
	code, body := get(t, base+"/classes?term=2267&classNbr=70412")
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	var resp struct {
		Classes []struct {
			CLAS struct {
				ENRLCAP, ENRLTOT, ENRLSTAT, SUBJECT string
			}
			SUBJECTNUMBER, SECTIONCLASSNUMBER string
			SeatInfo                          struct{ ENRL_CAP, ENRL_TOT int } `json:"seatInfo"`
		}
		ScrollID string `json:"scrollId"`
		Total    struct{ Value int }
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if len(resp.Classes) != 1 || resp.Total.Value != 1 || resp.ScrollID == "" {
		t.Fatalf("got %+v", resp)
	}
	c := resp.Classes[0]
	if c.CLAS.ENRLCAP != "150" || c.CLAS.ENRLSTAT != "C" || c.SeatInfo.ENRL_CAP != 150 || c.SUBJECTNUMBER != "CSE 240" || c.SECTIONCLASSNUMBER != "1002-(70412)" {
		t.Errorf("row = %+v", c)
	}
	// The adapter's parser reads every row of a real page.
	page, err := asu.Parse(body)
	if err != nil || len(page.Sections) != 1 {
		t.Fatalf("Parse = %+v, %v", page, err)
	}
}

func TestSearchFiltersAndPaging(t *testing.T) {
	t.Parallel()
	sc := asusim.Generate("2267", 40, 15, 0.3, 1) // 600 sections, 2 courses per subject
	_, base := asusimtest.Start(t, sc)
	tests := []struct {
		query string
		want  int
	}{
		{query: "term=2267", want: 600},
		{query: "term=2267&subject=cse", want: 30},
		{query: "term=2267&subject=CSE&catalogNbr=100", want: 15},
		{query: "term=2267&classNbr=10000", want: 1},
		{query: "term=2271", want: 0},
		{query: "term=2267&keywords=10007", want: 1},
		{query: "term=2267&keywords=MAT+101", want: 15},
		{query: "term=2267&keywords=topics", want: 600},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			t.Parallel()
			w := walk(t, base, tc.query)
			if w.total != tc.want || len(w.rows) != tc.want {
				t.Errorf("read %d sections of a total of %d; want %d", len(w.rows), w.total, tc.want)
			}
			seen := map[string]bool{}
			for _, s := range w.rows {
				if seen[s.ClassNbr] {
					t.Fatalf("class %s read twice", s.ClassNbr)
				}
				seen[s.ClassNbr] = true
			}
		})
	}
	if code, _ := get(t, base+"/classes?term=2267&scrollId=bogus"); code != http.StatusBadRequest {
		t.Errorf("bad scrollId: status %d; want 400", code)
	}
}

func TestControlEndpoints(t *testing.T) {
	t.Parallel()
	sim, base := asusimtest.Start(t, scenario())
	root := strings.TrimSuffix(base, asusim.BasePath)
	key := catalog.SectionKey{Term: "2267", ClassNbr: "70412"}

	steps := []struct {
		path, body string
		want       int
	}{
		{"/_sim/seats", `{"term":"2267","class_nbr":"70412","enrolled":149}`, 200},
		{"/_sim/seats", `{"term":"2267","class_nbr":"70412","capacity":160}`, 200},
		{"/_sim/seats", `{"term":"2267","class_nbr":"70412","enrolled":-1}`, 400},
		{"/_sim/seats", `{"term":"2267","class_nbr":"99999","enrolled":1}`, 404},
		{"/_sim/seats", `{"term":"2267","class_nbr":"70412","enroled":1}`, 400},
		{"/_sim/instructors", `{"term":"2267","class_nbr":"70412","instructors":[{"name":"Grace Hopper","id":"ghopper"}]}`, 200},
		{"/_sim/status", `{"term":"2267","class_nbr":"70412","status":"cancelled"}`, 200},
		{"/_sim/status", `{"term":"2267","class_nbr":"70412","status":"gone"}`, 400},
		{"/_sim/sections", `{"term":"2267","class_nbr":"80000","subject":"ENG","catalog_nbr":"101","section":"0001","title":"Composition","capacity":25,"enrolled":25}`, 200},
		{"/_sim/sections", `{"term":"2267","class_nbr":"80001"}`, 400},
		{"/_sim/remove", `{"term":"2271","class_nbr":"70412"}`, 200},
		{"/_sim/remove", `{"term":"2271","class_nbr":"70412"}`, 404},
		{"/_sim/faults", `{"kind":"status","status":503,"count":2}`, 200},
		{"/_sim/faults", `{"kind":"status","status":200}`, 400},
		{"/_sim/faults", `{"kind":"explode"}`, 400},
		{"/_sim/latency", `{"latency_ms":1}`, 200},
	}
	for _, st := range steps {
		if got := post(t, root+st.path, st.body); got != st.want {
			t.Errorf("POST %s %s: status %d; want %d", st.path, st.body, got, st.want)
		}
	}

	sec, ok := sim.Section(key)
	want := asusim.SectionSpec{Term: "2267", ClassNbr: "70412", Subject: "CSE", CatalogNbr: "240", Section: "1002",
		Title: "Introduction to Programming Languages", Capacity: 160, Enrolled: 149, Status: catalog.StatusCancelled,
		Instructors: []catalog.Instructor{{Name: "Grace Hopper", ID: "ghopper"}}}
	if diff := cmp.Diff(want, sec); !ok || diff != "" {
		t.Errorf("section after control calls (-want +got):\n%s", diff)
	}

	// Two 503s, then service again.
	for i, wantCode := range []int{503, 503, 200} {
		if code, _ := get(t, base+"/terms"); code != wantCode {
			t.Errorf("request %d after fault: status %d; want %d", i, code, wantCode)
		}
	}
	if got := post(t, root+"/_sim/faults", `{"kind":"status","status":429,"retry_after_seconds":7}`); got != 200 {
		t.Fatalf("inject: %d", got)
	}
	for range 3 {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, base+"/terms", nil)
		req.Header.Set("Authorization", "Bearer null")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "7" {
			t.Errorf("status %d, Retry-After %q; want 429, 7", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	if got := post(t, root+"/_sim/faults/clear", `{}`); got != 200 {
		t.Fatalf("clear: %d", got)
	}

	code, body := get(t, root+"/_sim/state")
	if code != 200 {
		t.Fatalf("state: %d", code)
	}
	var st asusim.State
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatal(err)
	}
	if st.Requests != 6 || st.RequestsByPath[asusim.BasePath+"/terms"] != 6 || st.SectionCount != 3 || len(st.Sections) != 3 || len(st.Faults) != 0 || st.LatencyMS != 1 {
		t.Errorf("state = %+v", st)
	}
	_, body = get(t, root+"/_sim/state?sections=0")
	if strings.Contains(string(body), `"sections"`) {
		t.Errorf("state?sections=0 lists sections")
	}
}

func TestChurnIsDeterministic(t *testing.T) {
	t.Parallel()
	run := func() []string {
		sim := asusim.New(asusim.Generate("2267", 30, 4, 0.5, 3))
		rng := rand.New(rand.NewSource(9))
		var log []string
		for range 5 {
			freed, filled := sim.Churn(rng)
			log = append(log, freed.String()+">"+filled.String())
			if sec, _ := sim.Section(freed); sec.Enrolled != sec.Capacity-1 {
				t.Errorf("freed %s has %d/%d", freed, sec.Enrolled, sec.Capacity)
			}
			if sec, _ := sim.Section(filled); !sec.Full() {
				t.Errorf("filled %s has %d/%d", filled, sec.Enrolled, sec.Capacity)
			}
		}
		return log
	}
	if a, b := run(), run(); !cmp.Equal(a, b) {
		t.Errorf("two runs differ:\n%v\n%v", a, b)
	}
	freed, filled := asusim.New(asusim.Scenario{}).Churn(rand.New(rand.NewSource(1)))
	if freed != (catalog.SectionKey{}) || filled != (catalog.SectionKey{}) {
		t.Errorf("churn of an empty catalog changed %v, %v", freed, filled)
	}
}

func TestGenerate(t *testing.T) {
	t.Parallel()
	a := asusim.Generate("2267", 200, 5, 0.4, 11)
	if diff := cmp.Diff(a, asusim.Generate("2267", 200, 5, 0.4, 11)); diff != "" {
		t.Errorf("same seed, different catalog:\n%s", diff)
	}
	if err := a.Validate(); err != nil {
		t.Fatalf("generated scenario is invalid: %v", err)
	}
	full := 0
	for _, s := range a.Sections {
		if s.Full() {
			full++
		}
	}
	if len(a.Sections) != 1000 || full < 300 || full > 500 {
		t.Errorf("%d sections, %d full; want 1000, about 400", len(a.Sections), full)
	}
}

func TestLoadScenario(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.json", `{"terms":[{"code":"2267","name":"Fall 2026"}],"sections":[
		{"term":"2267","class_nbr":"1","subject":"CSE","catalog_nbr":"240","capacity":1,"enrolled":1,"status":"closed"}]}`)
	if sc, err := asusim.LoadScenario(good); err != nil || len(sc.Sections) != 1 {
		t.Errorf("LoadScenario(good) = %+v, %v", sc, err)
	}
	for name, body := range map[string]string{
		"typo.json":     `{"sections":[{"term":"2267","class_nbr":"1","subject":"CSE","catalog_nbr":"240","capcity":1}]}`,
		"dup.json":      `{"sections":[{"term":"2267","class_nbr":"1","subject":"CSE","catalog_nbr":"240"},{"term":"2267","class_nbr":"1","subject":"CSE","catalog_nbr":"240"}]}`,
		"status.json":   `{"sections":[{"term":"2267","class_nbr":"1","subject":"CSE","catalog_nbr":"240","status":"full"}]}`,
		"negative.json": `{"sections":[{"term":"2267","class_nbr":"1","subject":"CSE","catalog_nbr":"240","enrolled":-1}]}`,
		"no-term.json":  `{"sections":[{"class_nbr":"1","subject":"CSE","catalog_nbr":"240"}]}`,
		"not-json.json": `sections:`,
	} {
		if _, err := asusim.LoadScenario(write(name, body)); err == nil {
			t.Errorf("LoadScenario(%s) accepted a bad scenario", name)
		}
	}
	if _, err := asusim.LoadScenario(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("LoadScenario of a missing file succeeded")
	}
}

// TestConcurrentUse runs searches and mutations together; run with -race.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	sim, base := asusimtest.Start(t, asusim.Generate("2267", 50, 4, 0.5, 5))
	c, err := asu.New(asu.Config{BaseURL: base})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewSource(int64(w)))
			for i := range 25 {
				switch i % 4 {
				case 0:
					sim.Churn(rng)
				case 1:
					key := catalog.SectionKey{Term: "2267", ClassNbr: fmt.Sprint(10000 + rng.Intn(200))}
					_ = sim.SetSeats(key, rng.Intn(20), -1)
				default:
					course := catalog.CourseKey{Term: "2267", Subject: "CSE", CatalogNbr: "100"}
					if got, err := c.Course(t.Context(), course); err != nil || len(got) != 4 {
						t.Errorf("Course = %d sections, %v", len(got), err)
					}
				}
			}
		})
	}
	wg.Wait()
}

func TestHealthz(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(asusim.New(asusim.Scenario{}))
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("healthz: %d", resp.StatusCode)
	}
}
