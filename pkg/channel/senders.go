package channel

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	webpush "github.com/SherClockHolmes/webpush-go"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
)

// postJSON posts v as JSON to url with extra headers.
func (c *Client) postJSON(ctx context.Context, url string, v any, header http.Header, gone404 bool) error {
	body, err := json.Marshal(v)
	if err != nil {
		return &Error{Class: Permanent, Err: err}
	}
	return c.post(ctx, url, "application/json", body, header, gone404)
}

func (c *Client) post(ctx context.Context, url, contentType string, body []byte, header http.Header, gone404 bool) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return &Error{Class: Permanent, Err: err}
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", contentType)
	return c.do(req, gone404)
}

// Discord: https://discord.com/developers/docs/resources/webhook#execute-webhook.
// allowed_mentions is empty so no text in a course title can ping anyone.
func (c *Client) sendDiscord(ctx context.Context, ch Channel, m Message) error {
	embed := map[string]any{
		"title":       m.Title,
		"description": m.Body,
		"color":       0x2e7d32,
	}
	if m.URL != "" {
		embed["url"] = m.URL
	}
	if !m.At.IsZero() {
		embed["timestamp"] = m.At.UTC().Format("2006-01-02T15:04:05Z")
	}
	return c.postJSON(ctx, ch.Config.URL, map[string]any{
		"username":         "PickMyClass",
		"content":          m.Title,
		"embeds":           []any{embed},
		"allowed_mentions": map[string]any{"parse": []string{}},
	}, nil, false)
}

// Slack: https://api.slack.com/messaging/webhooks. text is the notification
// fallback; the blocks carry the readable message.
func (c *Client) sendSlack(ctx context.Context, ch Channel, m Message) error {
	text := slackEscape(m.Title)
	blocks := []any{
		map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": "*" + text + "*\n" + slackEscape(m.Body)}},
	}
	if m.URL != "" {
		blocks = append(blocks, map[string]any{"type": "actions", "elements": []any{map[string]any{
			"type": "button", "text": map[string]any{"type": "plain_text", "text": buttonLabel(m)}, "url": m.URL,
		}}})
	}
	return c.postJSON(ctx, ch.Config.URL, map[string]any{"text": text, "blocks": blocks}, nil, false)
}

// slackEscape escapes the three characters Slack's mrkdwn treats as markup.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func buttonLabel(m Message) string {
	switch m.Event {
	case EventTest, EventVerify:
		return "Open PickMyClass"
	case string(catalog.EventSeatGone):
		return "View class"
	}
	return "Enroll"
}

// ntfy: https://docs.ntfy.sh/publish/. The message is the body; title,
// priority, click action and tags travel as headers, RFC 2047-encoded when
// not ASCII.
func (c *Client) sendNtfy(ctx context.Context, ch Channel, m Message) error {
	h := http.Header{}
	h.Set("Title", mime.QEncoding.Encode("utf-8", m.Title))
	prio := ch.Config.Priority
	if prio < 1 || prio > 5 {
		prio = 4
	}
	h.Set("Priority", strconv.Itoa(prio))
	if m.URL != "" {
		h.Set("Click", m.URL)
		h.Set("Actions", "view, "+buttonLabel(m)+", "+m.URL)
	}
	h.Set("Tags", "school")
	if ch.Secret != "" {
		h.Set("Authorization", "Bearer "+ch.Secret)
	}
	return c.post(ctx, ch.Config.URL, "text/plain; charset=utf-8", []byte(m.Body), h, false)
}

// WebhookPayload is the JSON body of a generic webhook.
type WebhookPayload struct {
	Type      string      `json:"type"`
	Timestamp string      `json:"timestamp"`
	Data      WebhookData `json:"data"`
}

