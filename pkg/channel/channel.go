// Package channel delivers seat alerts beside email: web push, Discord and
// Slack incoming webhooks, ntfy topics and signed generic webhooks.
//
// Every request goes to a URL a user typed, so every request is made through
// one SSRF guard: the dialer checks the address it is about to connect to,
// after DNS resolution, and refuses loopback, private, link-local, CGNAT,
// multicast and unspecified addresses in every IPv4 and IPv6 spelling.
// Channel URLs are also validated when saved (HTTPS only; Discord and Slack
// only on their official hosts), but the check at send time is the one that
// protects: DNS can change its answer in between.
//
// A failed send is classified for the caller: retry later (network errors,
// 5xx, 429 with its Retry-After), the subscription is gone (404 or 410 from
// a push service), or permanent (any other 4xx: the channel is broken until
// its owner fixes it).
package channel

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Kind is the kind of a channel.
type Kind string

// Kinds of channels.
const (
	KindWebPush Kind = "webpush"
	KindDiscord Kind = "discord"
	KindSlack   Kind = "slack"
	KindNtfy    Kind = "ntfy"
	KindWebhook Kind = "webhook"
)

// Kinds lists every kind, in the order the settings page shows them.
var Kinds = []Kind{KindWebPush, KindDiscord, KindSlack, KindNtfy, KindWebhook}

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool {
	for _, x := range Kinds {
		if x == k {
			return true
		}
	}
	return false
}

// Label is the kind's name for people.
func (k Kind) Label() string {
	switch k {
	case KindWebPush:
		return "Browser push"
	case KindDiscord:
		return "Discord"
	case KindSlack:
		return "Slack"
	case KindNtfy:
		return "ntfy"
	case KindWebhook:
		return "Webhook"
	}
	return string(k)
}

// Config is what a channel stores besides its secret, as JSON.
type Config struct {
	// URL is the webhook or topic URL (Discord, Slack, ntfy, webhook).
	URL string `json:"url,omitempty"`
	// Priority is ntfy's message priority, 1 (min) to 5 (max); 0 means 4.
	Priority int `json:"priority,omitempty"`
	// Endpoint and P256dh are the web push subscription; its auth secret
	// is the channel's secret.
	Endpoint string `json:"endpoint,omitempty"`
	P256dh   string `json:"p256dh,omitempty"`
}

// Channel is one destination of alerts.
type Channel struct {
	Kind   Kind
	Config Config
	// Secret is the webhook signing secret (whsec_…), the ntfy access
	// token (may be empty) or the push subscription's auth secret.
	Secret string
}

// Class tells what to do about a failed send.
type Class int

// Classes of failed sends.
const (
	// Retry: a temporary failure; send again later, no sooner than
	// RetryAfter when set.
	Retry Class = iota
	// Permanent: the destination refuses the message and will keep doing
	// so; disable the channel.
	Permanent
	// Gone: the push subscription no longer exists; remove it.
	Gone
)

func (c Class) String() string {
	switch c {
	case Permanent:
		return "permanent"
	case Gone:
		return "gone"
	}
	return "retry"
}

// Error is a failed send.
type Error struct {
	Class      Class
	Status     int           // HTTP status, 0 when no response came
	RetryAfter time.Duration // the server's Retry-After, if any
	Err        error
}

func (e *Error) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("%s: HTTP %d: %v", e.Class, e.Status, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Class, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Classify returns the class of a send error and the wait the server asked
// for. An error that is not an *Error is temporary.
func Classify(err error) (Class, time.Duration) {
	var e *Error
	if errors.As(err, &e) {
		return e.Class, e.RetryAfter
	}
	return Retry, 0
}

// VAPID is the application server's identity for web push (RFC 8292).
type VAPID struct {
	PublicKey  string // base64url, uncompressed P-256 point
	PrivateKey string // base64url
	// Subject is a mailto: or https: URL the push service can contact.
	Subject string
}

// Check reports everything wrong with a VAPID configuration read from
// VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY and VAPID_SUBJECT. Both keys unset is
// fine: web push is then off.
func (v VAPID) Check() error {
	if v.PublicKey == "" && v.PrivateKey == "" {
		return nil
	}
	var errs []error
	if v.PublicKey == "" || v.PrivateKey == "" {
		errs = append(errs, errors.New("VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY are set together (generate them with: ops vapid generate)"))
	}
	if k, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(v.PublicKey, "=")); v.PublicKey != "" && (err != nil || len(k) != 65 || k[0] != 4) {
		errs = append(errs, errors.New("VAPID_PUBLIC_KEY is not a base64url uncompressed P-256 public key"))
	}
	if k, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(v.PrivateKey, "=")); v.PrivateKey != "" && (err != nil || len(k) != 32) {
		errs = append(errs, errors.New("VAPID_PRIVATE_KEY is not a base64url 32-byte P-256 private key"))
	}
	if !strings.HasPrefix(v.Subject, "mailto:") && !strings.HasPrefix(v.Subject, "https://") {
		errs = append(errs, fmt.Errorf("VAPID_SUBJECT must be a mailto: or https: URL, got %q", v.Subject))
	}
	return errors.Join(errs...)
}

