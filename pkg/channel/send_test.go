package channel_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	webpush "github.com/SherClockHolmes/webpush-go"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/channel"
	"github.com/pickmyclass/pickmyclass/pkg/channel/channeltest"
)

// request is what a receiver saw.
type request struct {
	header http.Header
	body   []byte
}

// receiver records requests and answers with status.
type receiver struct {
	mu     sync.Mutex
	got    []request
	status int
	header http.Header
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.got = append(r.got, request{header: req.Header.Clone(), body: body})
	status, header := r.status, r.header
	r.mu.Unlock()
	for k, v := range header {
		w.Header()[k] = v
	}
	if status == 0 {
		status = http.StatusNoContent
	}
	w.WriteHeader(status)
}

func (r *receiver) requests() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]request(nil), r.got...)
}

func newClient(t *testing.T, srv *channeltest.Server, vapid channel.VAPID) *channel.Client {
	t.Helper()
	return channel.New(channel.Options{RootCAs: srv.Pool, VAPID: vapid, Timeout: 5 * time.Second})
}

func sampleAlert() channel.Message {
	s := catalog.Section{
		Term: "2267", ClassNbr: "12345", Subject: "CSE", CatalogNbr: "110", Title: "Principles of Programming",
		Instructors: []catalog.Instructor{{Name: "Ada Lovelace"}}, Capacity: 150, Enrolled: 147,
	}
	return channel.Alert("pmc-7-seat_available-1", catalog.EventSeatAvailable, s, "Fall 2026", 3,
		"https://app.example/go/asu?classNbr=12345&term=2267", time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC))
}

func TestDiscordSendsReadableEmbedWithoutMentions(t *testing.T) {
	t.Parallel()
	rec := &receiver{}
	srv := channeltest.Start(t, rec)
	c := newClient(t, srv, channel.VAPID{})
	ch := channel.Channel{Kind: channel.KindDiscord, Config: channel.Config{URL: srv.URL + "/api/webhooks/1/tok"}}
	if err := c.Send(context.Background(), ch, sampleAlert()); err != nil {
		t.Fatal(err)
	}
	reqs := rec.requests()
	if len(reqs) != 1 {
		t.Fatalf("got %d requests, want 1", len(reqs))
	}
	if ct := reqs[0].header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var body struct {
		Content string `json:"content"`
		Embeds  []struct {
			Title, Description, URL string
		} `json:"embeds"`
		AllowedMentions struct {
			Parse []string `json:"parse"`
		} `json:"allowed_mentions"`
	}
	if err := json.Unmarshal(reqs[0].body, &body); err != nil {
		t.Fatalf("body %s: %v", reqs[0].body, err)
	}
	if len(body.Embeds) != 1 {
		t.Fatalf("embeds = %d, want 1", len(body.Embeds))
	}
	e := body.Embeds[0]
	for _, want := range []string{"CSE 110", "12345", "Seats: 3 open of 150", "Ada Lovelace", "Fall 2026"} {
		if !strings.Contains(e.Title+"\n"+e.Description, want) {
			t.Errorf("embed lacks %q:\n%s\n%s", want, e.Title, e.Description)
		}
	}
	if e.URL != "https://app.example/go/asu?classNbr=12345&term=2267" {
		t.Errorf("embed url = %q", e.URL)
	}
	if body.AllowedMentions.Parse == nil || len(body.AllowedMentions.Parse) != 0 {
		t.Errorf("allowed_mentions.parse = %v, want empty list", body.AllowedMentions.Parse)
	}
}

