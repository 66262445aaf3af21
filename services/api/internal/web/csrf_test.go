package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// csrfExempt are the state-changing routes that carry their own proof
// instead of a CSRF token: the RFC 8058 one-click unsubscribe (a signed
// token, sent by mail clients without cookies) and the mail provider's
// signed webhooks.
var csrfExempt = []string{
	"POST /api/unsubscribe",
	"POST /api/webhooks/email",
	"POST /api/webhooks/resend",
}

// fingerprint is everything a state-changing request could change in the
// database, in one comparable string.
func (e *env) fingerprint() string {
	e.t.Helper()
	var s string
	if err := e.db.Pool().QueryRow(context.Background(), `SELECT concat_ws(' ',
		(SELECT md5(COALESCE(string_agg(u::text, '|' ORDER BY id), '')) FROM users u),
		(SELECT md5(COALESCE(string_agg(w::text, '|' ORDER BY id), '')) FROM class_watches w),
		(SELECT count(*) FROM sessions), (SELECT count(*) FROM one_time_tokens WHERE used_at IS NULL),
		(SELECT count(*) FROM mail_outbox), (SELECT count(*) FROM login_attempts),
		(SELECT count(*) FROM notifications), (SELECT count(*) FROM audit_log))`).Scan(&s); err != nil {
		e.t.Fatal(err)
	}
	return s
}

// TestCSRFEveryStateChangingRoute sends every POST, PUT, PATCH and DELETE
// route the server has (read from its route table, so a new route is
// covered the day it is added) as a signed-in administrator, as JSON and as
// a form: without the token, with a wrong one, and with the right one from
// another site. Each is refused with 403 and changes nothing. The right
// token from our own pages passes the check.
func TestCSRFEveryStateChangingRoute(t *testing.T) {
	t.Parallel()
	e := setup(t)
	victim := e.user("victim@example.edu", false)
	w := storeWatch(t, e, victim.ID, "2267", "70412", "CSE", "240")
	e.user("admin@example.edu", true)
	c := e.login("admin@example.edu")
	token := c.csrf()
	params := strings.NewReplacer(":id", fmt.Sprint(w.ID), ":handle", "1", ":term", "2267", ":classNbr", "70412")
	userParam := strings.NewReplacer(":id", fmt.Sprint(victim.ID))

	type attempt struct {
		name    string
		headers map[string]string
		form    url.Values
	}
	attempts := []attempt{
		{name: "no token (JSON)", headers: map[string]string{}},
		{name: "no token (form)", form: url.Values{"confirm": {"DELETE"}, "password": {testPassword}}},
		{name: "wrong token", headers: map[string]string{"X-CSRF-Token": strings.Repeat("x", len(token))}},
		{name: "wrong form token", form: url.Values{"_csrf": {strings.Repeat("y", len(token))}}},
		{name: "token of another browser", headers: map[string]string{"X-CSRF-Token": e.client().csrf()}},
		{name: "cross-site with the right token", headers: map[string]string{"X-CSRF-Token": token, "Sec-Fetch-Site": "cross-site"}},
	}
	var covered, exempt []string
	before := e.fingerprint()
	for _, r := range e.routes {
		switch r.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		default:
			continue
		}
		name := r.Method + " " + r.Path
		if slices.Contains(csrfExempt, name) {
			exempt = append(exempt, name)
			continue
		}
		path := params.Replace(r.Path)
		if strings.HasPrefix(r.Path, "/admin/users/") {
			path = userParam.Replace(r.Path)
		}
		covered = append(covered, name)
		for _, a := range attempts {
			body, ct := `{"confirm":"DELETE","password":"`+testPassword+`","enabled":false,"term":"2267","class_nbr":"70413"}`, "application/json"
			if a.form != nil {
				body, ct = a.form.Encode(), "application/x-www-form-urlencoded"
			}
			req, _ := http.NewRequest(r.Method, e.url+path, strings.NewReader(body))
			req.Header.Set("Content-Type", ct)
			for k, v := range a.headers {
				req.Header.Set(k, v)
			}
			// Straight through the browser's cookie jar: the session and
			// the CSRF cookie go along, only the header or field is off.
			res, err := c.hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusForbidden {
				t.Errorf("%s, %s: %d, want 403", name, a.name, res.StatusCode)
			}
		}
		if after := e.fingerprint(); after != before {
			t.Fatalf("%s changed the database without a valid CSRF token:\n%s\n%s", name, before, after)
		}
	}
	slices.Sort(exempt)
	if !slices.Equal(exempt, csrfExempt) {
		t.Errorf("exempt routes %v, want %v", exempt, csrfExempt)
	}
	if len(covered) < 30 {
		t.Errorf("only %d state-changing routes covered: %v", len(covered), covered)
	}

	// The same request with the right token passes the check (the handler
	// then answers as it will).
	req, _ := http.NewRequest("PUT", e.url+"/api/user/notifications", strings.NewReader(`{"enabled":false}`))
	req.Header.Set("Content-Type", "application/json")
	if got := c.send(req); got.status != http.StatusOK {
		t.Errorf("with the right token: %d %s", got.status, got.body)
	}
	t.Logf("%d state-changing routes refused without a valid token; %d exempt", len(covered), len(exempt))
}
