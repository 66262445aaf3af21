package obs

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestParseLogConfig(t *testing.T) {
	t.Parallel()
	env := map[string]string{"LOG_LEVEL": "verbose", "LOG_FORMAT": "xml"}
	_, err := ParseLogConfig(func(k string) string { return env[k] })
	if err == nil || !strings.Contains(err.Error(), "LOG_LEVEL") || !strings.Contains(err.Error(), "LOG_FORMAT") {
		t.Fatalf("err = %v, want both problems", err)
	}
	c, err := ParseLogConfig(func(string) string { return "" })
	if err != nil || c.Level != "info" || c.Format != "json" {
		t.Fatalf("defaults = %+v, %v", c, err)
	}
}

func TestReadyz(t *testing.T) {
	t.Parallel()
	failing := false
	h := OpsHandler(NewRegistry(), map[string]Check{
		"db": func(context.Context) error {
			if failing {
				return errors.New("connection refused")
			}
			return nil
		},
	})
	get := func(path string) (int, map[string]any) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		var body map[string]any
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		return rec.Code, body
	}
	if code, body := get("/readyz"); code != http.StatusOK || body["ready"] != true {
		t.Errorf("ready: %d %v", code, body)
	}
	failing = true
	if code, body := get("/readyz"); code != http.StatusServiceUnavailable || body["ready"] != false {
		t.Errorf("not ready: %d %v", code, body)
	}
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Errorf("healthz: %d", code)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if !strings.Contains(rec.Body.String(), "go_goroutines") {
		t.Error("metrics lack the Go collector")
	}
}

func TestServeStopsWithContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, http.NotFoundHandler(), "127.0.0.1:0", time.Second, func(a net.Addr) { addr <- a })
	}()
	a := <-addr
	resp, err := http.Get("http://" + a.String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not stop")
	}
}

func TestRegisterSharesCollectors(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	newCounter := func() *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pmc_test_total", Help: "h"}, []string{"k"})
	}
	first, err := Register(reg, newCounter())
	if err != nil {
		t.Fatal(err)
	}
	second, err := Register(reg, newCounter())
	if err != nil || second != first {
		t.Fatalf("second registration: %p, %v; want the first collector %p", second, err, first)
	}
	// A different collector under the same name is an error.
	clash := prometheus.NewGauge(prometheus.GaugeOpts{Name: "pmc_test_total", Help: "h"})
	if _, err := Register(reg, clash); err == nil {
		t.Error("a gauge registered over a counter of the same name")
	}
}
