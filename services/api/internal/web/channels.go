package web

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/channel"
	"github.com/pickmyclass/pickmyclass/pkg/store"
)

// channelView is a channel as the settings page and the API show it: never
// its secret, and only the host of a URL that carries a token.
type channelView struct {
	ID                 int64      `json:"id"`
	Kind               string     `json:"kind"`
	KindLabel          string     `json:"kind_label"`
	Label              string     `json:"label"`
	Destination        string     `json:"destination"`
	Events             []string   `json:"events"`
	Status             string     `json:"status"` // unverified, active or disabled
	Priority           int        `json:"priority,omitempty"`
	CreatedAt          time.Time  `json:"created_at"`
	VerifiedAt         *time.Time `json:"verified_at"`
	DisabledAt         *time.Time `json:"disabled_at"`
	DisabledReason     string     `json:"disabled_reason,omitempty"`
	LastSentAt         *time.Time `json:"last_sent_at"`
	SeatAvailable      bool       `json:"-"`
	InstructorAssigned bool       `json:"-"`
}

func newChannelView(c store.Channel) channelView {
	v := channelView{
		ID: c.ID, Kind: string(c.Kind), KindLabel: c.Kind.Label(), Label: c.Label, Destination: c.Destination(),
		Events: make([]string, 0, len(c.Events)), Priority: c.Config.Priority, CreatedAt: c.CreatedAt,
		VerifiedAt: c.VerifiedAt, DisabledAt: c.DisabledAt, DisabledReason: c.DisabledReason, LastSentAt: c.LastSentAt,
		SeatAvailable: c.Wants(catalog.EventSeatAvailable), InstructorAssigned: c.Wants(catalog.EventInstructorAssigned),
	}
	for _, e := range c.Events {
		v.Events = append(v.Events, string(e))
	}
	switch {
	case c.DisabledAt != nil:
		v.Status = "disabled"
	case c.VerifiedAt == nil:
		v.Status = "unverified"
	default:
		v.Status = "active"
	}
	return v
}

// channelInput is a new Discord, Slack, ntfy or webhook channel.
type channelInput struct {
	Kind     string   `json:"kind"`
	URL      string   `json:"url"`
	Label    string   `json:"label"`
	Priority int      `json:"priority"`
	Token    string   `json:"token"`
	Events   []string `json:"events"`
}

// pushInput is a browser's PushSubscription, as its toJSON() gives it.
type pushInput struct {
	Endpoint string `json:"endpoint"`
	Keys     struct {
		P256dh string `json:"p256dh"`
		Auth   string `json:"auth"`
	} `json:"keys"`
	// ExpirationTime is part of toJSON()'s shape; push services rarely
	// set it, and an expired subscription answers 404 or 410 anyway.
	ExpirationTime *float64 `json:"expirationTime"`
	Label          string   `json:"label"`
}

const maxLabel = 60

