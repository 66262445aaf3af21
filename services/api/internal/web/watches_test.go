package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/breaker"
	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/check"
	"github.com/pickmyclass/pickmyclass/pkg/store"
	"github.com/pickmyclass/pickmyclass/pkg/testenv"
	"github.com/pickmyclass/pickmyclass/services/api/internal/web"
)

func TestWatchesAPI(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.user("w@example.edu", false)
	c := e.login("w@example.edu")

	r := c.post("/api/class-watches", `{"term":"22","class_nbr":"7041"}`)
	mustStatus(t, r, http.StatusBadRequest)
	if !strings.Contains(r.body, `"field":"term"`) || !strings.Contains(r.body, `"field":"class_nbr"`) {
		t.Errorf("field errors: %s", r.body)
	}
	r = c.post("/api/class-watches", `{"term":"2267","class_nbr":"99999"}`)
	mustStatus(t, r, http.StatusBadRequest)
	if !strings.Contains(r.body, "No class 99999") {
		t.Errorf("unknown class: %s", r.body)
	}
	mustStatus(t, c.post("/api/class-watches", `{"term":"1999","class_nbr":"70412"}`), http.StatusBadRequest)
	mustStatus(t, c.post("/api/class-watches", `{"term":2267}`), http.StatusBadRequest)
	mustStatus(t, c.post("/api/class-watches", `not json`), http.StatusBadRequest)
	mustStatus(t, c.post("/api/class-watches", `{"term":"`+strings.Repeat("x", 70000)+`"}`), http.StatusRequestEntityTooLarge)

	r = c.post("/api/class-watches", `{"term":"2267","class_nbr":"70412"}`)
	mustStatus(t, r, http.StatusCreated)
	w := r.json(t)["watch"].(map[string]any)
	if w["subject"] != "CSE" || w["catalog_nbr"] != "240" || w["status"] != "waiting" {
		t.Errorf("created %v", w)
	}
	mustStatus(t, c.post("/api/class-watches", `{"term":"2267","class_nbr":"70412"}`), http.StatusConflict)
	// The same class number in another term is another section.
	mustStatus(t, c.post("/api/class-watches", `{"term":"2271","class_nbr":"70412"}`), http.StatusCreated)
	mustStatus(t, c.post("/api/class-watches", `{"term":"2267","class_nbr":"70413"}`), http.StatusCreated)
	r = c.post("/api/class-watches", `{"term":"2267","class_nbr":"81777"}`)
	mustStatus(t, r, http.StatusUnprocessableEntity)
	if !strings.Contains(r.body, "the most allowed") {
		t.Errorf("cap message: %s", r.body)
	}

	list := c.get("/api/class-watches").json(t)
	if n := len(list["watches"].([]any)); n != 3 || list["max_watches"] != float64(3) {
		t.Errorf("list = %v", list)
	}
	id := fmt.Sprint(int64(w["id"].(float64)))
	mustStatus(t, c.do("DELETE", "/api/class-watches?id=abc", "", nil), http.StatusBadRequest)
	mustStatus(t, c.do("DELETE", "/api/class-watches?id="+id, "", nil), http.StatusNoContent)
	mustStatus(t, c.do("DELETE", "/api/class-watches/"+id, "", nil), http.StatusNotFound)

	terms := c.get("/api/terms").json(t)["terms"].([]any)
	if len(terms) != 2 {
		t.Errorf("terms = %v", terms)
	}
}

