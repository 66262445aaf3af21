package web_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/obs"
	"github.com/pickmyclass/pickmyclass/services/api/internal/web"
)

// serveProduction runs the env's server the way the api binary does
// (obs.Serve: header size and read timeouts) and returns its base URL.
func (e *env) serveProduction() string {
	e.t.Helper()
	srv, err := web.NewServer(e.deps)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- obs.Serve(ctx, srv, "127.0.0.1:0", 5*time.Second, func(a net.Addr) { addr <- a }) }()
	e.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("serve: %v", err)
		}
	})
	select {
	case a := <-addr:
		return "http://" + a.String()
	case err := <-done:
		e.t.Fatalf("serve: %v", err)
	}
	return ""
}

// bigReader is an oversized body of unknown length (sent chunked).
type bigReader struct{ r io.Reader }

func (b bigReader) Read(p []byte) (int, error) { return b.r.Read(p) }

func TestOversizedBodiesAre413(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.user("big@example.edu", true)
	c := e.login("big@example.edu")
	big := strings.Repeat("x", 70<<10)
	jsonBig := `{"email":"` + big + `"}`
	formBig := "email=" + big + "&password=" + big
	type ep struct {
		method, path string
		// readsBody: the handler reads the body, so an oversized body of
		// unknown length is refused too (a known length always is).
		readsBody bool
	}
	jsonEPs := []ep{
		{"POST", "/api/auth/register", true}, {"POST", "/api/auth/login", true}, {"POST", "/api/auth/forgot-password", true},
		{"POST", "/api/auth/reset-password", true}, {"POST", "/api/auth/verify-email", true}, {"POST", "/api/class-watches", true},
		{"PUT", "/api/user/notifications", true}, {"POST", "/api/user/password", true}, {"DELETE", "/api/user", true},
		{"POST", "/api/webhooks/resend", true}, {"POST", "/api/webhooks/email", true},
		{"POST", "/api/unsubscribe", false}, {"POST", "/api/auth/resend-verification", false}, {"DELETE", "/api/class-watches/1", false},
		{"POST", "/api/auth/logout", false},
	}
	formEPs := []ep{
		{"POST", "/register", true}, {"POST", "/login", true}, {"POST", "/forgot-password", true}, {"POST", "/reset-password", true},
		{"POST", "/verify-email", true}, {"POST", "/verify-email/resend", true}, {"POST", "/dashboard/add", true},
		{"POST", "/settings/notifications", true}, {"POST", "/settings/password", true}, {"POST", "/settings/delete", true},
		{"POST", "/unsubscribe", true}, {"POST", "/watches/1/delete", true}, {"POST", "/admin/users/1/disable", true},
		{"POST", "/admin/dead-letters/1-1/replay", true}, {"POST", "/logout", true},
	}
	do := func(m, path, ctype, body string, chunked bool) response {
		var rd io.Reader = strings.NewReader(body)
		if chunked {
			rd = bigReader{rd}
		}
		req, _ := http.NewRequest(m, e.url+path, rd)
		if chunked {
			req.ContentLength = -1
		}
		req.Header.Set("Content-Type", ctype)
		return c.send(req)
	}
	for _, chunked := range []bool{false, true} {
		for _, set := range []struct {
			eps         []ep
			ctype, body string
		}{{jsonEPs, "application/json", jsonBig}, {formEPs, "application/x-www-form-urlencoded", formBig}, {formEPs, "multipart/form-data; boundary=zz", "--zz\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\n" + big + "\r\n--zz--\r\n"}} {
			for _, ep := range set.eps {
				if chunked && !ep.readsBody && ep.path == "/api/auth/logout" {
					continue // would sign the client out; its known-length case is checked
				}
				r := do(ep.method, ep.path, set.ctype, set.body, chunked)
				what := fmt.Sprintf("%s %s (%s, chunked %v)", ep.method, ep.path, set.ctype, chunked)
				switch {
				case !chunked || ep.readsBody:
					if r.status != http.StatusRequestEntityTooLarge {
						t.Errorf("%s: %d, want 413; %.200s", what, r.status, r.body)
					}
				case r.status >= 500:
					t.Errorf("%s: %d", what, r.status)
				}
			}
		}
	}
	// Nothing was changed and the server still answers.
	mustStatus(t, c.get("/api/auth/me"), http.StatusOK)
	mustStatus(t, c.get("/api/monitoring/health"), http.StatusOK)
	if s := e.snapshot(); s.users != 1 || s.watches != 0 {
		t.Errorf("oversized requests changed data: %+v", s)
	}
}

