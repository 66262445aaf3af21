package web_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/pickmyclass/pickmyclass/pkg/notify"
	"github.com/pickmyclass/pickmyclass/pkg/testenv"
	"github.com/pickmyclass/pickmyclass/services/api/internal/web"
)

// hostile are the payloads sent in every field a user controls: SQL
// injection, markup and attribute breaking, template syntax, and unicode
// tricks (direction override, full-width look-alikes, zero-width and NUL
// characters, invalid UTF-8).
var hostile = []string{
	`'; DROP TABLE users;--`,
	`' OR '1'='1' --`,
	`1); DELETE FROM class_watches; --`,
	`<script>alert(1)</script>`,
	`"><img src=x onerror=alert(1)>`,
	`'><svg onload=alert(1)>`,
	`{{.}}{{template "layout.html" .}}`,
	`javascript:alert(1)`,
	"\u202e<b>gnp.exe</b>",
	"＜script＞alert(1)＜/script＞７０４１２",
	"a\u200bb\u0000c<i>",
	"\xff\xfe<u>bad utf-8</u>",
	strings.Repeat("<A>", 300),
}

// dangerous reports whether s would change the meaning of HTML if it were
// echoed unescaped.
func dangerous(s string) bool { return strings.ContainsAny(s, `<>"'`) }

// assertInert fails when a response is a 5xx or echoes a payload
// unescaped: in HTML any of <>"' must be escaped, in JSON at least <>.
func assertInert(t *testing.T, what string, r response, payloads ...string) {
	t.Helper()
	if r.status >= 500 {
		t.Errorf("%s: status %d; body: %.300s", what, r.status, r.body)
	}
	html := strings.HasPrefix(r.header.Get("Content-Type"), "text/html")
	for _, p := range payloads {
		if html && dangerous(p) && strings.Contains(r.body, p) {
			t.Errorf("%s: payload %q echoed unescaped in HTML", what, p)
		}
		if !html && strings.ContainsAny(p, "<>") && strings.Contains(r.body, p) {
			t.Errorf("%s: payload %q echoed unescaped (%s)", what, p, r.header.Get("Content-Type"))
		}
	}
}

// assert4xx is assertInert plus: the answer is a client error.
func assert4xx(t *testing.T, what string, r response, payloads ...string) {
	t.Helper()
	assertInert(t, what, r, payloads...)
	if r.status < 400 || r.status >= 500 {
		t.Errorf("%s: status %d, want a 4xx; body: %.300s", what, r.status, r.body)
	}
}

// assertField checks a JSON 400 names field in its details.
func assertField(t *testing.T, what string, r response, field string) {
	t.Helper()
	if r.status != http.StatusBadRequest || !strings.Contains(r.body, `"field":"`+field+`"`) {
		t.Errorf("%s: want 400 naming %s, got %d %.300s", what, field, r.status, r.body)
	}
}