// TestAuthorizationMatrix sends every route as anonymous, owner, another
// user and admin. Another user's watch is a 404, never a 403.
func TestAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	e := setup(t)
	owner := e.user("owner@example.edu", false)
	e.user("other@example.edu", false)
	e.user("admin@example.edu", true)
	w := storeWatch(t, e, owner.ID, "2267", "70412", "CSE", "240")
	wid := fmt.Sprint(w.ID)

	const (
		anon = iota
		own
		other
		admin
	)
	type row struct {
		method, path, body string
		want               [4]int
	}
	// 303 = redirect to login (HTML); 401 for the API.
	rows := []row{
		{"GET", "/", "", [4]int{200, 303, 303, 303}},
		{"GET", "/legal/terms", "", [4]int{200, 200, 200, 200}},
		{"GET", "/robots.txt", "", [4]int{200, 200, 200, 200}},
		{"GET", "/sitemap.xml", "", [4]int{200, 200, 200, 200}},
		{"GET", "/static/app.css", "", [4]int{200, 200, 200, 200}},
		{"GET", "/api/monitoring/health", "", [4]int{200, 200, 200, 200}},
		{"GET", "/go/asu?term=2267&classNbr=70412", "", [4]int{302, 302, 302, 302}},
		{"GET", "/login", "", [4]int{200, 303, 303, 303}},
		{"GET", "/register", "", [4]int{200, 303, 303, 303}},
		{"GET", "/dashboard", "", [4]int{303, 200, 200, 200}},
		{"GET", "/dashboard/add", "", [4]int{303, 200, 200, 200}},
		{"GET", "/settings", "", [4]int{303, 200, 200, 200}},
		{"GET", "/watches/" + wid + "/delete", "", [4]int{303, 200, 404, 404}},
		{"GET", "/watches/" + wid + "/settings", "", [4]int{303, 200, 404, 404}},
		{"PATCH", "/api/class-watches/" + wid, `{"notify_reserved":true}`, [4]int{401, 200, 404, 404}},
		{"PATCH", "/api/class-watches/" + wid, `{"paused_until":null}`, [4]int{401, 200, 404, 404}},
		{"POST", "/watches/" + wid + "/pause", "", [4]int{303, 400, 404, 404}}, // no duration given
		{"POST", "/watches/" + wid + "/resume", "", [4]int{303, 303, 404, 404}},
		{"POST", "/settings/alerts-resume", "", [4]int{303, 303, 303, 303}},
		{"PUT", "/api/user/alerts-pause", `{"until":null}`, [4]int{401, 200, 200, 200}},
		{"GET", "/dashboard/add?term=2267&class_nbr=70412", "", [4]int{303, 200, 200, 200}},
		{"GET", "/sections/2267/70412", "", [4]int{303, 200, 404, 404}},
		{"GET", "/api/sections/2267/70412", "", [4]int{401, 200, 404, 404}},
		{"GET", "/api/class-watches", "", [4]int{401, 200, 200, 200}},
		{"GET", "/api/auth/me", "", [4]int{401, 200, 200, 200}},
		{"GET", "/api/terms", "", [4]int{401, 200, 200, 200}},
		{"GET", "/api/user/export", "", [4]int{401, 200, 200, 200}},
		{"PUT", "/api/user/notifications", `{"enabled":true}`, [4]int{401, 200, 200, 200}},
		{"DELETE", "/api/class-watches/" + wid, "", [4]int{401, 404, 404, 404}}, // owner's runs last, below
		{"GET", "/admin", "", [4]int{303, 404, 404, 200}},
		{"GET", "/admin/users", "", [4]int{303, 404, 404, 200}},
		{"GET", "/admin/users/" + fmt.Sprint(owner.ID), "", [4]int{303, 404, 404, 200}},
		{"GET", "/admin/classes", "", [4]int{303, 404, 404, 200}},
		{"GET", "/admin/classes/2267/70412", "", [4]int{303, 404, 404, 200}},
		{"GET", "/admin/dead-letters", "", [4]int{303, 404, 404, 200}},
		{"POST", "/admin/dead-letters/1-1/discard", "", [4]int{303, 404, 404, 404}},
	}
	clients := [4]*client{e.client(), e.login("owner@example.edu"), e.login("other@example.edu"), e.login("admin@example.edu")}
	for _, r := range rows {
		for who, c := range clients {
			if r.method == "DELETE" && who == own {
				continue
			}
			got := c.do(r.method, r.path, r.body, nil)
			if got.status != r.want[who] {
				t.Errorf("%s %s as %s: %d, want %d (%.200s)", r.method, r.path, []string{"anonymous", "owner", "other user", "admin"}[who], got.status, r.want[who], got.body)
			}
		}
	}
	// Nobody else could touch the owner's watch.
	list := clients[own].get("/api/class-watches").json(t)["watches"].([]any)
	if len(list) != 1 {
		t.Fatalf("owner's watches = %v", list)
	}
	for _, c := range clients[other:] {
		if got := c.get("/api/class-watches").json(t)["watches"].([]any); len(got) != 0 {
			t.Errorf("another user sees %v", got)
		}
	}
	mustStatus(t, clients[own].do("DELETE", "/api/class-watches/"+wid, "", nil), http.StatusNoContent)
	// Admin actions.
	mustStatus(t, clients[other].post("/admin/users/"+fmt.Sprint(owner.ID)+"/disable", ""), http.StatusNotFound)
	mustStatus(t, clients[admin].post("/admin/users/"+fmt.Sprint(owner.ID)+"/disable", ""), http.StatusSeeOther)
	mustStatus(t, clients[own].get("/api/class-watches"), http.StatusUnauthorized)
}

