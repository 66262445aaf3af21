package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"

	"github.com/pickmyclass/pickmyclass/pkg/breaker"
	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asu"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asusim"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asusim/asusimtest"
	"github.com/pickmyclass/pickmyclass/pkg/check"
	"github.com/pickmyclass/pickmyclass/pkg/notify"
	"github.com/pickmyclass/pickmyclass/pkg/notify/smtptest"
	"github.com/pickmyclass/pickmyclass/pkg/store"
	"github.com/pickmyclass/pickmyclass/pkg/store/storetest"
	"github.com/pickmyclass/pickmyclass/pkg/stream"
	"github.com/pickmyclass/pickmyclass/pkg/testenv"
	"github.com/pickmyclass/pickmyclass/services/api/internal/outbox"
	"github.com/pickmyclass/pickmyclass/services/api/internal/web"
)

const testPassword = "correct horse battery"

// scenario is the simulated catalog the tests use.
func scenario() asusim.Scenario {
	return asusim.Scenario{
		Terms: []catalog.Term{{Code: "2267", Name: "Fall 2026"}, {Code: "2271", Name: "Spring 2027"}},
		Sections: []asusim.SectionSpec{
			{Term: "2267", ClassNbr: "70412", Subject: "CSE", CatalogNbr: "240", Section: "01", Title: "Intro to Programming Languages",
				Capacity: 100, Enrolled: 100, Instructors: []catalog.Instructor{{Name: "Ada Lovelace"}}, Days: "MW", StartTime: "9:00 AM", EndTime: "10:15 AM", Location: "BYENG 210"},
			{Term: "2267", ClassNbr: "70413", Subject: "CSE", CatalogNbr: "240", Section: "02", Title: "Intro to Programming Languages", Capacity: 50, Enrolled: 10},
			{Term: "2267", ClassNbr: "81777", Subject: "MAT", CatalogNbr: "343", Section: "01", Title: "Applied Algebra", Capacity: 40, Enrolled: 40},
			{Term: "2271", ClassNbr: "70412", Subject: "ENG", CatalogNbr: "101", Section: "01", Title: "First-Year Composition", Capacity: 25, Enrolled: 25},
			// A lecture with two labs, full.
			{Term: "2267", ClassNbr: "71001", Subject: "BIO", CatalogNbr: "181", Section: "01", Title: "General Biology I", Component: "LEC",
				Capacity: 150, Enrolled: 150, Instructors: []catalog.Instructor{{Name: "Charles Darwin"}}, Days: "MWF", StartTime: "10:00 AM", EndTime: "10:50 AM", Campus: "TEMPE", Location: "LSA 191"},
			{Term: "2267", ClassNbr: "71002", Subject: "BIO", CatalogNbr: "181", Section: "02", Title: "General Biology I", Component: "LAB", Association: "01",
				Capacity: 24, Enrolled: 24, Days: "T", StartTime: "1:30 PM", EndTime: "4:20 PM", Campus: "TEMPE", Location: "LSE 104"},
			{Term: "2267", ClassNbr: "71003", Subject: "BIO", CatalogNbr: "181", Section: "03", Title: "General Biology I", Component: "LAB", Association: "01",
				Capacity: 24, Enrolled: 24, Days: "Th", StartTime: "1:30 PM", EndTime: "4:20 PM", Campus: "TEMPE", Location: "LSE 104"},
		},
	}
}

// fakeMonitor is a Monitor with fixed answers.
type fakeMonitor struct{}

func (fakeMonitor) Ping(context.Context) error { return nil }
func (fakeMonitor) Breaker(context.Context) (breaker.Snapshot, error) {
	return breaker.Snapshot{State: breaker.Closed}, nil
}
func (fakeMonitor) Queue(context.Context) (stream.Stats, error) { return stream.Stats{}, nil }
func (fakeMonitor) Heartbeat(context.Context) (check.Heartbeat, error) {
	return check.Heartbeat{Sweep: "c", CompletedAt: time.Now(), Enqueued: 1}, nil
}

// env is one running server with its real dependencies.
type env struct {
	t      *testing.T
	db     *store.DB
	sink   *smtptest.Sink
	sim    *asusim.Server
	rdb    *redis.Client
	keys   check.Keys
	url    string
	signer *notify.Signer
	hub    *web.Hub
	pub    func(keys ...catalog.SectionKey)
	deps   web.Deps
	// routes are every route the server answers.
	routes []*echo.Route
}

type option = func(*web.Deps)

