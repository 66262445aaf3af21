package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/pickmyclass/pickmyclass/pkg/breaker"
	"github.com/pickmyclass/pickmyclass/pkg/check"
	"github.com/pickmyclass/pickmyclass/pkg/stream"
	"github.com/pickmyclass/pickmyclass/services/api/internal/web"
)

// brokenMonitor fails every read with an error that names internals.
type brokenMonitor struct{}

var errInternal = errors.New("dial tcp 10.1.2.3:6379: connect: connection refused (redis-primary.internal)")

func (brokenMonitor) Ping(context.Context) error { return errInternal }
func (brokenMonitor) Breaker(context.Context) (breaker.Snapshot, error) {
	return breaker.Snapshot{}, errInternal
}
func (brokenMonitor) Queue(context.Context) (stream.Stats, error) { return stream.Stats{}, errInternal }
func (brokenMonitor) Heartbeat(context.Context) (check.Heartbeat, error) {
	return check.Heartbeat{}, errInternal
}

// TestPublicHealthHidesErrorText: the public report says what failed, not
// how (addresses and driver messages stay in the log and on the ops port).
func TestPublicHealthHidesErrorText(t *testing.T) {
	t.Parallel()
	e := setup(t, func(d *web.Deps) { d.Monitor = brokenMonitor{} })
	r := e.client().get("/api/monitoring/health")
	mustStatus(t, r, http.StatusServiceUnavailable)
	for _, leak := range []string{"10.1.2.3", "6379", "redis-primary", "connection refused", "dial tcp"} {
		if strings.Contains(r.body, leak) {
			t.Errorf("public health shows %q: %s", leak, r.body)
		}
	}
	checks := r.json(t)["checks"].(map[string]any)
	for _, name := range []string{"redis", "circuit_breaker", "scheduler", "queue"} {
		if c, _ := checks[name].(map[string]any); c["status"] != "unhealthy" {
			t.Errorf("%s = %v, want unhealthy", name, checks[name])
		}
	}
}

// TestVerifyPageShowsNoTextFromTheLink: /verify-email?sent=… once echoed
// its parameter as a notice; a crafted link could make our page say
// anything.
func TestVerifyPageShowsNoTextFromTheLink(t *testing.T) {
	t.Parallel()
	e := setup(t)
	c := e.client()
	mustStatus(t, c.post("/api/auth/register", `{"email":"new@example.edu","password":"a fine passphrase","confirm_password":"a fine passphrase","age_confirmed":true,"terms_accepted":true}`), http.StatusAccepted)
	mustStatus(t, c.post("/api/auth/login", `{"email":"new@example.edu","password":"a fine passphrase"}`), http.StatusOK)
	const bait = "Your account is suspended call 555 0100"
	for _, path := range []string{"/verify-email?sent=" + strings.ReplaceAll(bait, " ", "+"), "/verify-email?token=abc&sent=" + strings.ReplaceAll(bait, " ", "+")} {
		r := c.get(path)
		mustStatus(t, r, http.StatusOK)
		if strings.Contains(r.body, "suspended") {
			t.Errorf("%s shows the link's text", path)
		}
	}
}

// TestSessionListAndRevoke: a user sees their sessions (the current one
// marked) and can sign any of them out; another user's are not theirs to
// touch.
func TestSessionListAndRevoke(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.user("many@example.edu", false)
	e.user("stranger@example.edu", false)
	a, b := e.login("many@example.edu"), e.login("many@example.edu")
	stranger := e.login("stranger@example.edu")

	var list struct {
		Sessions []struct {
			ID      int64 `json:"id"`
			Current bool  `json:"current"`
		} `json:"sessions"`
	}
	r := a.get("/api/user/sessions")
	mustStatus(t, r, http.StatusOK)
	if err := json.Unmarshal([]byte(r.body), &list); err != nil || len(list.Sessions) != 2 {
		t.Fatalf("sessions: %s (%v)", r.body, err)
	}
	var other int64
	for _, s := range list.Sessions {
		if !s.Current {
			other = s.ID
		}
	}
	if other == 0 || list.Sessions[0].Current == list.Sessions[1].Current {
		t.Fatalf("want exactly one current session: %s", r.body)
	}
	mustStatus(t, stranger.do("DELETE", fmt.Sprintf("/api/user/sessions/%d", other), "", nil), http.StatusNotFound)
	mustStatus(t, b.get("/api/auth/me"), http.StatusOK)
	mustStatus(t, a.do("DELETE", fmt.Sprintf("/api/user/sessions/%d", other), "", nil), http.StatusNoContent)
	mustStatus(t, b.get("/api/auth/me"), http.StatusUnauthorized)
	mustStatus(t, a.do("DELETE", fmt.Sprintf("/api/user/sessions/%d", other), "", nil), http.StatusNotFound)
	mustStatus(t, a.get("/api/auth/me"), http.StatusOK)
	// The settings page lists them with a sign-out button each.
	if page := a.get("/settings"); !strings.Contains(page.body, "this browser") || !strings.Contains(page.body, "/revoke") {
		t.Errorf("settings page lacks the session list")
	}
}

