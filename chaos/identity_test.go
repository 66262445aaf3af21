package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/pickmyclass/pickmyclass/pkg/catalog/asu"
	"github.com/pickmyclass/pickmyclass/pkg/store"
	"github.com/pickmyclass/pickmyclass/pkg/testenv"
)

// uaRecorder sits between the services and the simulated university and
// counts the User-Agent of every request that passes.
type uaRecorder struct {
	mu     sync.Mutex
	agents map[string]int
	total  int
}

func (r *uaRecorder) record(ua string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.agents[ua]++
	r.total++
}

func (r *uaRecorder) snapshot() (agents []string, total int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for ua := range r.agents {
		agents = append(agents, ua)
	}
	slices.Sort(agents)
	return agents, r.total
}

// The api (looking up a class a student adds) and the worker (checking
// sections) both talk to the university: run both as processes against the
// simulator behind a recording proxy, and find the one identity built from
// ASU_CONTACT.
func TestOneUserAgentTowardUniversity(t *testing.T) {
	t.Parallel()
	const contact = "noc@university-ops.example"
	secs := courses(2, 1)
	d := newDeployment(t, infra{}, secs, "ana@example.edu")

	sim, err := url.Parse(d.env["ASU_API_BASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	rec := &uaRecorder{agents: map[string]int{}}
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: sim.Scheme, Host: sim.Host})
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.record(r.Header.Get("User-Agent"))
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	over := map[string]string{"ASU_API_BASE_URL": front.URL + sim.Path, "ASU_CONTACT": contact}

	// The worker checks every section.
	d.start("worker", "w1", over)
	d.publish("ua-1")
	d.waitObserved(time.Time{}, 30*time.Second)
	_, byWorker := rec.snapshot()
	if byWorker == 0 {
		t.Fatal("the worker checked every section without a request through the recording proxy")
	}

	// The api looks the class up when a student adds a watch.
	apiAddr := freeAddr(t)
	over["API_ADDR"] = apiAddr
	d.start("api", "api", over)
	hash, err := bcrypt.GenerateFromPassword([]byte("correct horse battery"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.db.CreateUser(context.Background(), store.NewUser{Email: "ben@example.edu", PasswordHash: string(hash), Verified: true}); err != nil {
		t.Fatal(err)
	}
	c := newBrowser(t, "http://"+apiAddr)
	c.post("/api/auth/login", map[string]string{"email": "ben@example.edu", "password": "correct horse battery"}, http.StatusOK)
	c.post("/api/class-watches", map[string]string{"term": secs[1].Term, "class_nbr": secs[1].ClassNbr}, http.StatusCreated)
	agents, total := rec.snapshot()
	if total == byWorker {
		t.Fatal("the api added a watch without a request through the recording proxy")
	}

	want := asu.UserAgent(contact)
	if len(agents) != 1 || agents[0] != want {
		t.Errorf("User-Agents seen by the university (%d requests, %d from the worker): %q; want only %q", total, byWorker, agents, want)
	}
}

// browser is a minimal JSON client of the api with a cookie jar and the
// double-submit CSRF token.
type browser struct {
	t    *testing.T
	base string
	hc   *http.Client
}

func newBrowser(t *testing.T, base string) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, base: base, hc: &http.Client{Jar: jar, Timeout: 20 * time.Second}}
}

// csrf returns the pmc_csrf cookie, fetching one first when the jar has none.
func (b *browser) csrf() string {
	u, _ := url.Parse(b.base)
	for _, ck := range b.hc.Jar.Cookies(u) {
		if ck.Name == "pmc_csrf" {
			return ck.Value
		}
	}
	resp, err := b.hc.Get(b.base + "/api/auth/csrf")
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Token string `json:"csrf_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Token == "" {
		b.t.Fatalf("GET /api/auth/csrf: %v %+v", err, out)
	}
	return out.Token
}

func (b *browser) post(path string, body any, want int) {
	b.t.Helper()
	data, err := json.Marshal(body)
	if err != nil {
		b.t.Fatal(err)
	}
	ctx := testenv.Context(b.t, 20*time.Second)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.base+path, bytes.NewReader(data))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", b.csrf())
	resp, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		b.t.Fatalf("POST %s: %d, want %d: %s", path, resp.StatusCode, want, out)
	}
}