// WebhookData is the event part of a webhook payload.
type WebhookData struct {
	Title       string `json:"title"`
	Text        string `json:"text"`
	URL         string `json:"url,omitempty"`
	Term        string `json:"term,omitempty"`
	TermName    string `json:"term_name,omitempty"`
	ClassNbr    string `json:"class_nbr,omitempty"`
	Subject     string `json:"subject,omitempty"`
	CatalogNbr  string `json:"catalog_nbr,omitempty"`
	CourseTitle string `json:"course_title,omitempty"`
	OpenSeats   int    `json:"open_seats"`
	Capacity    int    `json:"capacity,omitempty"`
	Instructors string `json:"instructors,omitempty"`
	Code        string `json:"code,omitempty"`
	// Kind is what the alert's watch asks for: "section", "course" or
	// "linked"; Filter narrows a course watch ({} when it does not).
	// Both are absent from test and verification messages.
	Kind   catalog.WatchKind `json:"kind,omitempty"`
	Filter *catalog.Filter   `json:"filter,omitempty"`
	// Sections are the sections the alert names: the watched section, a
	// course watch's sections that opened (or are full again), or a
	// linked watch's lecture followed by its open labs or recitations.
	Sections []WebhookSection `json:"sections,omitempty"`
}

// WebhookSection is one section a webhook alert names.
type WebhookSection struct {
	ClassNbr    string            `json:"class_nbr"`
	Section     string            `json:"section,omitempty"`
	Component   string            `json:"component,omitempty"`
	Title       string            `json:"title,omitempty"`
	OpenSeats   int               `json:"open_seats"`
	Capacity    int               `json:"capacity,omitempty"`
	Instructors string            `json:"instructors"`
	Meetings    []catalog.Meeting `json:"meetings,omitempty"`
	Location    string            `json:"location,omitempty"`
	Online      bool              `json:"online,omitempty"`
	URL         string            `json:"url,omitempty"`
}

// webhookSections lists the sections of m's alert.
func webhookSections(m Message) []WebhookSection {
	secs, urls := m.Watch.Sections, m.Watch.URLs
	if m.Watch.Kind == catalog.WatchSection || len(secs) == 0 {
		secs, urls = []catalog.Section{m.Section}, []string{m.URL}
	}
	out := make([]WebhookSection, len(secs))
	for i, s := range secs {
		open := s.OpenSeats()
		if general, ok := s.GeneralOpen(); ok {
			open = general
		}
		if m.Watch.Kind == catalog.WatchSection {
			open = m.OpenSeats
		}
		out[i] = WebhookSection{
			ClassNbr: s.ClassNbr, Section: s.SectionCode, Component: s.Component, Title: s.Title,
			OpenSeats: open, Capacity: s.Capacity, Instructors: Instructors(s), Meetings: s.Meetings,
			Location: s.Location, Online: s.Online,
		}
		if i < len(urls) {
			out[i].URL = urls[i]
		}
	}
	return out
}

// sendWebhook posts a JSON event signed per Standard Webhooks
// (https://www.standardwebhooks.com): webhook-id is the message ID, stable
// across retries, and webhook-signature is "v1," and the base64 HMAC-SHA256
// of "id.timestamp.body" under the secret.
func (c *Client) sendWebhook(ctx context.Context, ch Channel, m Message) error {
	now := c.now()
	p := WebhookPayload{
		Type:      "pickmyclass." + m.Event,
		Timestamp: now.UTC().Format("2006-01-02T15:04:05Z"),
		Data: WebhookData{
			Title: m.Title, Text: m.Body, URL: m.URL, Term: m.Section.Term, TermName: m.TermName,
			ClassNbr: m.Section.ClassNbr, Subject: m.Section.Subject, CatalogNbr: m.Section.CatalogNbr,
			CourseTitle: m.Section.Title, OpenSeats: m.OpenSeats, Capacity: m.Section.Capacity, Code: m.Code,
		},
	}
	if m.Section.ClassNbr != "" {
		p.Data.Instructors = Instructors(m.Section)
	}
	if m.Watch.Kind != "" {
		f := m.Watch.Filter
		p.Data.Kind, p.Data.Filter, p.Data.Sections = m.Watch.Kind, &f, webhookSections(m)
	}
	body, err := json.Marshal(p)
	if err != nil {
		return &Error{Class: Permanent, Err: err}
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	sig, err := Sign(ch.Secret, m.ID, ts, body)
	if err != nil {
		return &Error{Class: Permanent, Err: err}
	}
	h := http.Header{}
	h.Set("webhook-id", m.ID)
	h.Set("webhook-timestamp", ts)
	h.Set("webhook-signature", sig)
	return c.post(ctx, ch.Config.URL, "application/json", body, h, false)
}

// Sign returns the Standard Webhooks signature header value of one message.
func Sign(secret, id, timestamp string, body []byte) (string, error) {
	key, err := decodeSecret(secret)
	if err != nil {
		return "", err
	}
	mac := hmac.New(sha256.New, key)
	io.WriteString(mac, id+"."+timestamp+".")
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)), nil
}