func jsonBody(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// send sends a request with arbitrary headers through the client (cookie
// jar, CSRF token unless the caller set one).
func (c *client) send(req *http.Request) response {
	c.t.Helper()
	if req.Header.Get("X-CSRF-Token") == "" && req.Method != "GET" {
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

func (c *client) cookie(name string) string {
	u, _ := url.Parse(c.base)
	for _, ck := range c.hc.Jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

func (c *client) setCookie(name, value string) {
	u, _ := url.Parse(c.base)
	c.hc.Jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

// dbSnapshot is what must survive hostile input: every table and the
// number of accounts and watches.
type dbSnapshot struct {
	tables  string
	users   int
	watches int
}

func (e *env) snapshot() dbSnapshot {
	e.t.Helper()
	ctx := context.Background()
	var s dbSnapshot
	if err := e.db.Pool().QueryRow(ctx, `SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.tables WHERE table_schema = 'public'`).Scan(&s.tables); err != nil {
		e.t.Fatal(err)
	}
	if err := e.db.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM class_watches)`).Scan(&s.users, &s.watches); err != nil {
		e.t.Fatal(err)
	}
	return s
}

// genericWebhook sends a correctly signed generic mail webhook.
func (e *env) genericWebhook(body string) response {
	e.t.Helper()
	ts := fmt.Sprint(time.Now().Unix())
	mac := hmac.New(sha256.New, []byte(e.deps.EmailWebhookSecret))
	mac.Write([]byte(ts + "." + body))
	req, _ := http.NewRequest("POST", e.url+"/api/webhooks/email", strings.NewReader(body))
	req.Header.Set("X-PMC-Signature", "t="+ts+",v1="+hex.EncodeToString(mac.Sum(nil)))
	return e.client().send(req)
}

// resendWebhook sends a correctly Svix-signed Resend webhook.
func (e *env) resendWebhook(body string) response {
	e.t.Helper()
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(e.deps.ResendWebhookSecret, "whsec_"))
	id, ts := "msg_hostile", fmt.Sprint(time.Now().Unix())
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "." + body))
	req, _ := http.NewRequest("POST", e.url+"/api/webhooks/resend", strings.NewReader(body))
	req.Header.Set("svix-id", id)
	req.Header.Set("svix-timestamp", ts)
	req.Header.Set("svix-signature", "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	return e.client().send(req)
}

func TestHostileInputEveryField(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.user("admin@example.edu", true)
	victim := e.user("victim@example.edu", false)
	admin := e.login("admin@example.edu")
	user := e.login("victim@example.edu")
	created := user.post("/api/class-watches", `{"term":"2267","class_nbr":"70412"}`)
	mustStatus(t, created, http.StatusCreated)
	watchID := fmt.Sprint(created.json(t)["watch"].(map[string]any)["id"])
	before := e.snapshot()
	if !strings.Contains(before.tables, "users") || !strings.Contains(before.tables, "class_watches") {
		t.Fatalf("tables: %s", before.tables)
	}
	anon := e.client()
	esc := url.QueryEscape

	// Each surface is a subtest and each payload a subtest of it, so one
	// can be re-run alone (-run 'TestHostileInputEveryField/login/3').
	surfaces := []struct {
		name string
		try  func(t *testing.T, p, name string)
	}{
		// Accounts, JSON: every string field is validated (email) or
		// refused by type (booleans); nothing reaches SQL unparameterised.
		{"register", func(t *testing.T, p, name string) {
			r := anon.post("/api/auth/register", jsonBody(map[string]any{"email": p, "password": p, "confirm_password": p, "age_confirmed": true, "terms_accepted": true}))
			assertField(t, "register email "+name, r, "email")
			assertInert(t, "register "+name, r, p)
			r = anon.post("/api/auth/register", jsonBody(map[string]any{"email": "ok@example.edu", "password": "long enough pw", "confirm_password": "long enough pw", "age_confirmed": p, "terms_accepted": true}))
			assertField(t, "register age_confirmed "+name, r, "age_confirmed")
			assertInert(t, "register bool "+name, r, p)
		}},
		{"login", func(t *testing.T, p, name string) {
			r := anon.post("/api/auth/login", jsonBody(map[string]any{"email": p, "password": p}))
			assertField(t, "login email "+name, r, "email")
			assertInert(t, "login "+name, r, p)
			assert4xx(t, "login password "+name, anon.post("/api/auth/login", jsonBody(map[string]any{"email": "ghost@example.edu", "password": p})), p)
			// An unknown JSON field whose name is the payload.
			assert4xx(t, "unknown field "+name, anon.post("/api/auth/login", jsonBody(map[string]any{p: 1})), p)
		}},
		{"tokens", func(t *testing.T, p, name string) {
			assertField(t, "forgot "+name, anon.post("/api/auth/forgot-password", jsonBody(map[string]any{"email": p})), "email")
			r := anon.post("/api/auth/reset-password", jsonBody(map[string]any{"token": p, "password": "a new passphrase", "confirm_password": "a new passphrase"}))
			assertField(t, "reset token "+name, r, "token")
			assertInert(t, "reset "+name, r, p)
			assertField(t, "verify "+name, anon.post("/api/auth/verify-email", jsonBody(map[string]any{"token": p})), "token")
		}},
		// Accounts, forms: re-rendered with the value escaped.
		{"account forms", func(t *testing.T, p, name string) {
			for _, path := range []string{"/register", "/login", "/forgot-password"} {
				r := anon.do("POST", path, "", url.Values{"email": {p}, "password": {p}, "confirm_password": {p}, "age_confirmed": {"on"}, "terms_accepted": {"on"}})
				assert4xx(t, path+" form "+name, r, p)
			}
			assert4xx(t, "/reset-password form "+name, anon.do("POST", "/reset-password", "", url.Values{"token": {p}, "password": {"a new passphrase"}, "confirm_password": {"a new passphrase"}}), p)
			assert4xx(t, "/verify-email form "+name, anon.do("POST", "/verify-email", "", url.Values{"token": {p}}), p)
		}},
		// Pages that show a query parameter back.
		{"echoed query", func(t *testing.T, p, name string) {
			for _, path := range []string{"/reset-password?token=", "/verify-email?token=", "/unsubscribe?token=", "/login?m=", "/settings?m=", "/dashboard?removed=1&added=", "/admin/dead-letters?m="} {
				c := anon
				if strings.HasPrefix(path, "/settings") || strings.HasPrefix(path, "/dashboard") {
					c = user
				}
				if strings.HasPrefix(path, "/admin") {
					c = admin
				}
				assertInert(t, path+name, c.get(path+esc(p)), p)
			}
		}},
		// Error pages and paths.
		{"paths", func(t *testing.T, p, name string) {
			assert4xx(t, "404 "+name, anon.get("/"+url.PathEscape(p)), p)
			assert4xx(t, "section "+name, user.get("/sections/"+url.PathEscape(p)+"/"+url.PathEscape(p)), p)
			assert4xx(t, "api section "+name, user.get("/api/sections/2267/"+url.PathEscape(p)), p)
			assert4xx(t, "delete page "+name, user.get("/watches/"+url.PathEscape(p)+"/delete"), p)
			assert4xx(t, "admin user "+name, admin.get("/admin/users/"+url.PathEscape(p)), p)
			assert4xx(t, "admin class "+name, admin.get("/admin/classes/2267/"+url.PathEscape(p)), p)
			assert4xx(t, "admin replay "+name, admin.do("POST", "/admin/dead-letters/"+url.PathEscape(p)+"/replay", "", url.Values{}), p)
		}},
		// Watches: term and class number are validated before anything else.
		{"watches", func(t *testing.T, p, name string) {
			r := user.post("/api/class-watches", jsonBody(map[string]any{"term": p, "class_nbr": p}))
			assertField(t, "watch term "+name, r, "term")
			assertField(t, "watch class_nbr "+name, r, "class_nbr")
			assertInert(t, "watch "+name, r, p)
			r = user.post("/api/class-watches", jsonBody(map[string]any{"term": "2267", "class_nbr": p}))
			assertField(t, "watch class_nbr only "+name, r, "class_nbr")
			assert4xx(t, "add form "+name, user.do("POST", "/dashboard/add", "", url.Values{"term": {p}, "class_nbr": {p}}), p)
			assert4xx(t, "delete watch "+name, user.do("DELETE", "/api/class-watches?id="+esc(p), "", nil), p)
			assert4xx(t, "delete watch path "+name, user.do("DELETE", "/api/class-watches/"+url.PathEscape(p), "", nil), p)
			assert4xx(t, "delete form "+name, user.do("POST", "/watches/"+url.PathEscape(p)+"/delete", "", url.Values{}), p)
		}},
		// Course and linked watches, options and pauses: every new field.
		{"watch kinds", func(t *testing.T, p, name string) {
			r := user.post("/api/class-watches", jsonBody(map[string]any{"kind": p, "term": "2267", "class_nbr": "70412"}))
			assertField(t, "watch kind "+name, r, "kind")
			assertInert(t, "watch kind "+name, r, p)
			filter := map[string]any{"mode": p, "campus": p, "instructor": p, "days": []string{p}, "after": p, "before": p}
			r = user.post("/api/class-watches", jsonBody(map[string]any{"kind": "course", "term": p, "subject": p, "catalog_nbr": p, "filter": filter}))
			assertField(t, "course subject "+name, r, "subject")
			assertInert(t, "course "+name, r, p)
			assert4xx(t, "linked "+name, user.post("/api/class-watches", jsonBody(map[string]any{"kind": "linked", "term": "2267", "class_nbr": p})), p)
			assert4xx(t, "patch filter "+name, user.do("PATCH", "/api/class-watches/"+watchID, jsonBody(map[string]any{"filter": filter}), nil), p)
			assertField(t, "patch pause "+name, user.do("PATCH", "/api/class-watches/"+watchID, jsonBody(map[string]any{"paused_until": p}), nil), "paused_until")
			assertField(t, "alerts pause "+name, user.do("PUT", "/api/user/alerts-pause", jsonBody(map[string]any{"until": p}), nil), "until")
			assertInert(t, "lookup page "+name, user.get("/dashboard/add?term="+esc(p)+"&class_nbr="+esc(p)), p)
			assertInert(t, "course page "+name, user.get("/dashboard/add?kind=course&term="+esc(p)+"&subject="+esc(p)+"&catalog_nbr="+esc(p)), p)
			form := url.Values{"kind": {"course"}, "term": {p}, "subject": {p}, "catalog_nbr": {p}, "mode": {p}, "campus": {p}, "instructor": {p}, "days": {p}, "after": {p}, "before": {p}}
			assert4xx(t, "course form "+name, user.do("POST", "/dashboard/add", "", form), p)
			form.Set("kind", p)
			assert4xx(t, "kind form "+name, user.do("POST", "/dashboard/add", "", form), p)
			assert4xx(t, "pause form "+name, user.do("POST", "/watches/"+watchID+"/pause", "", url.Values{"for": {"date"}, "until": {p}}), p)
			r = user.do("POST", "/settings/alerts-pause", "", url.Values{"for": {p}, "until": {p}, "back": {p}})
			if r.status != http.StatusSeeOther || r.header.Get("Location") != "/dashboard?m=pause-invalid#pause" {
				t.Errorf("alerts pause form %s: %d %s", name, r.status, r.header.Get("Location"))
			}
			r = anon.get("/go/asu?term=2267&subject=" + esc(p) + "&catalogNbr=" + esc(p))
			assert4xx(t, "go/asu course "+name, r, p)
		}},
		{"settings", func(t *testing.T, p, name string) {
			assertField(t, "notifications "+name, user.do("PUT", "/api/user/notifications", jsonBody(map[string]any{"enabled": p}), nil), "enabled")
			r := user.do("POST", "/settings/notifications", "", url.Values{"enabled": {p}})
			if r.status != http.StatusSeeOther || r.header.Get("Location") != "/settings?m=off" {
				t.Errorf("notifications form %s: %d %s", name, r.status, r.header.Get("Location"))
			}
			assert4xx(t, "password api "+name, user.post("/api/user/password", jsonBody(map[string]any{"current_password": p, "new_password": p, "confirm_password": p})), p)
			assert4xx(t, "password form "+name, user.do("POST", "/settings/password", "", url.Values{"current_password": {p}, "new_password": {p}, "confirm_password": {p}}), p)
			assert4xx(t, "delete api "+name, user.do("DELETE", "/api/user", jsonBody(map[string]any{"confirm": p, "password": p}), nil), p)
			assert4xx(t, "delete form "+name, user.do("POST", "/settings/delete", "", url.Values{"confirm": {p}, "password": {p}}), p)
		}},
		// Unsubscribe, one-click and form.
		{"unsubscribe", func(t *testing.T, p, name string) {
			assertField(t, "unsubscribe api "+name, anon.post("/api/unsubscribe?token="+esc(p), ""), "token")
			assert4xx(t, "unsubscribe form "+name, anon.do("POST", "/unsubscribe", "", url.Values{"token": {p}}), p)
		}},
		// Query parameters.
		{"query parameters", func(t *testing.T, p, name string) {
			r := admin.get("/admin/users?q=" + esc(p))
			assertInert(t, "admin search "+name, r, p)
			if r.status != http.StatusOK && r.status != http.StatusBadRequest {
				t.Errorf("admin search %s: %d", name, r.status)
			}
			for _, accept := range []string{"application/json", "text/html"} {
				req, _ := http.NewRequest("GET", e.url+"/go/asu?term="+esc(p)+"&classNbr="+esc(p), nil)
				req.Header.Set("Accept", accept)
				r := anon.send(req)
				if accept == "application/json" {
					assertField(t, "go/asu "+name, r, "term")
				}
				assert4xx(t, "go/asu "+accept+" "+name, r, p)
				if r.header.Get("Location") != "" {
					t.Errorf("go/asu %s redirected to %s", name, r.header.Get("Location"))
				}
			}
		}},
		// Webhooks with valid signatures and hostile content.
		{"webhooks", func(t *testing.T, p, name string) {
			assertInert(t, "generic webhook email "+name, e.genericWebhook(jsonBody(map[string]any{"type": "complaint", "email": p})), p)
			assertField(t, "generic webhook type "+name, e.genericWebhook(jsonBody(map[string]any{"type": p, "email": "victim@example.edu"})), "type")
			assertInert(t, "resend webhook "+name, e.resendWebhook(jsonBody(map[string]any{"type": "email.complained", "data": map[string]any{"to": []string{p}}})), p)
			assertInert(t, "resend webhook type "+name, e.resendWebhook(jsonBody(map[string]any{"type": p})), p)
		}},
		// Headers and cookies.
		{"csrf header", func(t *testing.T, p, name string) {
			req, _ := http.NewRequest("POST", e.url+"/api/auth/login", strings.NewReader(`{}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-CSRF-Token", url.QueryEscape(p))
			assert4xx(t, "csrf header "+name, e.client().send(req), p)
		}},
	}
	for _, sf := range surfaces {
		t.Run(sf.name, func(t *testing.T) {
			for i, p := range hostile {
				t.Run(fmt.Sprint(i), func(t *testing.T) { sf.try(t, p, fmt.Sprintf("%.24q", p)) })
			}
		})
	}

	// The hostile current passwords above locked the account out from this
	// client, as wrong passwords should; start afresh.
	if _, err := e.db.Pool().Exec(context.Background(), `DELETE FROM login_attempts`); err != nil {
		t.Fatal(err)
	}
	// The User-Agent is stored with the session: bytes that are not UTF-8,
	// or a long one cut in the middle of a character, must not break login.
	for _, ua := range []string{"\xff\xfe<script>", strings.Repeat("a", 199) + "é", strings.Repeat("ü", 150)} {
		req, _ := http.NewRequest("POST", e.url+"/api/auth/login", strings.NewReader(`{"email":"victim@example.edu","password":"`+testPassword+`"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", ua)
		r := e.client().send(req)
		mustStatus(t, r, http.StatusOK)
		assertInert(t, "user agent", r, ua)
	}

	// A CSRF cookie of the attacker's choosing is echoed only escaped.
	for _, v := range []string{`<script>alert(1)</script>aaaaaaaaaaaaaaaaaaaaaaaaaaaaa`, `'><svg/onload=alert(1)>bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb`} {
		req, _ := http.NewRequest("GET", e.url+"/login", nil)
		req.Header.Set("Cookie", "pmc_csrf="+v+"; pmc_session="+v)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assertInert(t, "csrf cookie", response{status: resp.StatusCode, header: resp.Header, body: string(b)}, v)
	}

	// Stored: hostile but valid addresses and passwords register and come
	// back escaped on every page that shows them.
	stored := []string{`x'or'1'='1@example.edu`, `{{.}}'--@example.edu`, `a&b'c=1@example.edu`}
	pw := `'; DROP TABLE users;--<script>`
	for _, addr := range stored {
		mustStatus(t, anon.post("/api/auth/register", jsonBody(map[string]any{"email": addr, "password": pw, "confirm_password": pw, "age_confirmed": true, "terms_accepted": true})), http.StatusAccepted)
		c := e.client()
		mustStatus(t, c.post("/api/auth/login", jsonBody(map[string]any{"email": addr, "password": pw})), http.StatusOK)
		if got := c.get("/api/auth/me").json(t)["user"].(map[string]any)["email"]; got != addr {
			t.Errorf("stored email %q, want %q", got, addr)
		}
	}
	page := admin.get("/admin/users")
	mustStatus(t, page, http.StatusOK)
	for _, addr := range stored {
		assertInert(t, "admin users", page, addr)
		escaped := strings.NewReplacer("&", "&amp;", "'", "&#39;").Replace(addr)
		if !strings.Contains(page.body, escaped) {
			t.Errorf("admin users page does not list %q as %q", addr, escaped)
		}
		u, err := e.db.GetUserByEmail(context.Background(), addr)
		if err != nil {
			t.Fatal(err)
		}
		r := admin.get(fmt.Sprintf("/admin/users/%d", u.ID))
		mustStatus(t, r, http.StatusOK)
		assertInert(t, "admin user", r, addr)
		r = admin.get("/admin/users?q=" + esc(addr[:5]))
		mustStatus(t, r, http.StatusOK)
		assertInert(t, "admin search stored", r, addr)
		if !strings.Contains(r.body, escaped) {
			t.Errorf("search for %q does not find it", addr[:5])
		}
	}
	// The LIKE wildcards are literal: '%' finds no one.
	if r := admin.get("/admin/users?q=" + esc("%")); strings.Contains(r.body, "victim@example.edu") {
		t.Error("q=% matched every user: LIKE wildcards are not escaped")
	}

	// The dashboard after adding a watch, and the victim is untouched.
	r := user.get("/dashboard")
	mustStatus(t, r, http.StatusOK)
	if !strings.Contains(r.body, "70412") {
		t.Error("dashboard lost the watch")
	}
	after := e.snapshot()
	if after.tables != before.tables {
		t.Errorf("tables changed:\n before %s\n after  %s", before.tables, after.tables)
	}
	if after.users != before.users+len(stored) || after.watches != before.watches {
		t.Errorf("rows: before %+v, after %+v (want %d more users, same watches)", before, after, len(stored))
	}
	v, err := e.db.GetUser(context.Background(), victim.ID)
	if err != nil || v.DeletedAt != nil || v.PasswordHash != victim.PasswordHash || v.DisabledAt != nil {
		t.Errorf("victim changed: %+v %v", v, err)
	}
	mustStatus(t, e.login("victim@example.edu").get("/api/class-watches"), http.StatusOK)
}

// isLocal reports whether a Location stays on this site.
func isLocal(loc string) bool {
	if loc == "" || !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") || strings.HasPrefix(loc, `/\`) {
		return false
	}
	u, err := url.Parse(loc)
	return err == nil && u.Host == "" && u.Scheme == ""
}

func TestNoOpenRedirects(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.user("r@example.edu", false)
	evil := []string{"//evil.example", "https://evil.example/x", `/\evil.example`, "http:evil.example", "javascript:alert(1)", "/%2F%2Fevil.example", "%0d%0aLocation:%20https://evil.example"}
	params := []string{"next", "return", "return_to", "redirect", "url", "continue"}
	query := func(target string) string {
		q := url.Values{}
		for _, p := range params {
			q.Set(p, target)
		}
		return q.Encode()
	}
	check := func(what string, r response) {
		t.Helper()
		if r.status >= 300 && r.status < 400 && !isLocal(r.header.Get("Location")) {
			t.Errorf("%s: redirected off-site to %q", what, r.header.Get("Location"))
		}
		if r.status >= 500 {
			t.Errorf("%s: %d", what, r.status)
		}
	}
	for _, target := range evil {
		q := query(target)
		c := e.client()
		// Signing in, by form and JSON, with a return URL in the query and form.
		form := url.Values{"email": {"r@example.edu"}, "password": {testPassword}}
		for _, p := range params {
			form.Set(p, target)
		}
		r := c.do("POST", "/login?"+q, "", form)
		if r.status != http.StatusSeeOther || r.header.Get("Location") != "/dashboard" {
			t.Errorf("login with %s=%q: %d %q", "next", target, r.status, r.header.Get("Location"))
		}
		check("signed-in /login", c.get("/login?"+q))
		check("signed-in /register", c.get("/register?"+q))
		check("signed-in /", c.get("/?"+q))
		check("verify page", c.get("/verify-email?"+q))
		check("notifications", c.do("POST", "/settings/notifications?"+q, "", url.Values{"enabled": {"true"}, "next": {target}}))
		r = c.do("POST", "/logout?"+q, "", url.Values{"next": {target}})
		if r.status != http.StatusSeeOther || r.header.Get("Location") != "/login?m=out" {
			t.Errorf("logout with next=%q: %d %q", target, r.status, r.header.Get("Location"))
		}
		check("signed-out dashboard", c.get("/dashboard?"+q))
		check("verify form", c.do("POST", "/verify-email?"+q, "", url.Values{"token": {"x"}}))
		check("reset form", c.do("POST", "/reset-password?"+q, "", url.Values{"token": {"x"}}))

		// /go/asu only ever goes to the university's class search.
		for _, g := range []string{"term=" + url.QueryEscape(target) + "&classNbr=70412", "term=2267&classNbr=" + url.QueryEscape(target), "term=2267&classNbr=70412&" + q} {
			r := c.get("/go/asu?" + g)
			loc := r.header.Get("Location")
			if r.status == http.StatusFound {
				u, err := url.Parse(loc)
				if err != nil || u.Scheme != "https" || !strings.HasSuffix(u.Host, "asu.edu") || strings.Contains(loc, "evil") {
					t.Errorf("/go/asu?%s → %q", g, loc)
				}
			} else if r.status != http.StatusBadRequest || loc != "" {
				t.Errorf("/go/asu?%s: %d %q", g, r.status, loc)
			}
		}
	}
	if r := e.client().get("/go/asu?term=2267&classNbr=70412"); r.status != http.StatusFound {
		t.Errorf("/go/asu with a good class: %d", r.status)
	}
}

// clock is a Now the test can move.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) set(d time.Duration)     { c.offset.Store(int64(d)) }
func (c *clock) option() func(*web.Deps) { return func(d *web.Deps) { d.Now = c.now } }

// flip changes the character at i to another base64url character.
func flip(tok string, i int) string {
	b := []byte(tok)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

func TestTokensTamperedReusedExpired(t *testing.T) {
	t.Parallel()
	var clk clock
	e := setup(t, clk.option())
	ctx := context.Background()
	c := e.client()

	// Email verification: single use, 24 hours.
	const email = "tok@example.edu"
	mustStatus(t, c.post("/api/auth/register", jsonBody(map[string]any{"email": email, "password": testPassword, "confirm_password": testPassword, "age_confirmed": true, "terms_accepted": true})), http.StatusAccepted)
	vtok := tokenOf(e.mailLink(1, email))
	unverified := func(what string) {
		t.Helper()
		u, err := e.db.GetUserByEmail(ctx, email)
		if err != nil || u.VerifiedAt != nil {
			t.Errorf("%s: the account was verified (%v)", what, err)
		}
	}
	for _, bad := range []string{flip(vtok, 10), vtok[:len(vtok)-1], vtok + "A", strings.ToUpper(vtok)} {
		assertField(t, "tampered verification", c.post("/api/auth/verify-email", jsonBody(map[string]string{"token": bad})), "token")
		assert4xx(t, "tampered verification form", c.do("POST", "/verify-email", "", url.Values{"token": {bad}}), bad)
	}
	unverified("tampered")
	clk.set(verifyTTL + time.Minute)
	assertField(t, "expired verification", c.post("/api/auth/verify-email", jsonBody(map[string]string{"token": vtok})), "token")
	assert4xx(t, "expired verification form", c.do("POST", "/verify-email", "", url.Values{"token": {vtok}}))
	unverified("expired")
	clk.set(0)
	mustStatus(t, c.post("/api/auth/verify-email", jsonBody(map[string]string{"token": vtok})), http.StatusOK)
	assertField(t, "reused verification", c.post("/api/auth/verify-email", jsonBody(map[string]string{"token": vtok})), "token")

	// Password reset: single use, one hour, no change on refusal.
	hashNow := func() string {
		t.Helper()
		u, err := e.db.GetUserByEmail(ctx, email)
		if err != nil {
			t.Fatal(err)
		}
		return u.PasswordHash
	}
	orig := hashNow()
	mustStatus(t, c.post("/api/auth/forgot-password", jsonBody(map[string]string{"email": email})), http.StatusAccepted)
	rtok := tokenOf(e.mailLink(2, email))
	reset := func(tok, pw string) response {
		return c.post("/api/auth/reset-password", jsonBody(map[string]string{"token": tok, "password": pw, "confirm_password": pw}))
	}
	assertField(t, "tampered reset", reset(flip(rtok, 10), "tampered new pw"), "token")
	assert4xx(t, "tampered reset form", c.do("POST", "/reset-password", "", url.Values{"token": {flip(rtok, 20)}, "password": {"tampered new pw"}, "confirm_password": {"tampered new pw"}}))
	assertField(t, "verification token used to reset", reset(vtok, "tampered new pw"), "token")
	clk.set(resetTTL + time.Minute)
	assertField(t, "expired reset", reset(rtok, "expired new pw"), "token")
	clk.set(0)
	if hashNow() != orig {
		t.Fatal("a refused reset changed the password")
	}
	mustStatus(t, reset(rtok, "the real new pw"), http.StatusOK)
	changed := hashNow()
	if changed == orig {
		t.Fatal("reset did not change the password")
	}
	assertField(t, "reused reset", reset(rtok, "reused new pw"), "token")
	if hashNow() != changed {
		t.Error("a reused reset token changed the password")
	}
	mustStatus(t, c.post("/api/auth/login", jsonBody(map[string]string{"email": email, "password": "the real new pw"})), http.StatusOK)

	// Unsubscribe: signed, stateless (reuse is idempotent), expiring.
	u, err := e.db.GetUserByEmail(ctx, email)
	if err != nil {
		t.Fatal(err)
	}
	good := e.signer.Sign(u.ID, notify.PurposeUnsubscribe, time.Now().Add(time.Hour))
	other := e.signer.Sign(u.ID+1, notify.PurposeUnsubscribe, time.Now().Add(time.Hour))
	forged := []string{
		flip(good, 5), flip(good, len(good)-5), good[:len(good)-2], good + "AA",
		e.signer.Sign(u.ID, notify.PurposeUnsubscribe, time.Now().Add(-time.Minute)), // expired
		e.signer.Sign(u.ID, "other-purpose", time.Now().Add(time.Hour)),              // wrong purpose
		other[:12] + good[12:], // another user's ID with this user's MAC
	}
	anon := e.client()
	for i, bad := range forged {
		assertField(t, fmt.Sprint("one-click ", i), anon.post("/api/unsubscribe?token="+url.QueryEscape(bad), ""), "token")
		assert4xx(t, fmt.Sprint("unsubscribe form ", i), anon.do("POST", "/unsubscribe", "", url.Values{"token": {bad}}))
		assert4xx(t, fmt.Sprint("unsubscribe page ", i), anon.get("/unsubscribe?token="+url.QueryEscape(bad)))
	}
	clk.set(2 * time.Hour)
	assertField(t, "one-click after expiry", anon.post("/api/unsubscribe?token="+good, ""), "token")
	clk.set(0)
	if u0, _ := e.db.GetUser(ctx, u.ID); u0.UnsubscribedAt != nil {
		t.Fatal("a refused token unsubscribed the user")
	}
	mustStatus(t, anon.post("/api/unsubscribe?token="+good, ""), http.StatusOK)
	u1, _ := e.db.GetUser(ctx, u.ID)
	mustStatus(t, anon.post("/api/unsubscribe?token="+good, ""), http.StatusOK)
	u2, _ := e.db.GetUser(ctx, u.ID)
	if u1.UnsubscribedAt == nil || u2.UnsubscribedAt == nil || !u1.UnsubscribedAt.Equal(*u2.UnsubscribedAt) {
		t.Errorf("unsubscribe not idempotent: %v then %v", u1.UnsubscribedAt, u2.UnsubscribedAt)
	}
}

// Token lifetimes, as the README states them.
const (
	verifyTTL = 24 * time.Hour
	resetTTL  = time.Hour
)

func TestSessionFixationAndLogout(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.user("victim@example.edu", false)
	e.user("attacker@example.edu", false)

	// A session ID planted before sign-in is replaced, not adopted.
	planted := strings.Repeat("p", 43)
	victim := e.client()
	victim.setCookie("pmc_session", planted)
	mustStatus(t, victim.get("/api/auth/me"), http.StatusUnauthorized)
	mustStatus(t, victim.post("/api/auth/login", `{"email":"victim@example.edu","password":"`+testPassword+`"}`), http.StatusOK)
	after := victim.cookie("pmc_session")
	if after == "" || after == planted {
		t.Fatalf("session cookie after login = %q (planted %q)", after, planted)
	}
	spy := e.client()
	spy.setCookie("pmc_session", planted)
	mustStatus(t, spy.get("/api/auth/me"), http.StatusUnauthorized)

	// The attacker's own live session, planted in the victim's browser,
	// ends when the victim signs in: the attacker cannot ride it.
	attacker := e.login("attacker@example.edu")
	stolen := attacker.cookie("pmc_session")
	browser := e.client()
	browser.setCookie("pmc_session", stolen)
	if me := browser.get("/api/auth/me").json(t)["user"].(map[string]any); me["email"] != "attacker@example.edu" {
		t.Fatalf("planted session is %v", me)
	}
	mustStatus(t, browser.do("POST", "/login", "", url.Values{"email": {"victim@example.edu"}, "password": {testPassword}}), http.StatusSeeOther)
	if got := browser.cookie("pmc_session"); got == stolen || got == "" {
		t.Fatalf("session not rotated at form login: %q", got)
	}
	if me := browser.get("/api/auth/me").json(t)["user"].(map[string]any); me["email"] != "victim@example.edu" {
		t.Errorf("after login the browser is %v", me)
	}
	mustStatus(t, attacker.get("/api/auth/me"), http.StatusUnauthorized)

	// Logging out ends the session on the server: the old cookie, replayed,
	// is worthless — by JSON and by form.
	for _, form := range []bool{false, true} {
		c := e.login("victim@example.edu")
		old := c.cookie("pmc_session")
		if form {
			r := c.do("POST", "/logout", "", url.Values{})
			mustStatus(t, r, http.StatusSeeOther)
		} else {
			mustStatus(t, c.post("/api/auth/logout", ""), http.StatusNoContent)
		}
		if c.cookie("pmc_session") != "" {
			t.Errorf("logout (form %v) left the cookie in the browser", form)
		}
		replay := e.client()
		replay.setCookie("pmc_session", old)
		mustStatus(t, replay.get("/api/auth/me"), http.StatusUnauthorized)
		mustStatus(t, replay.get("/api/class-watches"), http.StatusUnauthorized)
		if r := replay.get("/dashboard"); r.status != http.StatusSeeOther || r.header.Get("Location") != "/login" {
			t.Errorf("replayed cookie on /dashboard: %d %s", r.status, r.header.Get("Location"))
		}
		mustStatus(t, replay.post("/api/class-watches", `{"term":"2267","class_nbr":"70412"}`), http.StatusUnauthorized)
	}
	// Signing out one browser does not end the user's other sessions.
	mustStatus(t, victim.get("/api/auth/me"), http.StatusOK)
}

func TestSecretsNeverInLogs(t *testing.T) {
	t.Parallel()
	var logs testenv.SyncBuffer
	e := setup(t, func(d *web.Deps) { d.Log = zerolog.New(&logs).Level(zerolog.DebugLevel) })
	secrets := map[string]string{"UNSUBSCRIBE_SECRET": strings.Repeat("k", 32), "EMAIL_WEBHOOK_SECRET": e.deps.EmailWebhookSecret, "RESEND_WEBHOOK_SECRET": e.deps.ResendWebhookSecret}
	var mu sync.Mutex
	keep := func(what, v string) {
		if v == "" {
			t.Fatalf("no %s to look for", what)
		}
		mu.Lock()
		defer mu.Unlock()
		secrets[what+" "+fmt.Sprint(len(secrets))] = v
	}
	c := e.client()
	keep("csrf", c.csrf())
	const email, pw1, pw2, wrong = "journey@example.edu", "first Secret passphrase", "second Secret passphrase", "Wrong Guess passphrase"
	keep("password", pw1)
	keep("password", pw2)
	keep("wrong password", wrong)

	mustStatus(t, c.post("/api/auth/register", jsonBody(map[string]any{"email": email, "password": pw1, "confirm_password": pw1, "age_confirmed": true, "terms_accepted": true})), http.StatusAccepted)
	vtok := tokenOf(e.mailLink(1, email))
	keep("verification token", vtok)
	mustStatus(t, c.get("/verify-email?token="+vtok), http.StatusOK)
	mustStatus(t, c.do("POST", "/verify-email", "", url.Values{"token": {vtok}}), http.StatusSeeOther)
	mustStatus(t, c.do("POST", "/verify-email", "", url.Values{"token": {vtok}}), http.StatusBadRequest)
	for range 2 {
		mustStatus(t, c.post("/api/auth/login", jsonBody(map[string]string{"email": email, "password": wrong})), http.StatusUnauthorized)
	}
	mustStatus(t, c.do("POST", "/login", "", url.Values{"email": {email}, "password": {wrong}}), http.StatusUnauthorized)
	mustStatus(t, c.post("/api/auth/login", jsonBody(map[string]string{"email": email, "password": pw1})), http.StatusOK)
	keep("session", c.cookie("pmc_session"))
	keep("csrf", c.csrf())
	mustStatus(t, c.post("/api/class-watches", `{"term":"2267","class_nbr":"70412"}`), http.StatusCreated)
	mustStatus(t, c.do("POST", "/dashboard/add", "", url.Values{"term": {"2267"}, "class_nbr": {"70413"}}), http.StatusSeeOther)
	mustStatus(t, c.post("/api/user/password", jsonBody(map[string]string{"current_password": wrong, "new_password": pw2, "confirm_password": pw2})), http.StatusBadRequest)

	mustStatus(t, c.post("/api/auth/forgot-password", jsonBody(map[string]string{"email": email})), http.StatusAccepted)
	rtok := tokenOf(e.mailLink(2, email))
	keep("reset token", rtok)
	mustStatus(t, c.get("/reset-password?token="+rtok), http.StatusOK)
	mustStatus(t, c.post("/api/auth/reset-password", jsonBody(map[string]string{"token": rtok, "password": pw2, "confirm_password": "mismatch " + pw2})), http.StatusBadRequest)
	mustStatus(t, c.do("POST", "/reset-password", "", url.Values{"token": {rtok}, "password": {pw2}, "confirm_password": {pw2}}), http.StatusSeeOther)
	mustStatus(t, c.do("POST", "/login", "", url.Values{"email": {email}, "password": {pw2}}), http.StatusSeeOther)
	keep("session", c.cookie("pmc_session"))
	keep("csrf", c.csrf())
	mustStatus(t, c.get("/dashboard"), http.StatusOK)

	u, err := e.db.GetUserByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	utok := e.signer.Sign(u.ID, notify.PurposeUnsubscribe, time.Now().Add(time.Hour))
	keep("unsubscribe token", utok)
	mustStatus(t, c.get("/unsubscribe?token="+utok), http.StatusOK)
	mustStatus(t, c.do("POST", "/unsubscribe", "", url.Values{"token": {utok}}), http.StatusOK)
	mustStatus(t, e.client().post("/api/unsubscribe?token="+utok, ""), http.StatusOK)
	mustStatus(t, e.client().post("/api/unsubscribe?token="+flip(utok, 7), ""), http.StatusBadRequest)
	mustStatus(t, c.post("/api/auth/logout", ""), http.StatusNoContent)

	out := logs.String()
	if n := strings.Count(out, `"message":"request"`); n < 20 {
		t.Fatalf("only %d request lines captured; is the logger wired?\n%s", n, out)
	}
	names := make([]string, 0, len(secrets))
	for k := range secrets {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		v := secrets[k]
		if strings.Contains(out, v) {
			t.Errorf("%s %q appears in the logs", k, v)
		}
		// Also half of it, in case something truncates.
		if len(v) >= 16 && strings.Contains(out, v[:len(v)/2]) {
			t.Errorf("a prefix of %s appears in the logs", k)
		}
	}
	if t.Failed() {
		t.Logf("logs:\n%s", out)
	}
}

// A session in use slides: a request more than an hour after the last
// recorded one extends it to 30 days from now and renews the cookie; a
// request soon after writes nothing.
func TestSessionSlidesWithUse(t *testing.T) {
	t.Parallel()
	e := setup(t)
	u := e.user("regular@example.edu", false)
	c := e.login("regular@example.edu")
	ctx := context.Background()
	if _, err := e.db.Pool().Exec(ctx, `UPDATE sessions SET last_seen_at = now() - interval '2 hours',
		expires_at = now() + interval '1 day' WHERE user_id = $1`, u.ID); err != nil {
		t.Fatal(err)
	}
	sessionCookie := func(r response) string {
		for _, line := range r.header.Values("Set-Cookie") {
			if strings.HasPrefix(line, "pmc_session=") {
				return line
			}
		}
		return ""
	}
	r := c.get("/api/auth/me")
	mustStatus(t, r, http.StatusOK)
	if ck := sessionCookie(r); !strings.Contains(ck, "Max-Age=2592000") {
		t.Errorf("session cookie after a request 2 h later = %q, want it renewed for 30 days", ck)
	}
	var left time.Duration
	var seen time.Time
	if err := e.db.Pool().QueryRow(ctx, `SELECT (expires_at - now())::interval, last_seen_at FROM sessions WHERE user_id = $1`, u.ID).Scan(&left, &seen); err != nil {
		t.Fatal(err)
	}
	if left < 29*24*time.Hour || time.Since(seen) > time.Minute {
		t.Fatalf("session expires in %s, last seen %s ago; want about 30 days and just now", left, time.Since(seen))
	}
	r = c.get("/api/auth/me")
	mustStatus(t, r, http.StatusOK)
	if ck := sessionCookie(r); ck != "" {
		t.Errorf("a request right after set the session cookie again: %q", ck)
	}
}
