package asu_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asu"
)

// pager serves a search of n sections in pages of asu.PageSize behind a
// scroll cursor, and lets a test break chosen requests.
type pager struct {
	n int
	// fault, when set, may answer request i (1-based, across restarts) for
	// the page at offset off; it returns false to serve the page normally.
	fault func(w http.ResponseWriter, i, off int) bool

	mu       sync.Mutex
	requests int
	rows     int // rows served
}

func (p *pager) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.requests++
	i := p.requests
	p.mu.Unlock()
	off := 0
	if id := r.URL.Query().Get("scrollId"); id != "" {
		var err error
		if off, err = strconv.Atoi(id); err != nil {
			http.Error(w, "bad scroll", http.StatusBadRequest)
			return
		}
	}
	if p.fault != nil && p.fault(w, i, off) {
		return
	}
	end := min(off+asu.PageSize, p.n)
	p.write(w, off, end, p.n)
}

func (p *pager) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.requests
}

func (p *pager) write(w http.ResponseWriter, off, end, total int) {
	type clas struct {
		STRM, CLASSNBR, SUBJECT, CATALOGNBR string
		ENRLCAP, ENRLTOT                    int
	}
	rows := make([]map[string]clas, 0, end-off)
	for k := off; k < end; k++ {
		rows = append(rows, map[string]clas{"CLAS": {STRM: "2267", CLASSNBR: strconv.Itoa(10000 + k),
			SUBJECT: "CSE", CATALOGNBR: strconv.Itoa(100 + k/3), ENRLCAP: 10, ENRLTOT: 10}})
	}
	body, _ := json.Marshal(map[string]any{"classes": rows, "scrollId": strconv.Itoa(end),
		"total": map[string]any{"value": total, "relation": "eq"}})
	p.mu.Lock()
	p.rows += end - off
	p.mu.Unlock()
	_, _ = w.Write(body)
}

// sectionBudget records the sections charged to it.
type sectionBudget struct {
	mu      sync.Mutex
	charged []int
}

func (b *sectionBudget) Reserve(_ context.Context, n int) (time.Duration, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.charged = append(b.charged, n)
	return 0, nil
}

func scanClient(t *testing.T, p *pager, sb asu.SectionBudget) *asu.Client {
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return newClient(t, asu.Config{BaseURL: srv.URL, SectionBudget: sb})
}

func TestScanReadsEveryPage(t *testing.T) {
	t.Parallel()
	p := &pager{n: 450}
	sb := &sectionBudget{}
	c := scanClient(t, p, sb)
	sc, err := c.Scan(t.Context(), catalog.ScanKey{Term: "2267", Subject: "CSE"}, 0)
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	if len(sc.Sections) != 450 || sc.Total != 450 || sc.Pages != 3 {
		t.Fatalf("Scan = %d sections, total %d, %d pages; want 450, 450, 3", len(sc.Sections), sc.Total, sc.Pages)
	}
	seen := map[string]bool{}
	for _, s := range sc.Sections {
		if seen[s.ClassNbr] {
			t.Fatalf("section %s returned twice", s.ClassNbr)
		}
		seen[s.ClassNbr] = true
	}
	if fmt.Sprint(sb.charged) != "[200 200 50]" {
		t.Fatalf("section budget charged %v; want [200 200 50]", sb.charged)
	}
}

func TestScanExactPageMultiple(t *testing.T) {
	t.Parallel()
	p := &pager{n: 2 * asu.PageSize}
	sc, err := scanClient(t, p, nil).Scan(t.Context(), catalog.ScanKey{Term: "2267"}, 0)
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	if len(sc.Sections) != 400 || sc.Pages != 2 {
		t.Fatalf("Scan = %d sections in %d pages; want 400 in 2 (no empty page asked for)", len(sc.Sections), sc.Pages)
	}
}