// TestAdminRoutesNeedAConfirmedEmail: an admin flag on an account whose
// address was never proven opens nothing.
func TestAdminRoutesNeedAConfirmedEmail(t *testing.T) {
	t.Parallel()
	e := setup(t)
	u := e.user("boss@example.edu", true)
	if _, err := e.db.Pool().Exec(context.Background(), `UPDATE users SET verified_at = NULL WHERE id = $1`, u.ID); err != nil {
		t.Fatal(err)
	}
	c := e.login("boss@example.edu")
	for _, r := range []struct{ method, path string }{
		{"GET", "/admin"}, {"GET", "/admin/users"}, {"GET", "/admin/dead-letters"},
		{"POST", "/admin/users/" + fmt.Sprint(u.ID) + "/disable"},
	} {
		mustStatus(t, c.do(r.method, r.path, "", nil), http.StatusNotFound)
	}
}

func storeWatch(t *testing.T, e *env, uid int64, term, nbr, subj, cat string) store.Watch {
	t.Helper()
	w, err := e.db.CreateWatch(context.Background(), uid, store.NewWatch{Term: term, ClassNbr: nbr, Subject: subj, CatalogNbr: cat}, 10)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// TestLiveUpdates opens the event stream, changes a watched section the
// way a worker does (state in PostgreSQL, then PUBLISH), and reads the
// re-rendered card from the stream.
func TestLiveUpdates(t *testing.T) {
	t.Parallel()
	e := setup(t)
	u := e.user("live@example.edu", false)
	w := storeWatch(t, e, u.ID, "2267", "70412", "CSE", "240")
	c := e.login("live@example.edu")

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.url+"/api/events", nil)
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	rd := bufio.NewReader(resp.Body)
	if line, _ := rd.ReadString('\n'); !strings.HasPrefix(line, "retry:") {
		t.Fatalf("first line %q", line)
	}
	now := time.Now()
	sec := catalog.Section{Term: "2267", ClassNbr: "70412", Subject: "CSE", CatalogNbr: "240", SectionCode: "01",
		Title: "Intro", Capacity: 100, Enrolled: 97, Status: catalog.StatusOpen}
	if _, err := e.db.ApplyCourse(ctx, store.CourseObservation{Course: sec.Course(), ObservedAt: now, Sections: []catalog.Section{sec}, Wanted: []string{"70412"}}); err != nil {
		t.Fatal(err)
	}
	// A change to a section the user does not watch is not sent.
	e.pub(catalog.SectionKey{Term: "2267", ClassNbr: "81777"})
	e.pub(catalog.SectionKey{Term: "2267", ClassNbr: "70412"})
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended: %v", err)
		}
		if !strings.HasPrefix(line, "data: ") {
			continue
		}
		var msg struct {
			ID     int64  `json:"id"`
			Status string `json:"status"`
			HTML   string `json:"html"`
		}
		if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &msg); err != nil {
			t.Fatal(err)
		}
		if msg.ID != w.ID || msg.Status != "open" || !strings.Contains(msg.HTML, "3 of 100 seats open") {
			t.Fatalf("event = %+v", msg)
		}
		return
	}
}

