package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
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

// syncBuffer is an io.Writer the test can read while run writes logs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// logged returns the first log entry with message msg.
func (b *syncBuffer) logged(msg string) (map[string]any, bool) {
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
	out := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, func(k string) string { return env[k] }, out) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})

	var base string
	testenv.Eventually(t, 5*time.Second, func() error {
		entry, ok := out.logged("listening")
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
		if _, ok := out.logged("churn"); !ok {
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
	if _, ok := out.logged("shutting down"); !ok {
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
		{name: "bad generate", env: map[string]string{"ASUSIM_GENERATE": "2267:10"}, wantErr: true},
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
