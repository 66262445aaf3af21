package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
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

func TestRun(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"ASUSIM_ADDR":  "127.0.0.1:0",
		"ASUSIM_CHURN": "5ms",
		"LOG_LEVEL":    "debug",
	}
	out := &testenv.SyncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, func(k string) string { return env[k] }, out) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})

	var base string
	testenv.Eventually(t, 5*time.Second, func() error {
		entry, ok := logged(out, "listening")
		if !ok {
			return testenv.ErrNotYet
		}
		base, _ = entry["base_url"].(string)
		return nil
	})

	c, err := asu.New(asu.Config{BaseURL: base})
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
	for _, term := range []string{"2267", "2271"} {
		if _, err := c.Section(ctx, catalog.SectionKey{Term: term, ClassNbr: "70412"}); err != nil {
			t.Errorf("70412 in %s: %v", term, err)
		}
	}
	testenv.Eventually(t, 5*time.Second, func() error {
		if _, ok := logged(out, "churn"); !ok {
			return testenv.ErrNotYet
		}
		return nil
	})

	cancel()
	select {
	case err := <-done:
		done <- err // for the cleanup
		if err != nil {
			t.Errorf("run = %v; want nil after cancellation", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after cancellation")
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
				"LOG_LEVEL": "DEBUG", "LOG_FORMAT": "console",
			},
			want: config{
				Addr: ":9000", ScenarioPath: "/tmp/s.json",
				Generate: &generateSpec{Term: "2267", Courses: 2000, Sections: 5, FullFraction: 0.5},
				Latency:  50 * time.Millisecond, Churn: 20 * time.Second, ChurnSeed: 42,
				LogLevel: zerolog.DebugLevel, LogFormat: "console",
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
	out := &testenv.SyncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, func(k string) string { return env[k] }, out) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	var base string
	testenv.Eventually(t, 5*time.Second, func() error {
		entry, ok := logged(out, "listening")
		if !ok {
			return testenv.ErrNotYet
		}
		base, _ = entry["base_url"].(string)
		return nil
	})
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