func decodeSecret(secret string) ([]byte, error) {
	raw, ok := strings.CutPrefix(secret, secretPrefix)
	if !ok {
		return nil, errors.New("webhook secret lacks the whsec_ prefix")
	}
	key, err := base64.StdEncoding.DecodeString(raw)
	if err != nil || len(key) < 24 {
		return nil, errors.New("webhook secret is not 24 or more base64 bytes")
	}
	return key, nil
}

// PushPayload is the JSON the service worker receives in a push event.
type PushPayload struct {
	Title string `json:"title"`
	Body  string `json:"body"`
	URL   string `json:"url,omitempty"`
	Tag   string `json:"tag,omitempty"`
}

// sendWebPush encrypts the message for the subscription (RFC 8291,
// aes128gcm) and posts it to the push service with a VAPID signature
// (RFC 8292). A push service answers 404 or 410 for a subscription that no
// longer exists.
func (c *Client) sendWebPush(ctx context.Context, ch Channel, m Message) error {
	if !c.WebPushEnabled() {
		return &Error{Class: Retry, Err: errors.New("web push is not configured (VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY)")}
	}
	if !strings.HasPrefix(ch.Config.Endpoint, "https://") {
		return &Error{Class: Permanent, Err: errors.New("push endpoint is not an https URL")}
	}
	tag := m.Section.Key().String()
	if m.Section.ClassNbr == "" {
		tag = m.Event
	}
	payload, err := json.Marshal(PushPayload{Title: m.Title, Body: m.Body, URL: m.URL, Tag: tag})
	if err != nil {
		return &Error{Class: Permanent, Err: err}
	}
	sub := &webpush.Subscription{Endpoint: ch.Config.Endpoint, Keys: webpush.Keys{Auth: ch.Secret, P256dh: ch.Config.P256dh}}
	resp, err := webpush.SendNotificationWithContext(ctx, payload, sub, &webpush.Options{
		HTTPClient:      pushClient{c},
		Subscriber:      strings.TrimPrefix(c.vapid.Subject, "mailto:"),
		VAPIDPublicKey:  c.vapid.PublicKey,
		VAPIDPrivateKey: c.vapid.PrivateKey,
		TTL:             6 * 3600,
		Urgency:         webpush.UrgencyHigh,
		// A smaller record than the library's 4096 default keeps every
		// request small; the payload is a few hundred bytes.
		RecordSize: 2048,
	})
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return err
		}
		if resp == nil && isEncryptionError(err) {
			return &Error{Class: Permanent, Err: fmt.Errorf("push subscription keys: %w", err)}
		}
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	return classifyResponse(resp, body, true, c.now())
}

// isEncryptionError reports whether webpush failed before sending, on the
// subscription's keys: retrying cannot help.
func isEncryptionError(err error) bool {
	s := err.Error()
	return strings.Contains(s, "curve") || strings.Contains(s, "illegal base64") || errors.Is(err, webpush.ErrMaxPadExceeded)
}

// pushClient makes the push library's request through the guarded client.
type pushClient struct{ c *Client }

func (p pushClient) Do(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "https" {
		return nil, &Error{Class: Permanent, Err: errors.New("push endpoint is not an https URL")}
	}
	req.Header.Set("User-Agent", p.c.ua)
	resp, err := p.c.http.Do(req)
	if err != nil {
		if errors.Is(err, ErrForbiddenAddress) {
			return nil, &Error{Class: Permanent, Err: err}
		}
		return nil, &Error{Class: Retry, Err: err}
	}
	return resp, nil
}
