package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asu"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asusim"
	"github.com/pickmyclass/pickmyclass/pkg/testenv"
)

// logged returns the first entry of the JSON log in b with message msg.
func logged(b *testenv.SyncBuffer, msg string) (map[string]any, bool) {
	sc := bufio.NewScanner(strings.NewReader(b.String()))
	for sc.Scan() {
		var entry map[string]any
		if json.Unmarshal(sc.Bytes(), &entry) == nil && entry["message"] == msg {
			return entry, true
		}
	}
	return nil, false
}

// running is run started in the background for a test.
type running struct {
	base string // the search API's base URL, from the "listening" log entry
	out  *testenv.SyncBuffer
	// stop cancels run and returns its result; the test's cleanup stops it
	// too.
	stop func() error
}

// start runs the simulator with env until the test ends, and waits for it
// to listen.
func start(t *testing.T, env map[string]string) running {
	t.Helper()
	r := running{out: &testenv.SyncBuffer{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, func(k string) string { return env[k] }, r.out) }()
	var once sync.Once
	var result error
	r.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case result = <-done:
			case <-time.After(10 * time.Second):
				result = errors.New("run did not return after cancellation")
			}
		})
		return result
	}
	t.Cleanup(func() { _ = r.stop() })
	testenv.Eventually(t, 5*time.Second, func() error {
		entry, ok := logged(r.out, "listening")
		if !ok {
			return testenv.ErrNotYet
		}
		r.base, _ = entry["base_url"].(string)
		return nil
	})
	return r
}

