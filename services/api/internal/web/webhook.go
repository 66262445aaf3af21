package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/rs/zerolog"
)

// webhookTolerance bounds the age of a signed webhook, against replays.
const webhookTolerance = 5 * time.Minute

var errBadSignature = errorf(http.StatusUnauthorized, "invalid signature")

// readBody reads the raw body, which the signature covers.
func readBody(c echo.Context) ([]byte, error) {
	b, err := io.ReadAll(c.Request().Body)
	if err != nil {
		if tooLarge(err) {
			return nil, errorf(http.StatusRequestEntityTooLarge, "request body too large")
		}
		return nil, errorf(http.StatusBadRequest, "could not read the body")
	}
	return b, nil
}

// verifySvix checks a Svix signature as Resend sends it: svix-signature
// holds space-separated "v1,<base64 HMAC-SHA256>" values over
// "{svix-id}.{svix-timestamp}.{body}", keyed with the base64 secret after
// "whsec_".
func verifySvix(secret string, h http.Header, body []byte, now time.Time) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil || len(key) == 0 {
		return errors.New("webhook secret is not whsec_<base64>")
	}
	id, ts, sigs := h.Get("svix-id"), h.Get("svix-timestamp"), h.Get("svix-signature")
	if id == "" || ts == "" || sigs == "" {
		return errBadSignature
	}
	if err := checkTimestamp(ts, now); err != nil {
		return err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	for _, s := range strings.Fields(sigs) {
		v, sig, ok := strings.Cut(s, ",")
		if !ok || v != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return errBadSignature
}

func checkTimestamp(ts string, now time.Time) error {
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errBadSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > webhookTolerance || d < -webhookTolerance {
		return errorf(http.StatusUnauthorized, "signature timestamp out of tolerance")
	}
	return nil
}

// resendEvent is the part of a Resend webhook event we act on.
type resendEvent struct {
	Type string `json:"type"`
	Data struct {
		To         []string `json:"to"`
		BounceType string   `json:"bounce_type"`
		Bounce     struct {
			Type string `json:"type"`
		} `json:"bounce"`
	} `json:"data"`
}

// resendWebhook handles Resend's email.bounced and email.complained
// events: a hard (permanent) bounce or a complaint stops all mail to the
// address. Unknown addresses and other events are acknowledged.
func (a *app) resendWebhook(c echo.Context) error {
	if a.ResendWebhookSecret == "" {
		return errorf(http.StatusNotFound, "not found")
	}
	body, err := readBody(c)
	if err != nil {
		return err
	}
	if err := verifySvix(a.ResendWebhookSecret, c.Request().Header, body, a.Now()); err != nil {
		return err
	}
	var ev resendEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		return errorf(http.StatusBadRequest, "invalid JSON body")
	}
	hard := strings.EqualFold(ev.Data.BounceType, "hard") || strings.EqualFold(ev.Data.Bounce.Type, "permanent")
	switch {
	case ev.Type == "email.bounced" && hard:
		return a.applyMailEvent(c, "bounce", ev.Data.To)
	case ev.Type == "email.complained":
		return a.applyMailEvent(c, "complaint", ev.Data.To)
	}
	return c.JSON(http.StatusOK, map[string]any{"ok": true, "ignored": ev.Type})
}

// genericEvent is the provider-neutral webhook format:
// {"type": "bounce"|"complaint", "email": "...", "permanent": true}.
type genericEvent struct {
	Type      string `json:"type"`
	Email     string `json:"email"`
	Permanent bool   `json:"permanent"`
}

// genericWebhook accepts the neutral format signed with
// X-PMC-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">.
func (a *app) genericWebhook(c echo.Context) error {
	if a.EmailWebhookSecret == "" {
		return errorf(http.StatusNotFound, "not found")
	}
	body, err := readBody(c)
	if err != nil {
		return err
	}
	var ts, sig string
	for _, part := range strings.Split(c.Request().Header.Get("X-PMC-Signature"), ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	if ts == "" || sig == "" {
		return errBadSignature
	}
	if err := checkTimestamp(ts, a.Now()); err != nil {
		return err
	}
	mac := hmac.New(sha256.New, []byte(a.EmailWebhookSecret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	got, err := hex.DecodeString(sig)
	if err != nil || !hmac.Equal(got, mac.Sum(nil)) {
		return errBadSignature
	}
	var ev genericEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		return errorf(http.StatusBadRequest, "invalid JSON body")
	}
	var f fields
	switch ev.Type {
	case "bounce", "complaint":
	default:
		f.add("type", `Use "bounce" or "complaint".`)
	}
	if ev.Email == "" {
		f.add("email", "Give the recipient's address.")
	} else if !storable(ev.Email) || len(ev.Email) > 254 {
		f.add("email", "That is not an email address.")
	}
	if err := f.err(); err != nil {
		return err
	}
	if ev.Type == "bounce" && !ev.Permanent {
		return c.JSON(http.StatusOK, map[string]any{"ok": true, "ignored": "soft bounce"})
	}
	return a.applyMailEvent(c, ev.Type, []string{ev.Email})
}

func (a *app) applyMailEvent(c echo.Context, kind string, to []string) error {
	ctx := c.Request().Context()
	for _, addr := range to {
		if !storable(addr) || len(addr) > 254 {
			// No account can have this address: acknowledge it like any
			// unknown one, so the provider does not retry it for ever.
			zerolog.Ctx(ctx).Info().Str("kind", kind).Msg("mail event for an impossible address")
			continue
		}
		var err error
		if kind == "bounce" {
			err = a.DB.MarkBounced(ctx, addr)
		} else {
			err = a.DB.MarkComplained(ctx, addr)
		}
		if isNotFound(err) {
			zerolog.Ctx(ctx).Info().Str("kind", kind).Msg("mail event for an unknown address")
			continue
		}
		if err != nil {
			return err
		}
		if err := a.DB.Audit(ctx, 0, "mail."+kind, "email:"+addr, nil); err != nil {
			return err
		}
	}
	return c.JSON(http.StatusOK, map[string]any{"ok": true})
}