// TestSessionAbsoluteLifetime: a session in constant use still ends 90
// days after sign-in.
func TestSessionAbsoluteLifetime(t *testing.T) {
	t.Parallel()
	e := setup(t)
	u := e.user("forever@example.edu", false)
	c := e.login("forever@example.edu")
	if _, err := e.db.Pool().Exec(context.Background(), `UPDATE sessions SET created_at = now() - interval '91 days',
		last_seen_at = now() - interval '2 hours', expires_at = now() + interval '29 days' WHERE user_id = $1`, u.ID); err != nil {
		t.Fatal(err)
	}
	mustStatus(t, c.get("/api/auth/me"), http.StatusUnauthorized)
	// Near the end, use extends it only up to the absolute limit.
	if _, err := e.db.Pool().Exec(context.Background(), `DELETE FROM sessions WHERE user_id = $1`, u.ID); err != nil {
		t.Fatal(err)
	}
	c = e.login("forever@example.edu")
	if _, err := e.db.Pool().Exec(context.Background(), `UPDATE sessions SET created_at = now() - interval '89 days',
		last_seen_at = now() - interval '2 hours' WHERE user_id = $1`, u.ID); err != nil {
		t.Fatal(err)
	}
	mustStatus(t, c.get("/api/auth/me"), http.StatusOK)
	var left time.Duration
	if err := e.db.Pool().QueryRow(context.Background(), `SELECT (expires_at - now())::interval FROM sessions WHERE user_id = $1`, u.ID).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left > 25*time.Hour {
		t.Errorf("session extended to %s from now, past its 90 days", left)
	}
}

// TestCurrentPasswordChecksAreLimited: someone holding a session cannot
// guess the password through change-password or delete-account any more
// than through sign-in.
func TestCurrentPasswordChecksAreLimited(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.user("held@example.edu", false)
	c := e.login("held@example.edu")
	change := func(current string) response {
		return c.post("/api/user/password", `{"current_password":"`+current+`","new_password":"another good one","confirm_password":"another good one"}`)
	}
	for i := range 4 {
		mustStatus(t, change(fmt.Sprintf("guess number %d", i)), http.StatusBadRequest)
	}
	// The fifth wrong guess, here through delete-account, locks.
	mustStatus(t, c.do("DELETE", "/api/user", `{"confirm":"DELETE","password":"guess number 5"}`, nil), http.StatusTooManyRequests)
	r := change(testPassword)
	mustStatus(t, r, http.StatusTooManyRequests)
	if r.header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	mustStatus(t, c.do("DELETE", "/api/user", `{"confirm":"DELETE","password":"`+testPassword+`"}`, nil), http.StatusTooManyRequests)
	mustStatus(t, c.get("/api/auth/me"), http.StatusOK)
}

// TestJSONIsNeverCached: every JSON answer, success or error, signed in or
// not, says no-store.
func TestJSONIsNeverCached(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.user("cache@example.edu", false)
	c := e.login("cache@example.edu")
	for _, r := range []response{
		c.get("/api/auth/me"), c.get("/api/class-watches"), c.get("/api/terms"), c.get("/api/user/sessions"),
		c.get("/api/auth/csrf"), c.get("/api/monitoring/health"), c.get("/api/sections/2267/99999"),
		e.client().get("/api/auth/me"), c.post("/api/class-watches", `{"term":"x"}`),
	} {
		if !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
			t.Errorf("not JSON (%d): %s", r.status, r.header.Get("Content-Type"))
			continue
		}
		if got := r.header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("%d %.80s: Cache-Control %q, want no-store", r.status, r.body, got)
		}
	}
}

