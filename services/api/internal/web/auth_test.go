package web_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/testenv"
	"github.com/pickmyclass/pickmyclass/services/api/internal/web"
)

func TestRegisterVerifyLoginLogout(t *testing.T) {
	t.Parallel()
	e := setup(t)
	c := e.client()

	r := c.post("/api/auth/register", `{"email":"x","password":"password","confirm_password":"nope"}`)
	mustStatus(t, r, http.StatusBadRequest)
	details := r.json(t)["details"].([]any)
	got := map[string]bool{}
	for _, d := range details {
		got[d.(map[string]any)["field"].(string)] = true
	}
	for _, f := range []string{"email", "password", "confirm_password", "age_confirmed", "terms_accepted"} {
		if !got[f] {
			t.Errorf("no field error for %s in %s", f, r.body)
		}
	}

	body := `{"email":"New@Example.edu","password":"a fine passphrase","confirm_password":"a fine passphrase","age_confirmed":true,"terms_accepted":true}`
	mustStatus(t, c.post("/api/auth/register", body), http.StatusAccepted)
	link := e.mailLink(1, "new@example.edu")
	if !strings.Contains(link, "/verify-email?token=") {
		t.Fatalf("verification link %s", link)
	}

	// Registering the same email again answers the same, and mails the owner.
	mustStatus(t, e.client().post("/api/auth/register", body), http.StatusAccepted)
	if msgs := e.sink.WaitFor(t, 2, 10*time.Second); !strings.Contains(msgs[1].Subject, "already have") {
		t.Errorf("second registration mailed %q", msgs[1].Subject)
	}

	// Signed in but unverified: the app is closed.
	mustStatus(t, c.post("/api/auth/login", `{"email":"new@example.edu","password":"a fine passphrase"}`), http.StatusOK)
	mustStatus(t, c.get("/api/class-watches"), http.StatusForbidden)
	if r := c.get("/dashboard"); r.status != http.StatusSeeOther || r.header.Get("Location") != "/verify-email" {
		t.Errorf("unverified dashboard: %d %s", r.status, r.header.Get("Location"))
	}

	// A GET of the link changes nothing; the POST verifies, once.
	page := c.get("/verify-email?token=" + tokenOf(link))
	mustStatus(t, page, http.StatusOK)
	mustStatus(t, c.get("/api/class-watches"), http.StatusForbidden)
	mustStatus(t, c.post("/api/auth/verify-email", `{"token":"`+tokenOf(link)+`"}`), http.StatusOK)
	mustStatus(t, c.post("/api/auth/verify-email", `{"token":"`+tokenOf(link)+`"}`), http.StatusBadRequest)
	mustStatus(t, c.get("/api/class-watches"), http.StatusOK)

	me := c.get("/api/auth/me").json(t)["user"].(map[string]any)
	if me["email"] != "new@example.edu" || me["is_admin"] != false || me["verified"] != true {
		t.Errorf("me = %v", me)
	}
	var at, terms *string
	if err := e.db.Pool().QueryRow(context.Background(), `SELECT age_confirmed_at::text, accepted_terms_at::text FROM users WHERE email = 'new@example.edu'`).Scan(&at, &terms); err != nil || at == nil || terms == nil {
		t.Errorf("consents not recorded: %v %v %v", at, terms, err)
	}

	mustStatus(t, c.post("/api/auth/logout", ""), http.StatusNoContent)
	mustStatus(t, c.get("/api/class-watches"), http.StatusUnauthorized)
}

func TestRegisterCannotMakeAdmin(t *testing.T) {
	t.Parallel()
	e := setup(t)
	r := e.client().post("/api/auth/register", `{"email":"a@example.edu","password":"a fine passphrase","confirm_password":"a fine passphrase","age_confirmed":true,"terms_accepted":true,"is_admin":true}`)
	mustStatus(t, r, http.StatusBadRequest)
	if !strings.Contains(r.body, "is_admin") {
		t.Errorf("unknown field not named: %s", r.body)
	}
}

func TestPasswordRules(t *testing.T) {
	t.Parallel()
	e := setup(t)
	for _, tc := range []struct{ pw, want string }{
		{"short", "at least 8"},
		{"password123", "too common"},
		{"Zebra crossing 9", ""},
		{strings.Repeat("x", 73), "at most 72"},
	} {
		body := `{"email":"p@example.edu","password":"` + tc.pw + `","confirm_password":"` + tc.pw + `","age_confirmed":true,"terms_accepted":true}`
		r := e.client().post("/api/auth/register", body)
		if tc.want == "" {
			mustStatus(t, r, http.StatusAccepted)
			continue
		}
		mustStatus(t, r, http.StatusBadRequest)
		if !strings.Contains(r.body, tc.want) {
			t.Errorf("password %q: %s", tc.pw, r.body)
		}
	}
}

