package web_test

import (
	"context"
	"encoding/json"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	webpush "github.com/SherClockHolmes/webpush-go"

	"github.com/pickmyclass/pickmyclass/pkg/channel"
	"github.com/pickmyclass/pickmyclass/pkg/channel/channeltest"
	"github.com/pickmyclass/pickmyclass/services/api/internal/web"
)

// testResolver resolves the receivers' test host names to the receivers'
// address and everything else nowhere.
type testResolver struct{ addr netip.Addr }

func (r testResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if strings.HasSuffix(host, channeltest.Host) {
		return []netip.Addr{r.addr}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// inbox is a channel receiver that keeps what it was sent: webhook bodies
// verified with the secret it learns, ntfy titles and bodies.
type inbox struct {
	mu     sync.Mutex
	secret string
	status int
	hooks  []channel.WebhookPayload
	ntfy   []string // "title\nbody"
	bad    []string
}

func (b *inbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.status != 0 {
		w.WriteHeader(b.status)
		return
	}
	if r.Header.Get("webhook-id") != "" {
		if b.secret != "" {
			if err := channeltest.VerifyWebhook(b.secret, r.Header, body, time.Now()); err != nil {
				b.bad = append(b.bad, err.Error())
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
		}
		var p channel.WebhookPayload
		if err := json.Unmarshal(body, &p); err != nil {
			b.bad = append(b.bad, err.Error())
		}
		b.hooks = append(b.hooks, p)
	} else {
		title, _ := new(mime.WordDecoder).DecodeHeader(r.Header.Get("Title"))
		b.ntfy = append(b.ntfy, title+"\n"+string(body))
	}
	w.WriteHeader(http.StatusOK)
}

func (b *inbox) lastHook(t *testing.T) channel.WebhookPayload {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.bad) > 0 {
		t.Fatalf("receiver problems: %v", b.bad)
	}
	if len(b.hooks) == 0 {
		t.Fatal("no webhook received")
	}
	return b.hooks[len(b.hooks)-1]
}

var codeRe = regexp.MustCompile(`\b\d{6}\b`)

func (b *inbox) lastNtfyCode(t *testing.T) string {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.ntfy) == 0 {
		t.Fatal("no ntfy message received")
	}
	code := codeRe.FindString(b.ntfy[len(b.ntfy)-1])
	if code == "" {
		t.Fatalf("no code in %q", b.ntfy[len(b.ntfy)-1])
	}
	return code
}

// withChannels gives the server a channel client that trusts the test
// receivers and resolves their host names, with web push keys.
func withChannels(t *testing.T, vapid channel.VAPID) option {
	srv := channeltest.Start(t, http.NotFoundHandler()) // only for the pool
	return func(d *web.Deps) {
		d.Channels = channel.New(channel.Options{RootCAs: srv.Pool, Resolver: testResolver{channeltest.Addr(t)}, VAPID: vapid})
	}
}

// hostURL is srv's URL under a test host name.
func hostURL(srv *channeltest.Server, path string) string {
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	return "https://hooks." + channeltest.Host + ":" + port + path
}

func TestChannelsJSONAddVerifyTestChooseRemove(t *testing.T) {
	t.Parallel()
	e := setup(t, withChannels(t, channel.VAPID{}))
	e.user("ana@example.edu", false)
	c := e.login("ana@example.edu")
	box := &inbox{}
	srv := channeltest.Start(t, box)

	r := c.post("/api/channels", `{"kind":"webhook","url":"`+hostURL(srv, "/in#frag")+`","label":"my bot","events":["seat_available"]}`)
	mustStatus(t, r, http.StatusCreated)
	var created struct {
		Channel struct {
			ID          int64    `json:"id"`
			Status      string   `json:"status"`
			Destination string   `json:"destination"`
			Events      []string `json:"events"`
		} `json:"channel"`
		Secret string `json:"signing_secret"`
		Sent   bool   `json:"verification_sent"`
	}
	if err := json.Unmarshal([]byte(r.body), &created); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(created.Secret, "whsec_") || !created.Sent || created.Channel.Status != "unverified" ||
		created.Channel.Destination != "hooks.receiver.test:"+srv.URL[strings.LastIndex(srv.URL, ":")+1:]+"/…" {
		t.Fatalf("created = %s", r.body)
	}
	box.mu.Lock()
	box.secret = created.Secret // the receiver now checks signatures
	box.mu.Unlock()
	verify := box.lastHook(t)
	if verify.Type != "pickmyclass.verify" || len(verify.Data.Code) != 6 {
		t.Fatalf("verification webhook = %+v", verify)
	}
	id := strconv.FormatInt(created.Channel.ID, 10)

	// Not active yet: no test alert.
	mustStatus(t, c.post("/api/channels/"+id+"/test", ``), http.StatusConflict)
	wrong := "000000"
	if verify.Data.Code == wrong {
		wrong = "111111"
	}
	mustStatus(t, c.post("/api/channels/"+id+"/verify", `{"code":"`+wrong+`"}`), http.StatusBadRequest)
	r = c.post("/api/channels/"+id+"/verify", `{"code":"`+verify.Data.Code+`"}`)
	mustStatus(t, r, http.StatusOK)
	if !strings.Contains(r.body, `"status":"active"`) {
		t.Fatalf("after verify: %s", r.body)
	}

	mustStatus(t, c.post("/api/channels/"+id+"/test", ``), http.StatusOK)
	if got := box.lastHook(t); got.Type != "pickmyclass.test" || got.Data.Title != "PickMyClass test alert" {
		t.Errorf("test alert = %+v", got)
	}

	r = c.do("PUT", "/api/channels/"+id+"/events", `{"events":["instructor_assigned"]}`, nil)
	mustStatus(t, r, http.StatusOK)
	if !strings.Contains(r.body, `"events":["instructor_assigned"]`) {
		t.Errorf("events = %s", r.body)
	}
	mustStatus(t, c.do("PUT", "/api/channels/"+id+"/events", `{"events":[]}`, nil), http.StatusBadRequest)
	mustStatus(t, c.do("PUT", "/api/channels/"+id+"/events", `{"events":["everything"]}`, nil), http.StatusBadRequest)

	// Neither the list nor the export shows the secret.
	list := c.get("/api/channels")
	mustStatus(t, list, http.StatusOK)
	export := c.get("/api/user/export")
	mustStatus(t, export, http.StatusOK)
	for name, body := range map[string]string{"list": list.body, "export": export.body} {
		if strings.Contains(body, created.Secret) || strings.Contains(body, "whsec_") {
			t.Errorf("%s shows the signing secret", name)
		}
	}
	if !strings.Contains(export.body, `"alert_channels"`) || !strings.Contains(export.body, `"label": "my bot"`) {
		t.Errorf("export lacks the channel: %.800s", export.body)
	}

	// Another user cannot see or touch it.
	e.user("bob@example.edu", false)
	bob := e.login("bob@example.edu")
	mustStatus(t, bob.post("/api/channels/"+id+"/test", ``), http.StatusNotFound)
	mustStatus(t, bob.do("DELETE", "/api/channels/"+id, "", nil), http.StatusNotFound)

	mustStatus(t, c.do("DELETE", "/api/channels/"+id, "", nil), http.StatusNoContent)
	if r := c.get("/api/channels"); !strings.Contains(r.body, `"channels":[]`) {
		t.Errorf("after delete: %s", r.body)
	}
}

func TestChannelsRefuseBadURLsAtSave(t *testing.T) {
	t.Parallel()
	e := setup(t, withChannels(t, channel.VAPID{}))
	e.user("ana@example.edu", false)
	c := e.login("ana@example.edu")
	gone := &inbox{status: http.StatusNotFound}
	srv := channeltest.Start(t, gone)
	for _, body := range []string{
		`{"kind":"webhook","url":"https://127.0.0.1/hook"}`,
		`{"kind":"webhook","url":"https://169.254.169.254/latest/meta-data"}`,
		`{"kind":"webhook","url":"https://10.0.0.1/x"}`,
		`{"kind":"ntfy","url":"https://[::1]/topic"}`,
		`{"kind":"webhook","url":"http://hooks.receiver.test/x"}`,
		`{"kind":"discord","url":"` + hostURL(srv, "/api/webhooks/1/x") + `"}`,
		`{"kind":"slack","url":"https://hooks.slack.com.receiver.test/services/x"}`,
		`{"kind":"webpush","url":"https://example.org/"}`,
		// The destination refuses the verification for good: not kept.
		`{"kind":"webhook","url":"` + hostURL(srv, "/missing") + `"}`,
	} {
		r := c.post("/api/channels", body)
		if r.status != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400; %s", body, r.status, r.body)
		}
	}
	if r := c.get("/api/channels"); !strings.Contains(r.body, `"channels":[]`) {
		t.Errorf("channels stored: %s", r.body)
	}
}

