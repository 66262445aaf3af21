package channel_test

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	webpush "github.com/SherClockHolmes/webpush-go"
	"golang.org/x/crypto/hkdf"

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

// verifyStandardWebhook checks a request the way a Standard Webhooks
// receiver does, independently of channel.Sign.
func verifyStandardWebhook(secret string, h http.Header, body []byte, now time.Time) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	id, ts := h.Get("webhook-id"), h.Get("webhook-timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return err
	}
	if d := now.Sub(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return errors.New("timestamp outside tolerance")
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	for _, sig := range strings.Fields(h.Get("webhook-signature")) {
		v, b64, ok := strings.Cut(sig, ",")
		if !ok || v != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return errors.New("no valid signature")
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
		if err := verifyStandardWebhook(secret, r.Header, body, time.Now()); err != nil {
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

// pushEndpoint is a push service that decrypts what it receives with the
// subscription's private key and auth secret (RFC 8291) and checks the
// VAPID signature (RFC 8292).
type pushEndpoint struct {
	priv  *ecdh.PrivateKey
	auth  []byte
	vapid *ecdsa.PublicKey

	mu       sync.Mutex
	payloads []channel.PushPayload
	errs     []error
	status   int
}

func newPushEndpoint(t *testing.T, vapidPublic string) *pushEndpoint {
	t.Helper()
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	auth := make([]byte, 16)
	_, _ = rand.Read(auth)
	raw, err := base64.RawURLEncoding.DecodeString(vapidPublic)
	if err != nil {
		t.Fatal(err)
	}
	x, y := elliptic.Unmarshal(elliptic.P256(), raw) //nolint:staticcheck // the test needs the raw point
	return &pushEndpoint{priv: priv, auth: auth, vapid: &ecdsa.PublicKey{Curve: elliptic.P256(), X: x, Y: y}}
}

func (p *pushEndpoint) channel(endpoint string) channel.Channel {
	return channel.Channel{Kind: channel.KindWebPush, Config: channel.Config{
		Endpoint: endpoint, P256dh: base64.RawURLEncoding.EncodeToString(p.priv.PublicKey().Bytes()),
	}, Secret: base64.RawURLEncoding.EncodeToString(p.auth)}
}

func (p *pushEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.status != 0 {
		w.WriteHeader(p.status)
		return
	}
	if err := p.checkVAPID(r); err != nil {
		p.errs = append(p.errs, err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if r.Header.Get("Content-Encoding") != "aes128gcm" || r.Header.Get("TTL") == "" {
		p.errs = append(p.errs, errors.New("missing Content-Encoding or TTL"))
	}
	plain, err := p.decrypt(body)
	if err != nil {
		p.errs = append(p.errs, err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	var pl channel.PushPayload
	if err := json.Unmarshal(plain, &pl); err != nil {
		p.errs = append(p.errs, err)
	}
	p.payloads = append(p.payloads, pl)
	w.WriteHeader(http.StatusCreated)
}

// decrypt undoes RFC 8291 aes128gcm content encoding.
func (p *pushEndpoint) decrypt(body []byte) ([]byte, error) {
	if len(body) < 21 {
		return nil, errors.New("short body")
	}
	salt, rs, idlen := body[:16], binary.BigEndian.Uint32(body[16:20]), int(body[20])
	if len(body) < 21+idlen || rs < 18 {
		return nil, errors.New("bad header")
	}
	asPublic, ciphertext := body[21:21+idlen], body[21+idlen:]
	asKey, err := ecdh.P256().NewPublicKey(asPublic)
	if err != nil {
		return nil, err
	}
	shared, err := p.priv.ECDH(asKey)
	if err != nil {
		return nil, err
	}
	info := append([]byte("WebPush: info\x00"), p.priv.PublicKey().Bytes()...)
	info = append(info, asPublic...)
	ikm := make([]byte, 32)
	if _, err := io.ReadFull(hkdf.New(sha256.New, shared, p.auth, info), ikm); err != nil {
		return nil, err
	}
	cek := make([]byte, 16)
	if _, err := io.ReadFull(hkdf.New(sha256.New, ikm, salt, []byte("Content-Encoding: aes128gcm\x00")), cek); err != nil {
		return nil, err
	}
	nonce := make([]byte, 12)
	if _, err := io.ReadFull(hkdf.New(sha256.New, ikm, salt, []byte("Content-Encoding: nonce\x00")), nonce); err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	if uint32(len(ciphertext)) > rs {
		return nil, errors.New("more than one record")
	}
	plain, err := gcm.Open(nil, nonce, ciphertext, nil)
	if err != nil {
		return nil, err
	}
	// Strip the padding: zeros after the last record's delimiter 0x02.
	i := len(plain) - 1
	for i >= 0 && plain[i] == 0 {
		i--
	}
	if i < 0 || plain[i] != 2 {
		return nil, errors.New("no last-record delimiter")
	}
	return plain[:i], nil
}

// checkVAPID verifies "vapid t=<JWT>, k=<key>": the key is ours and the
// ES256 signature holds.
func (p *pushEndpoint) checkVAPID(r *http.Request) error {
	v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "vapid ")
	if !ok {
		return errors.New("no vapid authorization")
	}
	var tok string
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if s, ok := strings.CutPrefix(part, "t="); ok {
			tok = s
		}
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return errors.New("malformed JWT")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return errors.New("malformed JWT signature")
	}
	h := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ecdsa.Verify(p.vapid, h[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		return errors.New("VAPID signature does not verify")
	}
	claims, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return err
	}
	var c struct{ Aud, Sub string }
	if err := json.Unmarshal(claims, &c); err != nil {
		return err
	}
	if c.Aud != "https://"+r.Host || c.Sub != "mailto:ops@pickmyclass.test" {
		return errors.New("claims aud=" + c.Aud + " sub=" + c.Sub)
	}
	return nil
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
	ep := newPushEndpoint(t, vapid.PublicKey)
	srv := channeltest.Start(t, ep)
	c := newClient(t, srv, vapid)
	if err := c.Send(context.Background(), ep.channel(srv.URL+"/push/abc"), sampleAlert()); err != nil {
		t.Fatal(err)
	}
	ep.mu.Lock()
	defer ep.mu.Unlock()
	if len(ep.errs) > 0 {
		t.Fatal(errors.Join(ep.errs...))
	}
	if len(ep.payloads) != 1 {
		t.Fatalf("decrypted %d payloads, want 1", len(ep.payloads))
	}
	got := ep.payloads[0]
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
				ch = newPushEndpoint(t, vapid.PublicKey).channel(srv.URL + "/push")
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