func TestSlackSendsTextAndEnrollButton(t *testing.T) {
	t.Parallel()
	rec := &receiver{status: http.StatusOK}
	srv := channeltest.Start(t, rec)
	c := newClient(t, srv, channel.VAPID{})
	ch := channel.Channel{Kind: channel.KindSlack, Config: channel.Config{URL: srv.URL + "/services/T/B/x"}}
	if err := c.Send(context.Background(), ch, sampleAlert()); err != nil {
		t.Fatal(err)
	}
	reqs := rec.requests()
	if len(reqs) != 1 {
		t.Fatalf("got %d requests", len(reqs))
	}
	var body struct {
		Text   string `json:"text"`
		Blocks []struct {
			Type string `json:"type"`
			Text struct {
				Text string `json:"text"`
			} `json:"text"`
			Elements []struct {
				URL  string `json:"url"`
				Text struct {
					Text string `json:"text"`
				} `json:"text"`
			} `json:"elements"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal(reqs[0].body, &body); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(body.Text, "3 seats open: CSE 110 (#12345)") {
		t.Errorf("text = %q", body.Text)
	}
	if len(body.Blocks) != 2 || !strings.Contains(body.Blocks[0].Text.Text, "Instructor: Ada Lovelace") {
		t.Fatalf("blocks = %+v", body.Blocks)
	}
	if el := body.Blocks[1].Elements; len(el) != 1 || el[0].Text.Text != "Enroll" || !strings.HasPrefix(el[0].URL, "https://app.example/go/asu") {
		t.Errorf("button = %+v", el)
	}
}

func TestNtfySendsTitlePriorityClickAndToken(t *testing.T) {
	t.Parallel()
	rec := &receiver{status: http.StatusOK}
	srv := channeltest.Start(t, rec)
	c := newClient(t, srv, channel.VAPID{})
	m := sampleAlert()
	m.Section.Title = "Café — Über programming"
	m = channel.Alert(m.ID, catalog.EventSeatAvailable, m.Section, m.TermName, 1, m.URL, m.At)
	ch := channel.Channel{Kind: channel.KindNtfy, Config: channel.Config{URL: srv.URL + "/seats", Priority: 5}, Secret: "tk_secret"}
	if err := c.Send(context.Background(), ch, m); err != nil {
		t.Fatal(err)
	}
	reqs := rec.requests()
	if len(reqs) != 1 {
		t.Fatalf("got %d requests", len(reqs))
	}
	h := reqs[0].header
	title, err := new(mime.WordDecoder).DecodeHeader(h.Get("Title"))
	if err != nil || title != "1 seat open: CSE 110 (#12345)" {
		t.Errorf("Title = %q (%v)", title, err)
	}
	if h.Get("Priority") != "5" {
		t.Errorf("Priority = %q", h.Get("Priority"))
	}
	if h.Get("Click") != m.URL {
		t.Errorf("Click = %q", h.Get("Click"))
	}
	if h.Get("Authorization") != "Bearer tk_secret" {
		t.Errorf("Authorization = %q", h.Get("Authorization"))
	}
	if !strings.Contains(string(reqs[0].body), "Café — Über programming") {
		t.Errorf("body = %q", reqs[0].body)
	}
}

func TestWebhookIsSignedPerStandardWebhooks(t *testing.T) {
	t.Parallel()
	secret := channel.NewWebhookSecret()
	var mu sync.Mutex
	var verified []channel.WebhookPayload
	var verr error
	srv := channeltest.Start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if err := channeltest.VerifyWebhook(secret, r.Header, body, time.Now()); err != nil {
			verr = err
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.Header.Get("webhook-id") != "pmc-7-seat_available-1" {
			verr = errors.New("webhook-id = " + r.Header.Get("webhook-id"))
		}
		var p channel.WebhookPayload
		if err := json.Unmarshal(body, &p); err != nil {
			verr = err
		}
		verified = append(verified, p)
		w.WriteHeader(http.StatusOK)
	}))
	c := newClient(t, srv, channel.VAPID{})
	ch := channel.Channel{Kind: channel.KindWebhook, Config: channel.Config{URL: srv.URL + "/hook"}, Secret: secret}
	if err := c.Send(context.Background(), ch, sampleAlert()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	gotErr, gotVerified := verr, verified
	mu.Unlock()
	if gotErr != nil {
		t.Fatal(gotErr)
	}
	if len(gotVerified) != 1 {
		t.Fatalf("verified %d deliveries, want 1", len(gotVerified))
	}
	p := gotVerified[0]
	if p.Type != "pickmyclass.seat_available" || p.Data.ClassNbr != "12345" || p.Data.OpenSeats != 3 || p.Data.Instructors != "Ada Lovelace" {
		t.Errorf("payload = %+v", p)
	}

	// A receiver holding another secret rejects it: the signature is real.
	other := channel.Channel{Kind: channel.KindWebhook, Config: ch.Config, Secret: channel.NewWebhookSecret()}
	err := c.Send(context.Background(), other, sampleAlert())
	if class, _ := channel.Classify(err); class != channel.Permanent {
		t.Errorf("send with wrong secret: %v, want a permanent 401", err)
	}
}

func vapidKeys(t *testing.T) channel.VAPID {
	t.Helper()
	priv, pub, err := webpush.GenerateVAPIDKeys()
	if err != nil {
		t.Fatal(err)
	}
	return channel.VAPID{PublicKey: pub, PrivateKey: priv, Subject: "mailto:ops@pickmyclass.test"}
}

func TestWebPushPayloadDecryptsWithSubscriptionKeys(t *testing.T) {
	t.Parallel()
	vapid := vapidKeys(t)
	ep := channeltest.NewPushService(t, vapid.PublicKey, vapid.Subject)
	srv := channeltest.Start(t, ep)
	c := newClient(t, srv, vapid)
	if err := c.Send(context.Background(), ep.Channel(srv.URL+"/push/abc"), sampleAlert()); err != nil {
		t.Fatal(err)
	}
	if err := ep.Err(); err != nil {
		t.Fatal(err)
	}
	payloads := ep.Payloads()
	if len(payloads) != 1 {
		t.Fatalf("decrypted %d payloads, want 1", len(payloads))
	}
	got := payloads[0]
	if got.Title != "3 seats open: CSE 110 (#12345)" || !strings.Contains(got.Body, "Ada Lovelace") ||
		got.URL != "https://app.example/go/asu?classNbr=12345&term=2267" || got.Tag != "2267:12345" {
		t.Errorf("payload = %+v", got)
	}
}

func TestErrorClassification(t *testing.T) {
	t.Parallel()
	vapid := vapidKeys(t)
	tests := []struct {
		name       string
		kind       channel.Kind
		status     int
		header     http.Header
		want       channel.Class
		retryAfter time.Duration
	}{
		{"429 with seconds", channel.KindDiscord, 429, http.Header{"Retry-After": {"7"}}, channel.Retry, 7 * time.Second},
		{"429 with fraction", channel.KindDiscord, 429, http.Header{"Retry-After": {"1.5"}}, channel.Retry, 1500 * time.Millisecond},
		{"503 retried", channel.KindSlack, 503, nil, channel.Retry, 0},
		{"500 retried", channel.KindWebhook, 500, nil, channel.Retry, 0},
		{"404 webhook permanent", channel.KindDiscord, 404, nil, channel.Permanent, 0},
		{"400 permanent", channel.KindNtfy, 400, nil, channel.Permanent, 0},
		{"403 permanent", channel.KindSlack, 403, nil, channel.Permanent, 0},
		{"redirect not followed", channel.KindWebhook, 302, http.Header{"Location": {"https://127.0.0.1/"}}, channel.Permanent, 0},
		{"410 push gone", channel.KindWebPush, 410, nil, channel.Gone, 0},
		{"404 push gone", channel.KindWebPush, 404, nil, channel.Gone, 0},
		{"429 push retried", channel.KindWebPush, 429, http.Header{"Retry-After": {"30"}}, channel.Retry, 30 * time.Second},
		{"413 push permanent", channel.KindWebPush, 413, nil, channel.Permanent, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := &receiver{status: tc.status, header: tc.header}
			srv := channeltest.Start(t, rec)
			c := newClient(t, srv, vapid)
			ch := channel.Channel{Kind: tc.kind, Config: channel.Config{URL: srv.URL + "/x"}, Secret: channel.NewWebhookSecret()}
			if tc.kind == channel.KindWebPush {
				ch = channeltest.NewPushService(t, vapid.PublicKey, vapid.Subject).Channel(srv.URL + "/push")
			}
			err := c.Send(context.Background(), ch, sampleAlert())
			if err == nil {
				t.Fatal("send succeeded")
			}
			class, ra := channel.Classify(err)
			if class != tc.want || ra != tc.retryAfter {
				t.Errorf("Classify(%v) = %v, %v; want %v, %v", err, class, ra, tc.want, tc.retryAfter)
			}
			if n := len(rec.requests()); n != 1 {
				t.Errorf("receiver saw %d requests, want 1", n)
			}
		})
	}
}

func TestNetworkErrorIsRetried(t *testing.T) {
	t.Parallel()
	srv := channeltest.Start(t, &receiver{})
	c := newClient(t, srv, channel.VAPID{})
	url := srv.URL
	srv.Close()
	err := c.Send(context.Background(), channel.Channel{Kind: channel.KindSlack, Config: channel.Config{URL: url + "/services/x"}}, sampleAlert())
	if class, _ := channel.Classify(err); err == nil || class != channel.Retry {
		t.Errorf("send to a closed server: %v (class %v), want a retry", err, class)
	}
}