// parseEvents checks a channel's event choices; none given means all.
func parseEvents(in []string, f *fields) []catalog.Event {
	if in == nil {
		return store.AllEvents
	}
	var out []catalog.Event
	seen := map[catalog.Event]bool{}
	for _, s := range in {
		e := catalog.Event(s)
		if e != catalog.EventSeatAvailable && e != catalog.EventInstructorAssigned {
			f.add("events", "Choose seat_available or instructor_assigned.")
			return nil
		}
		if !seen[e] {
			seen[e] = true
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		f.add("events", "Choose at least one kind of alert, or remove the channel.")
	}
	return out
}

func checkLabel(label string, f *fields) string {
	label = strings.TrimSpace(label)
	if len(label) > maxLabel || !storable(label) {
		f.add("label", fmt.Sprintf("Use at most %d characters.", maxLabel))
	}
	return label
}

// channelSendError is the user's view of a failed send to their channel.
func channelSendError(k channel.Kind, err error) string {
	var e *channel.Error
	if errors.As(err, &e) && e.Status != 0 {
		return fmt.Sprintf("%s answered HTTP %d.", k.Label(), e.Status)
	}
	if errors.Is(err, channel.ErrForbiddenAddress) {
		return "That address leads to a private or local network, where alerts are never sent."
	}
	return fmt.Sprintf("%s could not be reached.", k.Label())
}

// verifyMessage sends ch its verification code.
func (a *app) verifyMessage(ctx context.Context, ch store.Channel, code string) error {
	id := fmt.Sprintf("pmc-verify-%d-%d", ch.ID, a.Now().UnixNano())
	return a.Channels.Send(ctx, channel.Channel{Kind: ch.Kind, Config: ch.Config, Secret: ch.Secret},
		channel.Verify(id, code, a.BaseURL+"/settings#channels", a.Now()))
}

// addChannel validates and stores a channel, then sends it its verification
// code. A destination that refuses the code for good is not kept. It
// returns the webhook signing secret, shown to the user once.
func (a *app) addChannel(ctx context.Context, userID int64, in channelInput) (store.Channel, string, error) {
	var f fields
	kind := channel.Kind(in.Kind)
	if !kind.Valid() || kind == channel.KindWebPush {
		f.add("kind", "Choose Discord, Slack, ntfy or Webhook.")
		return store.Channel{}, "", f.err()
	}
	label := checkLabel(in.Label, &f)
	events := parseEvents(in.Events, &f)
	cfg := channel.Config{}
	u, err := a.Channels.ValidateURL(ctx, kind, in.URL)
	if err != nil {
		f.add("url", strings.TrimPrefix(err.Error(), channel.ErrInvalidURL.Error()+": "))
	}
	cfg.URL = u
	secret := ""
	switch kind {
	case channel.KindNtfy:
		cfg.Priority = in.Priority
		if cfg.Priority == 0 {
			cfg.Priority = 4
		}
		if cfg.Priority < 1 || cfg.Priority > 5 {
			f.add("priority", "Choose a priority from 1 (min) to 5 (max).")
		}
		secret = strings.TrimSpace(in.Token)
		if len(secret) > 200 || strings.ContainsAny(secret, " \t\r\n") || !storable(secret) {
			f.add("token", "An access token is one word, at most 200 characters.")
		}
	case channel.KindWebhook:
		secret = channel.NewWebhookSecret()
	}
	if err := f.err(); err != nil {
		return store.Channel{}, "", err
	}
	code := channel.NewCode()
	ch, err := a.DB.CreateChannel(ctx, store.NewChannel{UserID: userID, Kind: kind, Label: label, Config: cfg,
		Secret: secret, Events: events, Code: code})
	if errors.Is(err, store.ErrLimitReached) {
		return store.Channel{}, "", errorf(http.StatusConflict, fmt.Sprintf("You have %d alert channels, the most allowed. Remove one to add another.", store.MaxChannels))
	}
	if err != nil {
		return store.Channel{}, "", err
	}
	if err := a.verifyMessage(ctx, ch, code); err != nil {
		if class, _ := channel.Classify(err); class != channel.Retry {
			if derr := a.DB.DeleteChannel(context.WithoutCancel(ctx), userID, ch.ID); derr != nil {
				return store.Channel{}, "", derr
			}
			return store.Channel{}, "", invalid(FieldError{Field: "url", Message: "We could not send the verification code there: " + channelSendError(kind, err)})
		}
		return ch, secret, &codeNotSent{ch: ch, secret: secret, err: err}
	}
	return ch, secret, nil
}

// codeNotSent means the channel was stored but its code could not be sent
// yet (a temporary failure): the user can ask for it again.
type codeNotSent struct {
	ch     store.Channel
	secret string
	err    error
}

func (e *codeNotSent) Error() string { return e.err.Error() }

// addPush stores a browser's push subscription as a verified channel: the
// browser made it for the signed-in user.
func (a *app) addPush(ctx context.Context, userID int64, in pushInput) (store.Channel, error) {
	var f fields
	label := checkLabel(in.Label, &f)
	endpoint, err := a.Channels.ValidateURL(ctx, channel.KindWebPush, in.Endpoint)
	if err != nil {
		f.add("endpoint", "The push service address is not allowed.")
	}
	if k, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(in.Keys.P256dh, "=")); err != nil || len(k) != 65 || k[0] != 4 {
		f.add("keys.p256dh", "Not a P-256 public key.")
	}
	if k, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(in.Keys.Auth, "=")); err != nil || len(k) != 16 {
		f.add("keys.auth", "Not a 16-byte auth secret.")
	}
	if a.Channels.PublicKey() == "" {
		return store.Channel{}, errorf(http.StatusServiceUnavailable, "browser push is not set up on this server")
	}
	if err := f.err(); err != nil {
		return store.Channel{}, err
	}
	ch, err := a.DB.CreateChannel(ctx, store.NewChannel{UserID: userID, Kind: channel.KindWebPush, Label: label,
		Config: channel.Config{Endpoint: endpoint, P256dh: in.Keys.P256dh}, Secret: in.Keys.Auth})
	if errors.Is(err, store.ErrLimitReached) {
		return store.Channel{}, errorf(http.StatusConflict, fmt.Sprintf("You have %d alert channels, the most allowed. Remove one to add another.", store.MaxChannels))
	}
	return ch, err
}

// ownChannel returns the signed-in user's channel named by the :id param.
func (a *app) ownChannel(c echo.Context) (store.Channel, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return store.Channel{}, errorf(http.StatusNotFound, "not found")
	}
	return a.DB.GetChannel(c.Request().Context(), currentUser(c).ID, id)
}