func TestChannelsSettingsPageFlow(t *testing.T) {
	t.Parallel()
	e := setup(t, withChannels(t, channel.VAPID{}))
	e.user("ana@example.edu", false)
	c := e.login("ana@example.edu")
	box := &inbox{}
	srv := channeltest.Start(t, box)

	page := c.get("/settings")
	mustStatus(t, page, http.StatusOK)
	if !strings.Contains(page.body, `id="channels"`) || !strings.Contains(page.body, `action="/settings/channels"`) {
		t.Fatal("settings page has no channel section")
	}
	if strings.Contains(page.body, "push-subscribe") {
		t.Error("push button shown without VAPID keys")
	}
	r := c.do("POST", "/settings/channels", "", url.Values{"kind": {"ntfy"}, "url": {hostURL(srv, "/seats")},
		"label": {"phone"}, "priority": {"5"}, "token": {"tk_abc"}, "events": {"seat_available", "instructor_assigned"}})
	mustStatus(t, r, http.StatusSeeOther)
	code := box.lastNtfyCode(t)
	page = c.get("/settings")
	m := regexp.MustCompile(`action="/settings/channels/(\d+)/verify"`).FindStringSubmatch(page.body)
	if m == nil {
		t.Fatalf("no verify form:\n%s", page.body)
	}
	id := m[1]
	r = c.do("POST", "/settings/channels/"+id+"/verify", "", url.Values{"code": {"12345x"}})
	mustStatus(t, r, http.StatusBadRequest)
	if !strings.Contains(r.body, "wrong or expired") {
		t.Error("wrong code not explained")
	}
	mustStatus(t, c.do("POST", "/settings/channels/"+id+"/verify", "", url.Values{"code": {code}}), http.StatusSeeOther)
	page = c.get("/settings?m=channel-verified")
	if !strings.Contains(page.body, "Channel verified") || !strings.Contains(page.body, ">Active<") ||
		!strings.Contains(page.body, "Send a test alert") || strings.Contains(page.body, "tk_abc") {
		t.Errorf("settings after verify:\n%s", page.body)
	}
	mustStatus(t, c.do("POST", "/settings/channels/"+id+"/test", "", url.Values{}), http.StatusSeeOther)
	box.mu.Lock()
	last := box.ntfy[len(box.ntfy)-1]
	box.mu.Unlock()
	if !strings.HasPrefix(last, "PickMyClass test alert\n") {
		t.Errorf("test alert = %q", last)
	}
	// Only instructor alerts from now on.
	mustStatus(t, c.do("POST", "/settings/channels/"+id+"/events", "", url.Values{"events": {"instructor_assigned"}}), http.StatusSeeOther)
	if page := c.get("/settings"); !strings.Contains(page.body, `value="seat_available" > A seat opens`) {
		t.Error("seat alerts still shown as chosen")
	}
	if list := c.get("/api/channels"); !strings.Contains(list.body, `"events":["instructor_assigned"]`) {
		t.Errorf("events after the form: %s", list.body)
	}
	// The dashboard tells the user about a channel a failure turned off.
	if _, err := e.db.Pool().Exec(context.Background(), `UPDATE channels SET disabled_at = now(), disabled_reason = 'ntfy refused the alert (HTTP 403).'`); err != nil {
		t.Fatal(err)
	}
	if d := c.get("/dashboard"); !strings.Contains(d.body, "Your ntfy (phone) alerts were turned off: ntfy refused the alert (HTTP 403).") {
		t.Errorf("dashboard lacks the notice:\n%s", d.body)
	}
	mustStatus(t, c.do("POST", "/settings/channels/"+id+"/delete", "", url.Values{}), http.StatusSeeOther)
	if page := c.get("/settings"); strings.Contains(page.body, "/settings/channels/"+id+"/") {
		t.Error("channel still listed after removal")
	}
}

