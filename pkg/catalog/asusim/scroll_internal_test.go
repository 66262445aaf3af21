package asusim

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/catalog/asu"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestScrollKeepAlive: a context lives its keep-alive after its last page,
// each page renews it, and once it lapses the walk answers 404.
func TestScrollKeepAlive(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Date(2026, 8, 20, 9, 0, 0, 0, time.UTC)}
	sim := New(GenerateTerm("2267", 1000, 4, 1))
	sim.scrolls.now = clock.now
	hs := httptest.NewServer(sim)
	t.Cleanup(hs.Close)
	fetch := func(query string) (int, asu.Page) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, hs.URL+BasePath+"/classes?"+query, nil)
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

	_, p := fetch("term=2267")
	id := "scrollId=" + url.QueryEscape(p.ScrollID)
	clock.advance(DefaultScrollKeepAlive - time.Second)
	if code, _ := fetch(id); code != http.StatusOK {
		t.Fatalf("page 2 within the keep-alive: %d", code)
	}
	clock.advance(DefaultScrollKeepAlive - time.Second) // renewed by page 2
	if code, _ := fetch(id); code != http.StatusOK {
		t.Fatalf("page 3 within the renewed keep-alive: %d", code)
	}
	if err := sim.SetScrollKeepAlive(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	clock.advance(DefaultScrollKeepAlive - time.Second) // page 3 renewed it for the old 60 s
	if code, _ := fetch(id); code != http.StatusOK {
		t.Fatalf("page 4: %d", code)
	}
	clock.advance(10 * time.Second) // page 4 renewed it for 10 s only
	if code, _ := fetch(id); code != http.StatusNotFound {
		t.Fatalf("page 5 after the keep-alive: %d; want 404", code)
	}
	if st := sim.State(false); st.ScrollMisses != 1 || st.LiveScrolls != 0 {
		t.Errorf("state = %+v", st)
	}
	if err := sim.SetScrollKeepAlive(0); err == nil {
		t.Error("SetScrollKeepAlive(0) accepted")
	}
}