// testChannel sends a test alert to an active channel.
func (a *app) testChannel(ctx context.Context, ch store.Channel) error {
	if !ch.Active() {
		return errorf(http.StatusConflict, "Verify this channel before sending it a test alert.")
	}
	id := fmt.Sprintf("pmc-test-%d-%d", ch.ID, a.Now().UnixNano())
	err := a.Channels.Send(ctx, channel.Channel{Kind: ch.Kind, Config: ch.Config, Secret: ch.Secret},
		channel.Test(id, a.BaseURL+"/dashboard", a.Now()))
	if err != nil {
		return &Error{Status: http.StatusBadGateway, Message: "The test alert was not delivered: " + channelSendError(ch.Kind, err)}
	}
	return nil
}

// verifyChannel checks the code the user typed.
func (a *app) verifyChannel(ctx context.Context, userID int64, ch store.Channel, code string) error {
	code = strings.TrimSpace(code)
	err := a.DB.VerifyChannel(ctx, userID, ch.ID, code)
	if errors.Is(err, store.ErrBadCode) {
		return invalid(FieldError{Field: "code", Message: "That code is wrong or expired. Send a new one and try again."})
	}
	return err
}

// resendCode sends an unverified channel a new code.
func (a *app) resendCode(ctx context.Context, userID int64, ch store.Channel) error {
	if ch.VerifiedAt != nil {
		return errorf(http.StatusConflict, "This channel is already verified.")
	}
	code := channel.NewCode()
	if err := a.DB.SetChannelCode(ctx, userID, ch.ID, code); err != nil {
		return err
	}
	if err := a.verifyMessage(ctx, ch, code); err != nil {
		return &Error{Status: http.StatusBadGateway, Message: "The code was not delivered: " + channelSendError(ch.Kind, err)}
	}
	return nil
}

// ---- JSON API ----

func (a *app) apiListChannels(c echo.Context) error {
	cs, err := a.DB.ListChannels(c.Request().Context(), currentUser(c).ID)
	if err != nil {
		return err
	}
	out := make([]channelView, 0, len(cs))
	for _, ch := range cs {
		out = append(out, newChannelView(ch))
	}
	return c.JSON(http.StatusOK, map[string]any{"channels": out, "vapid_public_key": a.Channels.PublicKey()})
}

func (a *app) apiCreateChannel(c echo.Context) error {
	var in channelInput
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	ch, secret, err := a.addChannel(c.Request().Context(), currentUser(c).ID, in)
	sent := true
	var ns *codeNotSent
	if errors.As(err, &ns) {
		sent, err = false, nil
	}
	if err != nil {
		return err
	}
	body := map[string]any{"channel": newChannelView(ch), "verification_sent": sent}
	if secret != "" && ch.Kind == channel.KindWebhook {
		body["signing_secret"] = secret
	}
	return c.JSON(http.StatusCreated, body)
}

func (a *app) apiCreatePush(c echo.Context) error {
	var in pushInput
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	ch, err := a.addPush(c.Request().Context(), currentUser(c).ID, in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]any{"channel": newChannelView(ch)})
}

func (a *app) apiVerifyChannel(c echo.Context) error {
	ch, err := a.ownChannel(c)
	if err != nil {
		return err
	}
	var in struct {
		Code string `json:"code"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if err := a.verifyChannel(c.Request().Context(), currentUser(c).ID, ch, in.Code); err != nil {
		return err
	}
	ch, err = a.ownChannel(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"channel": newChannelView(ch)})
}

func (a *app) apiResendCode(c echo.Context) error {
	ch, err := a.ownChannel(c)
	if err != nil {
		return err
	}
	if err := a.resendCode(c.Request().Context(), currentUser(c).ID, ch); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"verification_sent": true})
}

func (a *app) apiTestChannel(c echo.Context) error {
	ch, err := a.ownChannel(c)
	if err != nil {
		return err
	}
	if err := a.testChannel(c.Request().Context(), ch); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"sent": true})
}

func (a *app) apiChannelEvents(c echo.Context) error {
	ch, err := a.ownChannel(c)
	if err != nil {
		return err
	}
	var in struct {
		Events []string `json:"events"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if in.Events == nil {
		in.Events = []string{}
	}
	var f fields
	events := parseEvents(in.Events, &f)
	if err := f.err(); err != nil {
		return err
	}
	if err := a.DB.SetChannelEvents(c.Request().Context(), currentUser(c).ID, ch.ID, events); err != nil {
		return err
	}
	ch, err = a.ownChannel(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"channel": newChannelView(ch)})
}