func TestLockoutAfterFiveFailuresLeaksNothing(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.user("real@example.edu", false)
	for _, email := range []string{"real@example.edu", "ghost@example.edu"} {
		c := e.client()
		for i := range 5 {
			r := c.post("/api/auth/login", `{"email":"`+email+`","password":"wrong password"}`)
			want := http.StatusUnauthorized
			if i == 4 {
				want = http.StatusTooManyRequests
			}
			mustStatus(t, r, want)
		}
		r := c.post("/api/auth/login", `{"email":"`+email+`","password":"`+testPassword+`"}`)
		mustStatus(t, r, http.StatusTooManyRequests)
		if r.header.Get("Retry-After") == "" {
			t.Error("no Retry-After on lockout")
		}
	}
}

// loginFrom posts a login as if from the client address ip (the test
// server trusts the loopback proxy's X-Forwarded-For).
func (c *client) loginFrom(ip, email, password string) response {
	c.t.Helper()
	req, _ := http.NewRequest("POST", c.base+"/api/auth/login", strings.NewReader(`{"email":"`+email+`","password":"`+password+`"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", ip)
	return c.send(req)
}

// TestConcurrentLoginsCheckAtMostFivePasswords: 30 wrong passwords sent at
// once are 5 password checks, not 30.
func TestConcurrentLoginsCheckAtMostFivePasswords(t *testing.T) {
	t.Parallel()
	e := setup(t, func(d *web.Deps) { d.TrustedProxies = "127.0.0.1/32" })
	e.user("target@example.edu", false)
	c := e.client()
	token := c.csrf()
	statuses := make(chan int, 30)
	var wg sync.WaitGroup
	for range 30 {
		wg.Go(func() {
			req, _ := http.NewRequest("POST", e.url+"/api/auth/login", strings.NewReader(`{"email":"target@example.edu","password":"wrong password"}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-CSRF-Token", token)
			req.Header.Set("X-Forwarded-For", "203.0.113.7")
			resp, err := c.hc.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		})
	}
	wg.Wait()
	close(statuses)
	counts := map[int]int{}
	for s := range statuses {
		counts[s]++
	}
	// Four failures answer 401; the fifth locks the pair, like every later one.
	if counts[http.StatusUnauthorized] != 4 || counts[http.StatusTooManyRequests] != 26 {
		t.Errorf("statuses %v, want 4 × 401 and 26 × 429", counts)
	}
	var attempts int
	if err := e.db.Pool().QueryRow(context.Background(), `SELECT count(*) FROM login_attempts WHERE email = 'target@example.edu'`).Scan(&attempts); err != nil {
		t.Fatal(err)
	}
	if attempts != 5 {
		t.Errorf("%d password checks recorded, want 5", attempts)
	}
}

// TestLockoutIsPerClientAndLiftedByReset: failures from one address do not
// lock the owner out from another, and a password reset lifts the lock.
func TestLockoutIsPerClientAndLiftedByReset(t *testing.T) {
	t.Parallel()
	e := setup(t, func(d *web.Deps) { d.TrustedProxies = "127.0.0.1/32" })
	e.user("victim@example.edu", false)
	attacker, owner := e.client(), e.client()
	for range 6 {
		attacker.loginFrom("203.0.113.66", "victim@example.edu", "guess guess guess")
	}
	mustStatus(t, attacker.loginFrom("203.0.113.66", "victim@example.edu", testPassword), http.StatusTooManyRequests)
	mustStatus(t, owner.loginFrom("198.51.100.1", "victim@example.edu", testPassword), http.StatusOK)

	// Locked out at home too, the owner resets the password: that lifts it.
	home := e.client()
	for range 5 {
		home.loginFrom("198.51.100.2", "victim@example.edu", "forgot it again")
	}
	mustStatus(t, home.loginFrom("198.51.100.2", "victim@example.edu", testPassword), http.StatusTooManyRequests)
	mustStatus(t, home.post("/api/auth/forgot-password", `{"email":"victim@example.edu"}`), http.StatusAccepted)
	tok := tokenOf(e.mailLink(1, "victim@example.edu"))
	mustStatus(t, home.post("/api/auth/reset-password", `{"token":"`+tok+`","password":"brand new secret","confirm_password":"brand new secret"}`), http.StatusOK)
	mustStatus(t, home.loginFrom("198.51.100.2", "victim@example.edu", "brand new secret"), http.StatusOK)
}

// TestAuthMailGoesThroughTheOutbox: requests only queue account email.
// With the SMTP server refusing everything, a reset request for an account
// and one for an unknown address answer alike and at once; the mail is
// delivered over SMTP once the server takes it again.
func TestAuthMailGoesThroughTheOutbox(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.user("known@example.edu", false)
	e.sink.SetFailure(451, "4.3.0 try again later")
	c := e.client()
	known := c.post("/api/auth/forgot-password", `{"email":"known@example.edu"}`)
	unknown := c.post("/api/auth/forgot-password", `{"email":"unknown@example.edu"}`)
	mustStatus(t, known, http.StatusAccepted)
	mustStatus(t, unknown, http.StatusAccepted)
	if known.body != unknown.body {
		t.Errorf("answers differ: %q vs %q", known.body, unknown.body)
	}
	// The sender has tried (and failed) at least once: nothing was accepted.
	testenv.Eventually(t, 10*time.Second, func() error {
		var attempts int
		if err := e.db.Pool().QueryRow(context.Background(), `SELECT COALESCE(max(attempts), 0) FROM mail_outbox`).Scan(&attempts); err != nil {
			return err
		}
		if attempts == 0 {
			return errors.New("the outbox has not tried to send")
		}
		return nil
	})
	if n := len(e.sink.Messages()); n != 0 {
		t.Fatalf("the sink accepted %d messages while refusing", n)
	}
	e.sink.SetFailure(0, "")
	link := e.mailLink(1, "known@example.edu")
	if !strings.Contains(link, "/reset-password?token=") {
		t.Errorf("link %q", link)
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		var left int
		if err := e.db.Pool().QueryRow(context.Background(), `SELECT count(*) FROM mail_outbox`).Scan(&left); err != nil {
			return err
		}
		if left != 0 {
			return fmt.Errorf("%d mails left in the outbox", left)
		}
		return nil
	})
	if msgs := e.sink.Messages(); len(msgs) != 1 {
		t.Errorf("%d messages; the unknown address must get none", len(msgs))
	}
}