// termsCatalog is a catalog that offers fixed terms.
type termsCatalog struct{ terms []catalog.Term }

func (c termsCatalog) Terms(context.Context) ([]catalog.Term, error) { return c.terms, nil }
func (c termsCatalog) Section(context.Context, catalog.SectionKey) (catalog.Section, error) {
	return catalog.Section{}, &catalog.Error{Kind: catalog.KindNotFound}
}
func (c termsCatalog) Course(context.Context, catalog.CourseKey) ([]catalog.Section, error) {
	return nil, nil
}

// Two servers in one process keep their own term lists: a list cached by
// one is never served by the other.
func TestTermCacheIsPerServer(t *testing.T) {
	t.Parallel()
	list := func(code, name string) []any {
		cat := termsCatalog{terms: []catalog.Term{{Code: code, Name: name}}}
		e := setup(t, func(d *web.Deps) { d.Catalog = cat })
		e.user("u@example.edu", false)
		c := e.login("u@example.edu")
		c.get("/api/terms") // fills this server's cache
		return c.get("/api/terms").json(t)["terms"].([]any)
	}
	a, b := list("2267", "Fall 2026"), list("2301", "Spring 2030")
	if len(a) != 1 || len(b) != 1 || a[0].(map[string]any)["code"] != "2267" || b[0].(map[string]any)["code"] != "2301" {
		t.Errorf("terms of two servers: %v and %v", a, b)
	}
}

// TestAddWatchSparesTheClassSearch: the limit and a duplicate are refused
// before the class search is asked, answers are cached, each user has a
// lookup budget, and no lookup goes out while the shared breaker is open.
func TestAddWatchSparesTheClassSearch(t *testing.T) {
	t.Parallel()
	e := setup(t, func(d *web.Deps) { d.LookupsPerMinute = 3 })
	u := e.user("saver@example.edu", false)
	e.user("second@example.edu", false)
	c, second := e.login("saver@example.edu"), e.login("second@example.edu")
	mustStatus(t, c.get("/api/terms"), http.StatusOK)
	// asked checks a response and that the class search has had want
	// requests in all.
	asked := func(what string, want int64, r response, status int) {
		t.Helper()
		mustStatus(t, r, status)
		if got := e.sim.Requests(); got != want {
			t.Errorf("%s: the class search had %d requests, want %d", what, got, want)
		}
	}
	n0 := e.sim.Requests()
	asked("first add", n0+1, c.post("/api/class-watches", `{"term":"2267","class_nbr":"70412"}`), http.StatusCreated)
	asked("duplicate", n0+1, c.post("/api/class-watches", `{"term":"2267","class_nbr":"70412"}`), http.StatusConflict)
	asked("another user, cached", n0+1, second.post("/api/class-watches", `{"term":"2267","class_nbr":"70412"}`), http.StatusCreated)
	asked("unknown section", n0+2, c.post("/api/class-watches", `{"term":"2267","class_nbr":"99991"}`), http.StatusBadRequest)
	asked("unknown section, cached", n0+2, c.post("/api/class-watches", `{"term":"2267","class_nbr":"99991"}`), http.StatusBadRequest)
	asked("third lookup", n0+3, c.post("/api/class-watches", `{"term":"2267","class_nbr":"99992"}`), http.StatusBadRequest)
	r := c.post("/api/class-watches", `{"term":"2267","class_nbr":"99993"}`)
	asked("over the lookup budget", n0+3, r, http.StatusTooManyRequests)
	if r.header.Get("Retry-After") == "" {
		t.Error("no Retry-After over the lookup budget")
	}

	// At the limit (3), nothing is looked up.
	storeWatch(t, e, u.ID, "2267", "70413", "CSE", "240")
	storeWatch(t, e, u.ID, "2271", "70412", "ENG", "101")
	asked("over the watch limit", n0+3, c.post("/api/class-watches", `{"term":"2267","class_nbr":"81777"}`), http.StatusUnprocessableEntity)

	// The breaker the workers share opens: no lookup goes out.
	b, err := breaker.New(e.rdb, breaker.Config{Name: check.University, Key: e.keys.Breaker(check.University)})
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		done, err := b.Allow(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		done(breaker.Failure)
	}
	r = second.post("/api/class-watches", `{"term":"2267","class_nbr":"81777"}`)
	asked("breaker open", n0+3, r, http.StatusServiceUnavailable)
	if r.header.Get("Retry-After") == "" {
		t.Error("no Retry-After while the breaker is open")
	}
}