func TestRun(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"ASUSIM_ADDR":  "127.0.0.1:0",
		"ASUSIM_CHURN": "5ms",
		"LOG_LEVEL":    "debug",
		// Fall 2026's enrollment closes as configured; Spring 2027's
		// keeps the default, months ahead.
		"ASUSIM_ENROLL_DEADLINES": "2267=2026-08-26",
	}
	r := start(t, env)
	ctx, out := t.Context(), r.out
	c, err := asu.New(asu.Config{BaseURL: r.base})
	if err != nil {
		t.Fatal(err)
	}
	terms, err := c.Terms(ctx)
	if err != nil {
		t.Fatalf("Terms: %v", err)
	}
	if diff := cmp.Diff([]catalog.Term{{Code: "2271", Name: "Spring 2027"}, {Code: "2267", Name: "Fall 2026"}}, terms); diff != "" {
		t.Errorf("Terms (-want +got):\n%s", diff)
	}
	for term, deadline := range map[string]time.Time{
		"2267": time.Date(2026, 8, 27, 0, 0, 0, 0, asu.Phoenix),
		"2271": time.Now().Add(asusim.DefaultEnrollWindow - 24*time.Hour),
	} {
		s, err := c.Section(ctx, catalog.SectionKey{Term: term, ClassNbr: "70412"})
		if err != nil {
			t.Errorf("70412 in %s: %v", term, err)
		}
		if term == "2267" && !s.EnrollDeadline.Equal(deadline) || term == "2271" && s.EnrollDeadline.Before(deadline) {
			t.Errorf("70412 in %s: enrollment deadline %v; want %v or later", term, s.EnrollDeadline, deadline)
		}
	}
	testenv.Eventually(t, 5*time.Second, func() error {
		if _, ok := logged(out, "churn"); !ok {
			return testenv.ErrNotYet
		}
		return nil
	})

	if err := r.stop(); err != nil {
		t.Errorf("run = %v; want nil after cancellation", err)
	}
	if _, ok := logged(out, "shutting down"); !ok {
		t.Error("no shutdown log")
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	t.Parallel()
	env := map[string]string{"ASUSIM_LATENCY": "soon", "ASUSIM_GENERATE": "2267:x:5", "LOG_FORMAT": "xml"}
	err := run(context.Background(), func(k string) string { return env[k] }, &bytes.Buffer{})
	if err == nil {
		t.Fatal("run accepted a bad config")
	}
	for _, name := range []string{"ASUSIM_LATENCY", "ASUSIM_GENERATE", "LOG_FORMAT"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not mention %s", err, name)
		}
	}
}

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     map[string]string
		want    config
		wantErr bool
	}{
		{
			name: "defaults",
			want: config{Addr: "127.0.0.1:8090", ChurnSeed: 1, LogLevel: zerolog.InfoLevel, LogFormat: "json"},
		},
		{
			name: "everything",
			env: map[string]string{
				"ASUSIM_ADDR": ":9000", "ASUSIM_SCENARIO": "/tmp/s.json", "ASUSIM_GENERATE": "2267:2000:5:0.5",
				"ASUSIM_LATENCY": "50ms", "ASUSIM_CHURN": "20s", "ASUSIM_CHURN_SEED": "42",
				"ASUSIM_ENROLL_DEADLINES": "2267=2026-08-26, 2271=2027-01-18",
				"LOG_LEVEL":               "DEBUG", "LOG_FORMAT": "console",
			},
			want: config{
				Addr: ":9000", ScenarioPath: "/tmp/s.json",
				Generate: &generateSpec{Term: "2267", Courses: 2000, Sections: 5, FullFraction: 0.5},
				Latency:  50 * time.Millisecond, Churn: 20 * time.Second, ChurnSeed: 42,
				Deadlines: map[string]string{"2267": "2026-08-26", "2271": "2027-01-18"},
				LogLevel:  zerolog.DebugLevel, LogFormat: "console",
			},
		},
		{name: "generate default fraction", env: map[string]string{"ASUSIM_GENERATE": "2271:10:2"},
			want: config{Addr: "127.0.0.1:8090", ChurnSeed: 1, LogLevel: zerolog.InfoLevel, LogFormat: "json",
				Generate: &generateSpec{Term: "2271", Courses: 10, Sections: 2, FullFraction: 0.3}}},
		{name: "term and scrolls", env: map[string]string{"ASUSIM_TERM": "2267:20000:300", "ASUSIM_SCROLL_KEEPALIVE": "30s", "ASUSIM_MAX_SCROLLS": "50"},
			want: config{Addr: "127.0.0.1:8090", ChurnSeed: 1, LogLevel: zerolog.InfoLevel, LogFormat: "json",
				Term: &termSpec{Term: "2267", Sections: 20000, Subjects: 300}, KeepAlive: 30 * time.Second, MaxScrolls: 50}},
		{name: "bad generate", env: map[string]string{"ASUSIM_GENERATE": "2267:10"}, wantErr: true},
		{name: "bad term", env: map[string]string{"ASUSIM_TERM": "2267:100"}, wantErr: true},
		{name: "more subjects than sections", env: map[string]string{"ASUSIM_TERM": "2267:10:11"}, wantErr: true},
		{name: "generate and term", env: map[string]string{"ASUSIM_TERM": "2267:100:5", "ASUSIM_GENERATE": "2267:10:2"}, wantErr: true},
		{name: "bad keep-alive", env: map[string]string{"ASUSIM_SCROLL_KEEPALIVE": "1 minute"}, wantErr: true},
		{name: "bad max scrolls", env: map[string]string{"ASUSIM_MAX_SCROLLS": "0"}, wantErr: true},
		{name: "bad fraction", env: map[string]string{"ASUSIM_GENERATE": "2267:10:2:1.5"}, wantErr: true},
		{name: "negative churn", env: map[string]string{"ASUSIM_CHURN": "-1s"}, wantErr: true},
		{name: "bad seed", env: map[string]string{"ASUSIM_CHURN_SEED": "x"}, wantErr: true},
		{name: "bad level", env: map[string]string{"LOG_LEVEL": "loud"}, wantErr: true},
		{name: "bad deadline day", env: map[string]string{"ASUSIM_ENROLL_DEADLINES": "2267=08/26/2026"}, wantErr: true},
		{name: "bad deadline term", env: map[string]string{"ASUSIM_ENROLL_DEADLINES": "Fall=2026-08-26"}, wantErr: true},
		{name: "deadline without a day", env: map[string]string{"ASUSIM_ENROLL_DEADLINES": "2267"}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := loadConfig(func(k string) string { return tc.env[k] })
			if (err != nil) != tc.wantErr {
				t.Fatalf("loadConfig error = %v; want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("loadConfig (-want +got):\n%s", diff)
			}
		})
	}
}