func TestHeaderFloodAndLongURLRefused(t *testing.T) {
	t.Parallel()
	e := setup(t)
	base := e.serveProduction()
	hc := &http.Client{Timeout: 15 * time.Second}
	get := func(req *http.Request) (int, error) {
		resp, err := hc.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	// 200 headers of 1 KiB: over the 64 KiB limit.
	req, _ := http.NewRequest("GET", base+"/", nil)
	for i := range 200 {
		req.Header.Set(fmt.Sprintf("X-Flood-%d", i), strings.Repeat("f", 1024))
	}
	if st, err := get(req); err != nil || st != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("header flood: %d %v, want 431", st, err)
	}
	// One huge cookie.
	req, _ = http.NewRequest("GET", base+"/", nil)
	req.Header.Set("Cookie", "pmc_session="+strings.Repeat("c", 200<<10))
	if st, err := get(req); err != nil || st != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("huge cookie: %d %v, want 431", st, err)
	}
	// A 200 KiB URL.
	req, _ = http.NewRequest("GET", base+"/admin/users?q="+strings.Repeat("u", 200<<10), nil)
	if st, err := get(req); err != nil || st != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("long URL: %d %v, want 431", st, err)
	}
	// A client that sends headers too slowly is cut off, not waited for.
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	start := time.Now()
	_, err = conn.Read(make([]byte, 1))
	if ne := (net.Error)(nil); errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("an unfinished request header held the connection for %v", time.Since(start))
	}
	// Still serving.
	resp, err := hc.Get(base + "/api/monitoring/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("health after the flood: %d", resp.StatusCode)
	}
}

// TestRequestBurstMemoryBounded is not parallel: it measures this
// process's heap, which other tests would disturb.
func TestRequestBurstMemoryBounded(t *testing.T) {
	e := setup(t, func(d *web.Deps) { d.AuthRatePerMinute = 50 })
	e.user("burst@example.edu", false)
	base := e.serveProduction()
	signedIn := e.login("burst@example.edu")
	session := signedIn.cookie("pmc_session")

	const workers, total = 50, 2000
	tr := &http.Transport{MaxIdleConnsPerHost: workers, MaxConnsPerHost: workers}
	defer tr.CloseIdleConnections()
	newClient := func() *http.Client {
		jar, _ := cookiejar.New(nil)
		return &http.Client{Transport: tr, Jar: jar, Timeout: 20 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	type shot struct {
		method, path, body string
		session            bool
	}
	shots := []shot{
		{"GET", "/", "", false},
		{"GET", "/login", "", false},
		{"GET", "/api/auth/csrf", "", false},
		{"GET", "/dashboard", "", true},
		{"GET", "/api/class-watches", "", true},
		{"GET", "/dashboard", "", false},             // 303 to /login
		{"GET", "/api/class-watches", "", false},     // 401
		{"POST", "/api/class-watches", "{}", true},   // 403: no CSRF token
		{"POST", "/api/auth/login", "wrong", false},  // 401, then 429 once rate limited
		{"GET", "/admin", "", true},                  // 404 to non-admins
		{"GET", "/api/monitoring/health", "", false}, // 200
		{"GET", "/static/does-not-exist", "", false}, // 404
	}
	allowed := map[int]bool{200: true, 302: true, 303: true, 401: true, 403: true, 404: true, 429: true}

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	jobs := make(chan int)
	var mu sync.Mutex
	statuses := map[int]int{}
	var failures []string
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hc := newClient()
			for i := range jobs {
				s := shots[i%len(shots)]
				var body io.Reader
				if s.body == "wrong" {
					body = strings.NewReader(`{"email":"burst@example.edu","password":"not the password"}`)
				} else if s.body != "" {
					body = strings.NewReader(s.body)
				}
				req, _ := http.NewRequest(s.method, base+s.path, body)
				if body != nil {
					req.Header.Set("Content-Type", "application/json")
				}
				if s.body == "wrong" {
					// A matching double-submit pair: the login is checked.
					req.Header.Set("X-CSRF-Token", strings.Repeat("t", 43))
					req.AddCookie(&http.Cookie{Name: "pmc_csrf", Value: strings.Repeat("t", 43)})
				}
				if s.session {
					req.AddCookie(&http.Cookie{Name: "pmc_session", Value: session})
				}
				resp, err := hc.Do(req)
				mu.Lock()
				if err != nil {
					failures = append(failures, fmt.Sprintf("%s %s: %v", s.method, s.path, err))
				} else {
					statuses[resp.StatusCode]++
					if !allowed[resp.StatusCode] {
						failures = append(failures, fmt.Sprintf("%s %s: %d", s.method, s.path, resp.StatusCode))
					}
				}
				mu.Unlock()
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		}()
	}
	start := time.Now()
	for i := range total {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	took := time.Since(start)
	tr.CloseIdleConnections()

	runtime.GC()
	runtime.ReadMemStats(&after)
	growth := int64(after.HeapInuse) - int64(before.HeapInuse)
	t.Logf("%d requests from %d clients in %v; statuses %v; heap in use %d → %d KiB (%+d KiB)",
		total, workers, took.Round(time.Millisecond), statuses, before.HeapInuse>>10, after.HeapInuse>>10, growth>>10)
	if len(failures) > 0 {
		t.Errorf("%d of %d requests failed or got an undefined status; first: %v", len(failures), total, failures[:min(5, len(failures))])
	}
	n := 0
	for _, v := range statuses {
		n += v
	}
	if n != total {
		t.Errorf("%d answers for %d requests", n, total)
	}
	if statuses[http.StatusTooManyRequests] == 0 {
		t.Error("the auth rate limit never answered 429 during the burst")
	}
	if statuses[http.StatusOK] == 0 {
		t.Error("no request succeeded during the burst")
	}
	const limit = 64 << 20
	if growth > limit {
		t.Errorf("heap in use grew by %d MiB (limit %d MiB)", growth>>20, limit>>20)
	}
	// The signed-in user is still served.
	mustStatus(t, signedIn.get("/api/class-watches"), http.StatusOK)
}