// openStream opens the live-update stream as c and reads its first line.
func openStream(t *testing.T, e *env, c *client) (*http.Response, *bufio.Reader) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", e.url+"/api/events", nil)
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("events: %d", resp.StatusCode)
	}
	rd := bufio.NewReader(resp.Body)
	if line, _ := rd.ReadString('\n'); !strings.HasPrefix(line, "retry:") {
		t.Fatalf("first line %q", line)
	}
	return resp, rd
}

// streamEnds waits for the server to end the stream (EOF, not the
// client's timeout).
func streamEnds(t *testing.T, what string, rd *bufio.Reader) {
	t.Helper()
	for {
		_, err := rd.ReadString('\n')
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatalf("%s: the stream did not end: %v", what, err)
		}
	}
}

// TestLiveUpdateStreamsEndWithTheSession: a stream ends soon after its
// session does (sign-out, a password change elsewhere, a disabled account)
// and after its lifetime in any case.
func TestLiveUpdateStreamsEndWithTheSession(t *testing.T) {
	t.Parallel()
	e := setup(t, func(d *web.Deps) { d.Streams.Recheck = 50 * time.Millisecond })
	e.user("stream@example.edu", false)

	c := e.login("stream@example.edu")
	_, rd := openStream(t, e, c)
	mustStatus(t, c.post("/api/auth/logout", ""), http.StatusNoContent)
	streamEnds(t, "after sign-out", rd)

	c, other := e.login("stream@example.edu"), e.login("stream@example.edu")
	_, rd = openStream(t, e, other)
	mustStatus(t, c.post("/api/user/password", `{"current_password":"`+testPassword+`","new_password":"another good one","confirm_password":"another good one"}`), http.StatusOK)
	streamEnds(t, "after a password change elsewhere", rd)

	e.user("boss@example.edu", true)
	c = e.client()
	mustStatus(t, c.post("/api/auth/login", `{"email":"stream@example.edu","password":"another good one"}`), http.StatusOK)
	_, rd = openStream(t, e, c)
	boss := e.login("boss@example.edu")
	mustStatus(t, boss.post("/admin/users/"+fmt.Sprint(mustUserID(t, e, "stream@example.edu"))+"/disable", ""), http.StatusSeeOther)
	streamEnds(t, "after the account is disabled", rd)
}

func TestLiveUpdateStreamsAreCappedAndBounded(t *testing.T) {
	t.Parallel()
	e := setup(t, func(d *web.Deps) {
		d.Streams = web.StreamLimits{PerUser: 2, Total: 3, Lifetime: 300 * time.Millisecond}
	})
	e.user("a@example.edu", false)
	e.user("b@example.edu", false)
	a, b := e.login("a@example.edu"), e.login("b@example.edu")
	// Held open past their lifetime only by the test: the server ends them.
	_, rd1 := openStream(t, e, a)
	_, rd2 := openStream(t, e, a)
	r := a.get("/api/events")
	mustStatus(t, r, http.StatusTooManyRequests)
	if r.header.Get("Retry-After") == "" {
		t.Error("no Retry-After on a refused stream")
	}
	_, rd3 := openStream(t, e, b)
	mustStatus(t, b.get("/api/events"), http.StatusTooManyRequests) // the process is full
	for i, rd := range []*bufio.Reader{rd1, rd2, rd3} {
		streamEnds(t, fmt.Sprintf("stream %d past its lifetime", i+1), rd)
	}
	// Ended streams free their slots.
	testenv.Eventually(t, 5*time.Second, func() error {
		if r := a.get("/api/events"); r.status != http.StatusOK {
			return fmt.Errorf("status %d", r.status)
		}
		return nil
	})
}