func TestScenarioChoice(t *testing.T) {
	t.Parallel()
	demo, err := scenario(config{})
	if err != nil {
		t.Fatalf("embedded demo: %v", err)
	}
	if len(demo.Sections) < 12 {
		t.Errorf("demo has %d sections", len(demo.Sections))
	}
	// The demo offers a lecture with two labs to watch together, and
	// courses of several sections to watch whole.
	courses := map[catalog.CourseKey]int{}
	labs := map[string]int{} // by course and association
	for _, s := range demo.Sections {
		courses[s.Course()]++
		if s.Component == "LAB" {
			labs[s.Course().String()+"/"+s.Association]++
		}
	}
	if labs["2267:BIO:181/1011"] != 2 {
		t.Errorf("BIO 181 lecture 1011 has %d labs; want 2", labs["2267:BIO:181/1011"])
	}
	if courses[catalog.CourseKey{Term: "2267", Subject: "ENG", CatalogNbr: "101"}] < 3 {
		t.Errorf("ENG 101 has %d sections; want several", courses[catalog.CourseKey{Term: "2267", Subject: "ENG", CatalogNbr: "101"}])
	}
	gen, err := scenario(config{Generate: &generateSpec{Term: "2267", Courses: 20, Sections: 3}})
	if err != nil || len(gen.Sections) != 60 {
		t.Errorf("generated = %d sections, %v; want 60", len(gen.Sections), err)
	}
	if _, err := scenario(config{ScenarioPath: "/nonexistent.json"}); err == nil {
		t.Error("a missing scenario file was accepted")
	}
	term, err := scenario(config{Term: &termSpec{Term: "2267", Sections: 500, Subjects: 12}})
	if err != nil || len(term.Sections) != 500 {
		t.Errorf("generated term = %d sections, %v; want 500", len(term.Sections), err)
	}
	merged, err := scenario(config{Generate: &generateSpec{Term: "2267", Courses: 20, Sections: 3}, ScenarioPath: "scenarios/demo.json"})
	if err != nil {
		t.Fatal(err)
	}
	if want := 60 + len(demo.Sections); len(merged.Sections) != want {
		t.Errorf("merged = %d sections; want %d", len(merged.Sections), want)
	}
	if err := (asusim.Scenario{Sections: merged.Sections}).Validate(); err != nil {
		t.Errorf("merged scenario: %v", err)
	}
}

// TestRunServesWalks walks a generated term through the running service
// over HTTP, then fails a walk mid-way through the control API.
func TestRunServesWalks(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"ASUSIM_ADDR":             "127.0.0.1:0",
		"ASUSIM_TERM":             "2267:1000:12",
		"ASUSIM_SCROLL_KEEPALIVE": "45s",
		"ASUSIM_MAX_SCROLLS":      "100",
	}
	r := start(t, env)
	base := r.base
	root := strings.TrimSuffix(base, asusim.BasePath)

	get := func(u string) (int, asu.Page) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
		req.Header.Set("Authorization", "Bearer null")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return resp.StatusCode, asu.Page{}
		}
		p, err := asu.Parse(body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, p
	}
	seen := map[catalog.SectionKey]bool{}
	_, p := get(base + "/classes?term=2267")
	for {
		for _, s := range p.Sections {
			if seen[s.Key()] {
				t.Fatalf("%s read twice", s.Key())
			}
			seen[s.Key()] = true
		}
		if len(seen) >= p.Total {
			break
		}
		var code int
		if code, p = get(base + "/classes?scrollId=" + url.QueryEscape(p.ScrollID)); code != http.StatusOK {
			t.Fatalf("scroll page: %d", code)
		}
	}
	if len(seen) != 1000 {
		t.Errorf("term walk read %d sections; want 1000", len(seen))
	}

	_, p = get(base + "/classes?term=2267")
	resp, err := http.Post(root+"/_sim/scrolls/expire", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if code, _ := get(base + "/classes?scrollId=" + url.QueryEscape(p.ScrollID)); code != http.StatusNotFound {
		t.Errorf("scroll after expiry: %d; want 404", code)
	}
	resp, err = http.Get(root + "/_sim/state?sections=0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st asusim.State
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if st.ScrollKeepAliveMS != 45000 || st.MaxScrolls != 100 || st.FirstPages != 2 || st.ScrollPages != 4 || st.ScrollMisses != 1 || st.SectionsServed != 1200 {
		t.Errorf("state = %+v", st)
	}
}