// Options configure a Client.
type Options struct {
	// Timeout bounds one request, connection included. Default 10s.
	Timeout time.Duration
	// Resolver looks up host names; nil uses the system resolver. Whatever
	// it answers, the dialer refuses forbidden addresses.
	Resolver Resolver
	// RootCAs are the certificate authorities trusted for HTTPS; nil
	// uses the system's.
	RootCAs *x509.CertPool
	// VAPID signs web push requests; web push is refused without it.
	VAPID VAPID
	// UserAgent is sent with every request.
	UserAgent string
	// Now is the clock for webhook timestamps; nil uses time.Now.
	Now func() time.Time
}

// Client sends alerts. It is safe for concurrent use.
type Client struct {
	http     *http.Client
	resolver Resolver
	vapid    VAPID
	ua       string
	now      func() time.Time
}

// maxResponse bounds how much of a response body is read.
const maxResponse = 64 << 10

// New returns a Client whose every request passes the SSRF guard.
func New(o Options) *Client {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.UserAgent == "" {
		o.UserAgent = "PickMyClass-Alerts/1.0"
	}
	d := newGuardedDialer(o.Resolver, o.Timeout)
	tr := &http.Transport{
		// No proxy: a proxy would make the connection the guard checks
		// one to the proxy, not to the user's host.
		Proxy:               nil,
		DialContext:         d.DialContext,
		TLSClientConfig:     &tls.Config{RootCAs: o.RootCAs, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: o.Timeout,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   true,
	}
	return &Client{
		http: &http.Client{
			Transport: tr,
			Timeout:   o.Timeout,
			// A redirect would be a second user-controlled destination;
			// webhook endpoints answer where they were told to.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		resolver: o.Resolver,
		vapid:    o.VAPID,
		ua:       o.UserAgent,
		now:      o.Now,
	}
}

// WebPushEnabled reports whether the client can send web push.
func (c *Client) WebPushEnabled() bool {
	return c.vapid.PublicKey != "" && c.vapid.PrivateKey != ""
}

// PublicKey is the VAPID public key browsers subscribe with; empty when web
// push is not configured.
func (c *Client) PublicKey() string {
	if !c.WebPushEnabled() {
		return ""
	}
	return c.vapid.PublicKey
}

// Send delivers m to ch. A failure is an *Error whose class tells the caller
// what to do.
func (c *Client) Send(ctx context.Context, ch Channel, m Message) error {
	var err error
	switch ch.Kind {
	case KindDiscord:
		err = c.sendDiscord(ctx, ch, m)
	case KindSlack:
		err = c.sendSlack(ctx, ch, m)
	case KindNtfy:
		err = c.sendNtfy(ctx, ch, m)
	case KindWebhook:
		err = c.sendWebhook(ctx, ch, m)
	case KindWebPush:
		err = c.sendWebPush(ctx, ch, m)
	default:
		return &Error{Class: Permanent, Err: fmt.Errorf("unknown channel kind %q", ch.Kind)}
	}
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	if errors.Is(err, ErrForbiddenAddress) {
		return &Error{Class: Permanent, Err: err}
	}
	return &Error{Class: Retry, Err: err}
}

// do sends req and classifies its outcome. gone404 makes 404 and 410 mean
// Gone (push services) rather than Permanent.
func (c *Client) do(req *http.Request, gone404 bool) error {
	if req.URL.Scheme != "https" {
		return &Error{Class: Permanent, Err: fmt.Errorf("%s is not an https URL", req.URL.Redacted())}
	}
	req.Header.Set("User-Agent", c.ua)
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, ErrForbiddenAddress) {
			return &Error{Class: Permanent, Err: err}
		}
		return &Error{Class: Retry, Err: err}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	return classifyResponse(resp, body, gone404, c.now())
}

func classifyResponse(resp *http.Response, body []byte, gone404 bool, now time.Time) error {
	code := resp.StatusCode
	if code >= 200 && code < 300 {
		return nil
	}
	e := &Error{Status: code, Err: fmt.Errorf("%s", snippet(body))}
	switch {
	case code == http.StatusTooManyRequests:
		e.Class = Retry
		e.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), now)
	case code >= 500 || code == http.StatusRequestTimeout:
		e.Class = Retry
		e.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), now)
	case gone404 && (code == http.StatusNotFound || code == http.StatusGone):
		e.Class = Gone
	default:
		// 3xx (redirects are not followed) and every other 4xx.
		e.Class = Permanent
	}
	return e
}

// retryAfter parses a Retry-After value: delay seconds (Discord sends
// fractions) or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s > 0 {
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// snippet is the start of a response body, for error messages.
func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	if s == "" {
		return "empty response"
	}
	return s
}