func setup(t *testing.T, opts ...option) *env {
	t.Helper()
	db, _ := storetest.NewDB(t)
	rdb, prefix := testenv.Redis(t)
	sim, simURL := asusimtest.Start(t, scenario())
	src, err := asu.New(asu.Config{BaseURL: simURL, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	sink := smtptest.Start(t)
	mailer, err := notify.NewSMTP(notify.SMTPConfig{Host: sink.Host(), Port: sink.Port(), TLS: notify.TLSNone, From: "PickMyClass <alerts@pickmyclass.test>"})
	if err != nil {
		t.Fatal(err)
	}
	signer, err := notify.NewSigner([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	keys := check.Keys{Prefix: prefix}
	log := zerolog.Nop()
	hub := web.NewHub(rdb, keys.Updates(), log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- hub.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("hub: %v", err)
		}
	})
	select {
	case <-hub.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("hub did not subscribe")
	}
	sender := outbox.New(db, mailer, log, outbox.Config{Poll: 100 * time.Millisecond, RetryBase: 50 * time.Millisecond, RetryMax: 200 * time.Millisecond})
	sctx, scancel := context.WithCancel(context.Background())
	sdone := make(chan error, 1)
	go func() { sdone <- sender.Run(sctx) }()
	t.Cleanup(func() {
		scancel()
		if err := <-sdone; err != nil {
			t.Errorf("outbox: %v", err)
		}
	})
	brk, err := breaker.New(rdb, breaker.Config{Name: check.University, Key: keys.Breaker(check.University)})
	if err != nil {
		t.Fatal(err)
	}
	d := web.Deps{
		Log: log, DB: db, Redis: rdb, Keys: keys, Monitor: fakeMonitor{}, Tokens: signer, Catalog: src, Breaker: brk,
		Outbox: sender, Updates: hub, SchedulerInterval: time.Minute, PasswordCost: bcrypt.MinCost,
		AuthRatePerMinute: 1000, WatchLimit: 3,
		ResendWebhookSecret: "whsec_" + "c2VjcmV0LWtleS1mb3ItdGVzdHM=",
		EmailWebhookSecret:  strings.Repeat("g", 32),
	}
	for _, o := range opts {
		o(&d)
	}
	srv, err := web.NewServer(d)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	e := &env{t: t, rdb: rdb, db: db, sink: sink, sim: sim, keys: keys, url: hs.URL, signer: signer, hub: hub, deps: d, routes: srv.Routes()}
	e.pub = func(ks ...catalog.SectionKey) {
		b, err := check.EncodeUpdate(ks)
		if err != nil {
			t.Fatal(err)
		}
		if err := rdb.Publish(context.Background(), keys.Updates(), b).Err(); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// client is a browser-like HTTP client: a cookie jar, no redirects
// followed, and the CSRF token sent on every unsafe request.
type client struct {
	t    *testing.T
	base string
	hc   *http.Client
}

func (e *env) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: e.t, base: e.url, hc: &http.Client{
		Jar:           jar,
		Timeout:       20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (c *client) csrf() string {
	u, _ := url.Parse(c.base)
	for _, ck := range c.hc.Jar.Cookies(u) {
		if ck.Name == "pmc_csrf" {
			return ck.Value
		}
	}
	// No cookie yet: any GET sets it.
	resp := c.do("GET", "/api/auth/csrf", "", nil)
	var out struct {
		Token string `json:"csrf_token"`
	}
	_ = json.Unmarshal([]byte(resp.body), &out)
	return out.Token
}

type response struct {
	status int
	header http.Header
	body   string
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		t.Fatalf("body is not JSON (%d): %s", r.status, r.body)
	}
	return m
}

// do sends a request; body is JSON unless form is set.
func (c *client) do(method, path, body string, form url.Values) response {
	c.t.Helper()
	var rd io.Reader
	ct := ""
	switch {
	case form != nil:
		rd, ct = strings.NewReader(form.Encode()), "application/x-www-form-urlencoded"
	case body != "":
		rd, ct = strings.NewReader(body), "application/json"
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if method != "GET" && method != "HEAD" && path != "/api/auth/csrf" {
		req.Header.Set("X-CSRF-Token", c.csrf())
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func (c *client) get(path string) response { return c.do("GET", path, "", nil) }
func (c *client) post(path, body string) response {
	return c.do("POST", path, body, nil)
}

func mustStatus(t *testing.T, r response, want int) {
	t.Helper()
	if r.status != want {
		t.Fatalf("status %d, want %d; body: %.500s", r.status, want, r.body)
	}
}

// user creates a verified account with testPassword.
func (e *env) user(email string, admin bool) store.User {
	e.t.Helper()
	h, _ := bcrypt.GenerateFromPassword([]byte(testPassword), bcrypt.MinCost)
	u, err := e.db.CreateUser(context.Background(), store.NewUser{Email: email, PasswordHash: string(h), Verified: true, IsAdmin: admin})
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// login returns a client signed in as email.
func (e *env) login(email string) *client {
	e.t.Helper()
	c := e.client()
	mustStatus(e.t, c.post("/api/auth/login", `{"email":"`+email+`","password":"`+testPassword+`"}`), http.StatusOK)
	return c
}

var linkRe = regexp.MustCompile(`https?://[^\s"<>]+token=[A-Za-z0-9_-]+`)

// mailLink waits for the n-th email and returns its first token link.
func (e *env) mailLink(n int, to string) string {
	e.t.Helper()
	msgs := e.sink.WaitFor(e.t, n, 10*time.Second)
	m := msgs[n-1]
	if len(m.To) == 0 || m.To[0] != to {
		e.t.Fatalf("email %d went to %v, want %s", n, m.To, to)
	}
	text, err := m.Part("text/plain")
	if err != nil {
		e.t.Fatalf("email %q: %v", m.Subject, err)
	}
	link := linkRe.FindString(text)
	if link == "" {
		e.t.Fatalf("no link in email %q", m.Subject)
	}
	return link
}

func tokenOf(link string) string {
	u, _ := url.Parse(link)
	return u.Query().Get("token")
}