func TestScanFailures(t *testing.T) {
	t.Parallel()
	notFound := func(w http.ResponseWriter) {
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":"No search context found"}`))
	}
	for _, tc := range []struct {
		name  string
		fault func(w http.ResponseWriter, i, off int) bool
		// wantKind is the failure's kind, or -1 when the walk completes.
		wantKind  catalog.Kind
		wantPages int
	}{
		{
			name: "scroll expired once mid-walk: started over",
			fault: func(w http.ResponseWriter, i, off int) bool {
				if i == 2 {
					notFound(w)
					return true
				}
				return false
			},
			wantKind: -1, wantPages: 2 + 3,
		},
		{
			name: "scroll always expires: gives up after two restarts",
			fault: func(w http.ResponseWriter, i, off int) bool {
				if off > 0 {
					notFound(w)
					return true
				}
				return false
			},
			wantKind: catalog.KindMalformed, wantPages: 6,
		},
		{
			name: "503 on page 3: the walk fails, nothing partial",
			fault: func(w http.ResponseWriter, i, off int) bool {
				if off == 2*asu.PageSize {
					w.WriteHeader(http.StatusServiceUnavailable)
					return true
				}
				return false
			},
			wantKind: catalog.KindServer, wantPages: 3,
		},
		{
			name: "429 on page 2: reported at once for back-off",
			fault: func(w http.ResponseWriter, i, off int) bool {
				if off == asu.PageSize {
					w.Header().Set("Retry-After", "30")
					w.WriteHeader(http.StatusTooManyRequests)
					return true
				}
				return false
			},
			wantKind: catalog.KindRateLimited, wantPages: 2,
		},
		{
			name: "body cut mid-JSON on page 2",
			fault: func(w http.ResponseWriter, i, off int) bool {
				if off == asu.PageSize {
					_, _ = w.Write([]byte(`{"classes":[{"CLAS":{"STRM":"2267","CLASS`))
					return true
				}
				return false
			},
			wantKind: catalog.KindMalformed, wantPages: 2,
		},
		{
			name: "short page before the end, every time",
			fault: func(w http.ResponseWriter, i, off int) bool {
				if off == asu.PageSize {
					(&pager{}).write(w, off, off+7, 450)
					return true
				}
				return false
			},
			wantKind: catalog.KindMalformed, wantPages: 6,
		},
		{
			name: "empty page before the end, every time: never a complete walk",
			fault: func(w http.ResponseWriter, i, off int) bool {
				if off == asu.PageSize {
					(&pager{}).write(w, off, off, 450)
					return true
				}
				return false
			},
			wantKind: catalog.KindMalformed, wantPages: 6,
		},
		{
			name: "empty page before the end once: started over",
			fault: func(w http.ResponseWriter, i, off int) bool {
				if i == 2 {
					(&pager{}).write(w, off, off, 450)
					return true
				}
				return false
			},
			wantKind: -1, wantPages: 5,
		},
		{
			name: "total moves between pages once: started over",
			fault: func(w http.ResponseWriter, i, off int) bool {
				if i == 2 {
					(&pager{}).write(w, off, off+asu.PageSize, 451)
					return true
				}
				return false
			},
			wantKind: -1, wantPages: 5,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := &pager{n: 450, fault: tc.fault}
			sc, err := scanClient(t, p, nil).Scan(t.Context(), catalog.ScanKey{Term: "2267", Subject: "CSE"}, 0)
			if n := p.count(); n != tc.wantPages {
				t.Errorf("%d requests; want %d", n, tc.wantPages)
			}
			if tc.wantKind < 0 {
				if err != nil || len(sc.Sections) != 450 {
					t.Fatalf("Scan = %d sections, %v; want all 450", len(sc.Sections), err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Scan = %d sections, nil error; want a %s failure", len(sc.Sections), tc.wantKind)
			}
			if got := catalog.KindOf(err); got != tc.wantKind {
				t.Fatalf("Scan error kind %s (%v); want %s", got, err, tc.wantKind)
			}
			if sc.Sections != nil {
				t.Fatalf("a failed walk returned %d sections", len(sc.Sections))
			}
		})
	}
}

func TestScanPageCap(t *testing.T) {
	t.Parallel()
	p := &pager{n: 5 * asu.PageSize}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	c := newClient(t, asu.Config{BaseURL: srv.URL, MaxScanPages: 3})
	_, err := c.Scan(t.Context(), catalog.ScanKey{Term: "2267"}, 0)
	if !errors.Is(err, asu.ErrTooManyPages) {
		t.Fatalf("Scan of 5 pages with a cap of 3: %v; want ErrTooManyPages", err)
	}
	if n := p.count(); n != 3 {
		t.Fatalf("%d requests; want 3", n)
	}
}

// The section budget's pause comes between pages, not after the last one,
// and a cancelled caller is not kept waiting for it.
type slowBudget struct{}

func (slowBudget) Reserve(context.Context, int) (time.Duration, error) { return time.Hour, nil }

func TestScanPausesForSectionBudget(t *testing.T) {
	t.Parallel()
	one := &pager{n: 150}
	if _, err := scanClient(t, one, slowBudget{}).Scan(t.Context(), catalog.ScanKey{Term: "2267"}, 0); err != nil {
		t.Fatalf("single-page walk with an exhausted budget: %v; want no wait after the last page", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	two := &pager{n: 300, fault: func(w http.ResponseWriter, i, off int) bool {
		cancel() // the caller gives up while the walk waits for its budget
		return false
	}}
	_, err := scanClient(t, two, slowBudget{}).Scan(ctx, catalog.ScanKey{Term: "2267"}, 0)
	if catalog.KindOf(err) != catalog.KindTimeout || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled walk: %v; want a timeout wrapping context.Canceled", err)
	}
	if n := two.count(); n != 1 {
		t.Fatalf("%d requests; want 1 (no page after the budget said wait)", n)
	}
}

// orderedBudget records each reservation with the requests made before it.
type orderedBudget struct {
	p     *pager
	mu    sync.Mutex
	calls []string
}

func (b *orderedBudget) Reserve(_ context.Context, n int) (time.Duration, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls = append(b.calls, fmt.Sprintf("%d after %d requests", n, b.p.count()))
	return 0, nil
}

// An estimated walk is paid for before its first page; rows beyond the
// estimate are paid for as they are read.
func TestScanPaysEstimateUpFront(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		expect int
		want   string
	}{
		{450, "[450 after 0 requests]"},
		{600, "[600 after 0 requests]"},
		{300, "[300 after 0 requests 100 after 2 requests 50 after 3 requests]"},
		{0, "[200 after 1 requests 200 after 2 requests 50 after 3 requests]"},
	} {
		t.Run(fmt.Sprint(tc.expect), func(t *testing.T) {
			t.Parallel()
			p := &pager{n: 450}
			b := &orderedBudget{p: p}
			sc, err := scanClient(t, p, b).Scan(t.Context(), catalog.ScanKey{Term: "2267", Subject: "CSE"}, tc.expect)
			if err != nil || len(sc.Sections) != 450 {
				t.Fatalf("Scan = %d sections, %v; want 450", len(sc.Sections), err)
			}
			if got := fmt.Sprint(b.calls); got != tc.want {
				t.Fatalf("reservations %s; want %s", got, tc.want)
			}
		})
	}
}