func (a *app) apiDeleteChannel(c echo.Context) error {
	ch, err := a.ownChannel(c)
	if err != nil {
		return err
	}
	if err := a.DB.DeleteChannel(c.Request().Context(), currentUser(c).ID, ch.ID); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// ---- HTML ----

// settingsFormErr re-renders the settings page with err's field errors.
func (a *app) settingsFormErr(c echo.Context, err error, form map[string]string) error {
	d, derr := a.settingsData(c)
	if derr != nil {
		return derr
	}
	return a.formErr(c, "settings", "Settings", err, form, d)
}

func (a *app) addChannelForm(c echo.Context) error {
	prio, _ := strconv.Atoi(c.FormValue("priority"))
	form, _ := c.FormParams()
	in := channelInput{Kind: c.FormValue("kind"), URL: c.FormValue("url"), Label: c.FormValue("label"),
		Priority: prio, Token: c.FormValue("token"), Events: form["events"]}
	if in.Events == nil {
		in.Events = []string{}
	}
	ctx := c.Request().Context()
	ch, secret, err := a.addChannel(ctx, currentUser(c).ID, in)
	flash := "Channel added. Enter the code we just sent there to start getting alerts."
	var ns *codeNotSent
	if errors.As(err, &ns) {
		err = nil
		flash = "Channel added, but the verification code could not be delivered yet: " + channelSendError(ns.ch.Kind, ns.err) + " Use “Send a new code” to try again."
	}
	if err != nil {
		return a.settingsFormErr(c, err, map[string]string{"kind": in.Kind, "url": in.URL, "label": in.Label, "token": in.Token})
	}
	if ch.Kind != channel.KindWebhook {
		return c.Redirect(http.StatusSeeOther, "/settings?m=channel-added#channels")
	}
	// The signing secret is shown once, on this response, never again.
	d, err := a.settingsData(c)
	if err != nil {
		return err
	}
	d.NewSecret = secret
	return a.render(c, http.StatusOK, "settings", pageData{Title: "Settings", Flash: flash, Data: d})
}

// channelForm runs do on the user's channel named by :id and redirects to
// the settings page with message m, or re-renders it with the error.
func (a *app) channelForm(m string, do func(c echo.Context, ch store.Channel) error) echo.HandlerFunc {
	return func(c echo.Context) error {
		ch, err := a.ownChannel(c)
		if err != nil {
			return err
		}
		if err := do(c, ch); err != nil {
			var e *Error
			if errors.As(err, &e) && len(e.Details) == 0 && e.Status == http.StatusBadGateway {
				e = &Error{Status: http.StatusUnprocessableEntity, Message: e.Message}
				err = e
			}
			return a.settingsFormErr(c, err, nil)
		}
		return c.Redirect(http.StatusSeeOther, "/settings?m="+m+"#channels")
	}
}

func (a *app) verifyChannelForm(c echo.Context, ch store.Channel) error {
	return a.verifyChannel(c.Request().Context(), currentUser(c).ID, ch, c.FormValue("code"))
}

func (a *app) resendCodeForm(c echo.Context, ch store.Channel) error {
	return a.resendCode(c.Request().Context(), currentUser(c).ID, ch)
}

func (a *app) testChannelForm(c echo.Context, ch store.Channel) error {
	return a.testChannel(c.Request().Context(), ch)
}

func (a *app) channelEventsForm(c echo.Context, ch store.Channel) error {
	form, _ := c.FormParams()
	var f fields
	events := parseEvents(append([]string{}, form["events"]...), &f)
	if err := f.err(); err != nil {
		return err
	}
	return a.DB.SetChannelEvents(c.Request().Context(), currentUser(c).ID, ch.ID, events)
}

func (a *app) deleteChannelForm(c echo.Context, ch store.Channel) error {
	return a.DB.DeleteChannel(c.Request().Context(), currentUser(c).ID, ch.ID)
}

// disabledChannels lists the user's channels turned off by a failure, for
// the dashboard's notice.
func (a *app) disabledChannels(ctx context.Context, userID int64) ([]channelView, error) {
	cs, err := a.DB.ListChannels(ctx, userID)
	if err != nil {
		return nil, err
	}
	var out []channelView
	for _, ch := range cs {
		if ch.DisabledAt != nil {
			out = append(out, newChannelView(ch))
		}
	}
	return out, nil
}

// exportChannels is the data download's list of channels, secrets left
// out.
func exportChannels(cs []store.ExportChannel) []map[string]any {
	out := make([]map[string]any, 0, len(cs))
	for _, c := range cs {
		out = append(out, map[string]any{
			"kind": c.Kind, "label": c.Label, "destination": c.Destination, "events": c.Events,
			"created_at": c.CreatedAt, "verified_at": c.VerifiedAt, "disabled_at": c.DisabledAt,
			"disabled_reason": c.DisabledReason, "last_sent_at": c.LastSentAt, "secret": "[redacted]",
		})
	}
	return out
}