func TestWebhookSecretShownOnceOnSettingsPage(t *testing.T) {
	t.Parallel()
	e := setup(t, withChannels(t, channel.VAPID{}))
	e.user("ana@example.edu", false)
	c := e.login("ana@example.edu")
	srv := channeltest.Start(t, &inbox{})
	r := c.do("POST", "/settings/channels", "", url.Values{"kind": {"webhook"}, "url": {hostURL(srv, "/in")}, "events": {"seat_available"}})
	mustStatus(t, r, http.StatusOK)
	secret := regexp.MustCompile(`whsec_[A-Za-z0-9+/=]+`).FindString(r.body)
	if secret == "" {
		t.Fatalf("secret not shown:\n%s", r.body)
	}
	if page := c.get("/settings"); strings.Contains(page.body, secret) {
		t.Error("secret shown again")
	}
}

func TestPushSubscriptionIsStoredAndGetsTestAlert(t *testing.T) {
	t.Parallel()
	priv, pub, err := webpush.GenerateVAPIDKeys()
	if err != nil {
		t.Fatal(err)
	}
	vapid := channel.VAPID{PublicKey: pub, PrivateKey: priv, Subject: "mailto:ops@pickmyclass.test"}
	e := setup(t, withChannels(t, vapid))
	e.user("ana@example.edu", false)
	c := e.login("ana@example.edu")
	if page := c.get("/settings"); !strings.Contains(page.body, `data-vapid-key="`+pub+`"`) {
		t.Fatal("settings page lacks the push button with the VAPID key")
	}
	ps := channeltest.NewPushService(t, pub, vapid.Subject)
	srv := channeltest.Start(t, ps)
	ch := ps.Channel(hostURL(srv, "/push/sub1"))
	body, _ := json.Marshal(map[string]any{"endpoint": ch.Config.Endpoint, "expirationTime": nil,
		"keys": map[string]string{"p256dh": ch.Config.P256dh, "auth": ch.Secret}, "label": "laptop"})
	r := c.post("/api/channels/push", string(body))
	mustStatus(t, r, http.StatusCreated)
	if !strings.Contains(r.body, `"status":"active"`) || !strings.Contains(r.body, `"kind":"webpush"`) {
		t.Fatalf("push channel = %s", r.body)
	}
	// Subscribing again from the same browser updates, not duplicates.
	mustStatus(t, c.post("/api/channels/push", string(body)), http.StatusCreated)
	var list struct {
		Channels []struct {
			ID int64 `json:"id"`
		} `json:"channels"`
		Key string `json:"vapid_public_key"`
	}
	if err := json.Unmarshal([]byte(c.get("/api/channels").body), &list); err != nil || len(list.Channels) != 1 || list.Key != pub {
		t.Fatalf("channels after resubscribe = %+v, %v", list, err)
	}
	mustStatus(t, c.post("/api/channels/"+strconv.FormatInt(list.Channels[0].ID, 10)+"/test", ``), http.StatusOK)
	if err := ps.Err(); err != nil {
		t.Fatal(err)
	}
	if p := ps.Payloads(); len(p) != 1 || p[0].Title != "PickMyClass test alert" {
		t.Errorf("decrypted test push = %+v", p)
	}
	// Keys that are not a subscription's are refused.
	mustStatus(t, c.post("/api/channels/push", `{"endpoint":"`+hostURL(srv, "/push/x")+`","keys":{"p256dh":"AAAA","auth":"BBBB"}}`), http.StatusBadRequest)
	mustStatus(t, c.post("/api/channels/push", `{"endpoint":"https://127.0.0.1/push","keys":{"p256dh":"`+ch.Config.P256dh+`","auth":"`+ch.Secret+`"}}`), http.StatusBadRequest)
}
