package web_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/notify"
)

func TestSettingsExportAndDelete(t *testing.T) {
	t.Parallel()
	e := setup(t)
	u := e.user("me@example.edu", false)
	storeWatch(t, e, u.ID, "2267", "70412", "CSE", "240")
	c := e.login("me@example.edu")

	mustStatus(t, c.do("PUT", "/api/user/notifications", `{}`, nil), http.StatusBadRequest)
	mustStatus(t, c.do("PUT", "/api/user/notifications", `{"enabled":false}`, nil), http.StatusOK)
	if me := c.get("/api/auth/me").json(t)["user"].(map[string]any); me["notifications_enabled"] != false {
		t.Errorf("notifications still on: %v", me)
	}
	r := c.do("POST", "/settings/notifications", "", url.Values{"enabled": {"true"}})
	mustStatus(t, r, http.StatusSeeOther)

	r = c.get("/api/user/export")
	mustStatus(t, r, http.StatusOK)
	if !strings.HasPrefix(r.header.Get("Content-Disposition"), `attachment; filename="pickmyclass-data-`) {
		t.Errorf("disposition %q", r.header.Get("Content-Disposition"))
	}
	x := r.json(t)
	if x["account"].(map[string]any)["email"] != "me@example.edu" || len(x["class_watches"].([]any)) != 1 || strings.Contains(r.body, "password") {
		t.Errorf("export = %s", r.body)
	}

	r = c.do("DELETE", "/api/user", `{"confirm":"delete","password":"nope"}`, nil)
	mustStatus(t, r, http.StatusBadRequest)
	if !strings.Contains(r.body, `"field":"confirm"`) || !strings.Contains(r.body, `"field":"password"`) {
		t.Errorf("delete validation: %s", r.body)
	}
	mustStatus(t, c.do("DELETE", "/api/user", `{"confirm":"DELETE","password":"`+testPassword+`"}`, nil), http.StatusOK)
	mustStatus(t, c.get("/api/class-watches"), http.StatusUnauthorized)
	mustStatus(t, e.client().post("/api/auth/login", `{"email":"me@example.edu","password":"`+testPassword+`"}`), http.StatusUnauthorized)
}