func TestAuthRateLimitPerIP(t *testing.T) {
	t.Parallel()
	e := setup(t, func(d *web.Deps) { d.AuthRatePerMinute = 3 })
	c := e.client()
	for range 3 {
		mustStatus(t, c.post("/api/auth/forgot-password", `{"email":"a@example.edu"}`), http.StatusAccepted)
	}
	r := c.post("/api/auth/forgot-password", `{"email":"a@example.edu"}`)
	mustStatus(t, r, http.StatusTooManyRequests)
}

func TestForgotResetEndsSessions(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.user("r@example.edu", false)
	other := e.login("r@example.edu")
	c := e.client()
	mustStatus(t, c.post("/api/auth/forgot-password", `{"email":"r@example.edu"}`), http.StatusAccepted)
	mustStatus(t, c.post("/api/auth/forgot-password", `{"email":"nobody@example.edu"}`), http.StatusAccepted)
	tok := tokenOf(e.mailLink(1, "r@example.edu"))
	if n := len(e.sink.Messages()); n != 1 {
		t.Errorf("%d emails; an unknown address must get none", n)
	}
	mustStatus(t, c.post("/api/auth/reset-password", `{"token":"`+tok+`","password":"short","confirm_password":"short"}`), http.StatusBadRequest)
	mustStatus(t, c.post("/api/auth/reset-password", `{"token":"`+tok+`","password":"brand new secret","confirm_password":"brand new secret"}`), http.StatusOK)
	mustStatus(t, c.post("/api/auth/reset-password", `{"token":"`+tok+`","password":"brand new secret","confirm_password":"brand new secret"}`), http.StatusBadRequest)
	mustStatus(t, other.get("/api/class-watches"), http.StatusUnauthorized)
	mustStatus(t, c.post("/api/auth/login", `{"email":"r@example.edu","password":"brand new secret"}`), http.StatusOK)
}

func TestChangePasswordKeepsThisSessionOnly(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.user("c@example.edu", false)
	a, b := e.login("c@example.edu"), e.login("c@example.edu")
	r := a.post("/api/user/password", `{"current_password":"wrong","new_password":"another good one","confirm_password":"another good one"}`)
	mustStatus(t, r, http.StatusBadRequest)
	mustStatus(t, a.post("/api/user/password", `{"current_password":"`+testPassword+`","new_password":"another good one","confirm_password":"another good one"}`), http.StatusOK)
	mustStatus(t, a.get("/api/class-watches"), http.StatusOK)
	mustStatus(t, b.get("/api/class-watches"), http.StatusUnauthorized)
}

func TestCSRFAndSessionCookie(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.user("s@example.edu", false)
	c := e.client()
	// No token: refused.
	req, _ := http.NewRequest("POST", e.url+"/api/auth/login", strings.NewReader(`{"email":"s@example.edu","password":"`+testPassword+`"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("login without CSRF token: %d", resp.StatusCode)
	}
	before := c.csrf()
	r := c.post("/api/auth/login", `{"email":"s@example.edu","password":"`+testPassword+`"}`)
	mustStatus(t, r, http.StatusOK)
	var session string
	for _, line := range r.header.Values("Set-Cookie") {
		if strings.HasPrefix(line, "pmc_session=") {
			session = line
		}
	}
	for _, attr := range []string{"HttpOnly", "SameSite=Lax", "Path=/"} {
		if !strings.Contains(session, attr) {
			t.Errorf("session cookie %q lacks %s", session, attr)
		}
	}
	if c.csrf() == before {
		t.Error("CSRF token not rotated at login")
	}
	// A form post with the pre-login token is refused.
	req, _ = http.NewRequest("POST", e.url+"/settings/notifications", strings.NewReader(url.Values{"_csrf": {before}, "enabled": {"false"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err = c.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("form post with a stale CSRF token: %d", resp.StatusCode)
	}
	// A cross-site request is refused even with the token.
	req, _ = http.NewRequest("POST", e.url+"/api/auth/logout", nil)
	req.Header.Set("X-CSRF-Token", c.csrf())
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err = c.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site post: %d", resp.StatusCode)
	}
}