// TestDeletedAccountRetentionAndReregistration: deleting an account deletes
// its alert history at once, as the privacy and settings pages say, and its
// email address may register again at once.
func TestDeletedAccountRetentionAndReregistration(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	u := e.user("leaving@example.edu", false)
	w := storeWatch(t, e, u.ID, "2267", "70412", "CSE", "240")
	if _, err := e.db.Pool().Exec(ctx, `INSERT INTO notifications (watch_id, user_id, term, class_nbr, event, epoch, status)
		VALUES ($1, $2, '2267', '70412', 'seat_available', 1, 'sent')`, w.ID, u.ID); err != nil {
		t.Fatal(err)
	}
	for _, page := range []response{e.client().get("/legal/privacy"), e.login("leaving@example.edu").get("/settings")} {
		mustStatus(t, page, http.StatusOK)
		if !strings.Contains(page.body, "alert history") || !strings.Contains(page.body, "deleted at once") {
			t.Errorf("the page does not say that alert history is deleted at once")
		}
	}
	c := e.login("leaving@example.edu")
	mustStatus(t, c.do("DELETE", "/api/user", `{"confirm":"DELETE","password":"`+testPassword+`"}`, nil), http.StatusOK)
	var history int
	if err := e.db.Pool().QueryRow(ctx, `SELECT count(*) FROM notifications WHERE user_id = $1`, u.ID).Scan(&history); err != nil {
		t.Fatal(err)
	}
	if history != 0 {
		t.Errorf("%d alerts of the deleted account kept", history)
	}

	// The address registers again: a new account, with a verification link.
	r := e.client().post("/api/auth/register", `{"email":"leaving@example.edu","password":"a fine passphrase","confirm_password":"a fine passphrase","age_confirmed":true,"terms_accepted":true}`)
	mustStatus(t, r, http.StatusAccepted)
	link := e.mailLink(1, "leaving@example.edu")
	if !strings.Contains(link, "/verify-email?token=") {
		t.Fatalf("mail after re-registering links to %s, want a verification link", link)
	}
	fresh := e.client()
	mustStatus(t, fresh.post("/api/auth/verify-email", `{"token":"`+tokenOf(link)+`"}`), http.StatusOK)
	mustStatus(t, fresh.post("/api/auth/login", `{"email":"leaving@example.edu","password":"a fine passphrase"}`), http.StatusOK)
	if id := fresh.get("/api/auth/me").json(t)["user"].(map[string]any)["id"]; id == float64(u.ID) {
		t.Error("signed in to the deleted account")
	}
}

// TestPasswordHashCost: new passwords are hashed at cost 12 unless the
// server is told otherwise, and an older, cheaper hash is replaced at the
// next sign-in without ending anything.
func TestPasswordHashCost(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := setup(t, func(d *web.Deps) { d.PasswordCost = 0 })
	mustStatus(t, e.client().post("/api/auth/register", `{"email":"costly@example.edu","password":"a fine passphrase","confirm_password":"a fine passphrase","age_confirmed":true,"terms_accepted":true}`), http.StatusAccepted)
	u, err := e.db.GetUserByEmail(ctx, "costly@example.edu")
	if err != nil {
		t.Fatal(err)
	}
	if cost, err := bcrypt.Cost([]byte(u.PasswordHash)); err != nil || cost != 12 {
		t.Errorf("new hash cost %d (%v), want 12", cost, err)
	}

	e = setup(t, func(d *web.Deps) { d.PasswordCost = bcrypt.MinCost + 1 })
	old := e.user("old@example.edu", false) // hashed at bcrypt.MinCost
	c := e.login("old@example.edu")
	u, err = e.db.GetUser(ctx, old.ID)
	if err != nil {
		t.Fatal(err)
	}
	if cost, _ := bcrypt.Cost([]byte(u.PasswordHash)); cost != bcrypt.MinCost+1 {
		t.Errorf("hash cost after sign-in %d, want %d", cost, bcrypt.MinCost+1)
	}
	if bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(testPassword)) != nil {
		t.Error("the upgraded hash does not match the password")
	}
	mustStatus(t, c.get("/api/auth/me"), http.StatusOK)
}

// TestPasswordChangeIsMailed: a changed password, in settings or by a
// reset link, is mailed to the account's owner.
func TestPasswordChangeIsMailed(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.user("owner@example.edu", false)
	c := e.login("owner@example.edu")
	mustStatus(t, c.post("/api/user/password", `{"current_password":"`+testPassword+`","new_password":"another good one","confirm_password":"another good one"}`), http.StatusOK)
	msgs := e.sink.WaitFor(t, 1, 10*time.Second)
	if msgs[0].To[0] != "owner@example.edu" || !strings.Contains(msgs[0].Subject, "password was changed") {
		t.Fatalf("first mail: %v %q", msgs[0].To, msgs[0].Subject)
	}
	text, err := msgs[0].Part("text/plain")
	if err != nil || !strings.Contains(text, "/forgot-password") || strings.Contains(text, "another good one") {
		t.Errorf("notice text (%v): %s", err, text)
	}

	mustStatus(t, e.client().post("/api/auth/forgot-password", `{"email":"owner@example.edu"}`), http.StatusAccepted)
	tok := tokenOf(e.mailLink(2, "owner@example.edu"))
	mustStatus(t, e.client().post("/api/auth/reset-password", `{"token":"`+tok+`","password":"third good one","confirm_password":"third good one"}`), http.StatusOK)
	msgs = e.sink.WaitFor(t, 3, 10*time.Second)
	if msgs[2].To[0] != "owner@example.edu" || !strings.Contains(msgs[2].Subject, "password was changed") {
		t.Errorf("after the reset: %v %q", msgs[2].To, msgs[2].Subject)
	}
}