// TestListUnsubscribeGetShowsConfirmation opens the List-Unsubscribe link
// the way a mail client without RFC 8058 support does, in a browser: it gets
// the confirmation page of the footer link, and nothing changes until the
// page's form is submitted.
func TestListUnsubscribeGetShowsConfirmation(t *testing.T) {
	t.Parallel()
	e := setup(t)
	u := e.user("get@example.edu", false)
	tok := e.signer.Sign(u.ID, notify.PurposeUnsubscribe, time.Now().Add(time.Hour))
	c := e.client()

	page := c.get(notify.UnsubscribePath + "?token=" + tok)
	mustStatus(t, page, http.StatusOK)
	oneClick := c.get(notify.OneClickUnsubscribePath + "?token=" + tok)
	mustStatus(t, oneClick, http.StatusOK)
	if ct := oneClick.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("GET %s: Content-Type %q, want text/html", notify.OneClickUnsubscribePath, ct)
	}
	if oneClick.body != page.body {
		t.Errorf("GET %s differs from the confirmation page:\n%s\n---\n%s", notify.OneClickUnsubscribePath, oneClick.body, page.body)
	}
	if !strings.Contains(oneClick.body, "Stop alert emails?") || !strings.Contains(oneClick.body, `value="`+tok+`"`) {
		t.Errorf("confirmation page lacks the question or the token: %s", oneClick.body)
	}
	bad := c.get(notify.OneClickUnsubscribePath + "?token=bogus")
	mustStatus(t, bad, http.StatusBadRequest)
	if !strings.HasPrefix(bad.header.Get("Content-Type"), "text/html") || !strings.Contains(bad.body, "This link does not work") {
		t.Errorf("bad token: %s %s", bad.header.Get("Content-Type"), bad.body)
	}

	me := e.login("get@example.edu").get("/api/auth/me").json(t)["user"].(map[string]any)
	if me["notifications_enabled"] != true {
		t.Fatalf("a GET unsubscribed the account: %v", me)
	}
	acc, err := e.db.GetUser(context.Background(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if acc.UnsubscribedAt != nil {
		t.Fatalf("a GET recorded an unsubscribe at %v", acc.UnsubscribedAt)
	}

	// The page's form is what unsubscribes.
	form := url.Values{"token": {tok}, "_csrf": {c.csrf()}}
	mustStatus(t, c.do("POST", notify.UnsubscribePath, "", form), http.StatusOK)
	me = e.login("get@example.edu").get("/api/auth/me").json(t)["user"].(map[string]any)
	if me["notifications_enabled"] != false {
		t.Errorf("still subscribed after the confirmation form: %v", me)
	}
}

func TestUnsubscribeGetConfirmsPostUnsubscribes(t *testing.T) {
	t.Parallel()
	e := setup(t)
	u := e.user("u@example.edu", false)
	tok := e.signer.Sign(u.ID, notify.PurposeUnsubscribe, time.Now().Add(time.Hour))
	c := e.client()
	mustStatus(t, c.get("/unsubscribe?token="+tok), http.StatusOK)
	mustStatus(t, c.get("/unsubscribe?token=bogus"), http.StatusBadRequest)
	// One-click: no session, no CSRF token.
	resp, err := http.Post(e.url+notify.OneClickUnsubscribePath+"?token="+tok, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("one-click: %d", resp.StatusCode)
	}
	resp, _ = http.Post(e.url+"/api/unsubscribe?token=bogus", "", nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad token: %d", resp.StatusCode)
	}
	me := e.login("u@example.edu").get("/api/auth/me").json(t)["user"].(map[string]any)
	if me["notifications_enabled"] != false {
		t.Errorf("still subscribed: %v", me)
	}
}

func TestResendWebhook(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.user("b@example.edu", false)
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(e.deps.ResendWebhookSecret, "whsec_"))
	send := func(body string, ts time.Time, sign bool) int {
		t.Helper()
		id := "msg_1"
		tss := fmt.Sprint(ts.Unix())
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(id + "." + tss + "." + body))
		sig := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
		if !sign {
			sig = "v1,AAAA"
		}
		req, _ := http.NewRequest("POST", e.url+"/api/webhooks/resend", strings.NewReader(body))
		req.Header.Set("svix-id", id)
		req.Header.Set("svix-timestamp", tss)
		req.Header.Set("svix-signature", "v1,bm90LWl0 "+sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	bounce := `{"type":"email.bounced","data":{"to":["B@example.edu"],"bounce":{"type":"Permanent"}}}`
	if got := send(bounce, time.Now(), false); got != http.StatusUnauthorized {
		t.Errorf("forged: %d", got)
	}
	if got := send(bounce, time.Now().Add(-time.Hour), true); got != http.StatusUnauthorized {
		t.Errorf("replayed: %d", got)
	}
	if got := send(`{"type":"email.bounced","data":{"to":["nobody@example.edu"],"bounce":{"type":"Permanent"}}}`, time.Now(), true); got != http.StatusOK {
		t.Errorf("unknown address: %d", got)
	}
	if got := send(bounce, time.Now(), true); got != http.StatusOK {
		t.Fatalf("bounce: %d", got)
	}
	me := e.login("b@example.edu").get("/api/auth/me").json(t)["user"].(map[string]any)
	if me["email_bounced"] != true {
		t.Errorf("bounce not recorded: %v", me)
	}

	// The generic format.
	body := `{"type":"complaint","email":"b@example.edu"}`
	ts := fmt.Sprint(time.Now().Unix())
	mac := hmac.New(sha256.New, []byte(e.deps.EmailWebhookSecret))
	mac.Write([]byte(ts + "." + body))
	req, _ := http.NewRequest("POST", e.url+"/api/webhooks/email", strings.NewReader(body))
	req.Header.Set("X-PMC-Signature", "t="+ts+",v1="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("generic complaint: %d", resp.StatusCode)
	}
}

func TestHTMLPagesAndHeaders(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.user("h@example.edu", false)
	c := e.login("h@example.edu")
	mustStatus(t, c.do("POST", "/dashboard/add", "", url.Values{"term": {"2267"}, "class_nbr": {"12"}}), http.StatusBadRequest)
	r := c.do("POST", "/dashboard/add", "", url.Values{"term": {"2267"}, "class_nbr": {"70412"}})
	mustStatus(t, r, http.StatusSeeOther)
	r = c.get(r.header.Get("Location"))
	mustStatus(t, r, http.StatusOK)
	for _, want := range []string{"Now watching CSE 240", `id="watch-`, "Waiting for first check", `data-live="/api/events"`} {
		if !strings.Contains(r.body, want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
	csp := r.header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
	if r.header.Get("X-Content-Type-Options") != "nosniff" || r.header.Get("Referrer-Policy") == "" {
		t.Errorf("headers %v", r.header)
	}
	if strings.Contains(r.body, "<script>") || strings.Contains(r.body, "style=") {
		t.Error("inline script or style in the page")
	}
	mustStatus(t, c.get("/sections/2267/70412"), http.StatusOK)
	mustStatus(t, c.get("/api/nope"), http.StatusNotFound)
	if r := c.get("/api/nope"); !strings.Contains(r.body, `"details":[]`) {
		t.Errorf("error shape %s", r.body)
	}
}
