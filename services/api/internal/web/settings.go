package web

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pickmyclass/pickmyclass/pkg/store"
)

// deletionGrace is how long a deleted account's row (email, consents) is
// kept before it is purged; its watches with their alert history, sessions
// and tokens go at once.
const deletionGrace = 30 * 24 * time.Hour

func (a *app) settingsPage(c echo.Context) error {
	d, err := a.settingsData(c)
	if err != nil {
		return err
	}
	return a.render(c, http.StatusOK, "settings", pageData{Title: "Settings", Flash: settingsFlash(c.QueryParam("m")), Data: d})
}

// settingsData is what the settings page shows besides the user: the
// user's sessions and alert channels.
type settingsData struct {
	Sessions       []sessionView
	Channels       []channelView
	MaxChannels    int
	VAPIDPublicKey string
	// NewSecret is a new webhook's signing secret, shown this once.
	NewSecret string
	// AlertsPaused is whether every alert is paused now.
	AlertsPaused bool
}

func (a *app) settingsData(c echo.Context) (settingsData, error) {
	d := settingsData{MaxChannels: store.MaxChannels, VAPIDPublicKey: a.Channels.PublicKey(), AlertsPaused: currentUser(c).AlertsPaused(a.Now())}
	var err error
	if d.Sessions, err = a.sessions(c); err != nil {
		return d, err
	}
	cs, err := a.DB.ListChannels(c.Request().Context(), currentUser(c).ID)
	if err != nil {
		return d, err
	}
	for _, ch := range cs {
		d.Channels = append(d.Channels, newChannelView(ch))
	}
	return d, nil
}

// sessionView is a session as the user sees it.
type sessionView struct {
	ID         int64     `json:"id"`
	SignedInAt time.Time `json:"signed_in_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	UserAgent  string    `json:"user_agent"`
	IP         string    `json:"ip"`
	Current    bool      `json:"current"`
}

func (a *app) sessions(c echo.Context) ([]sessionView, error) {
	current, _ := c.Get(ctxSession).([]byte)
	ss, err := a.DB.ListSessions(c.Request().Context(), currentUser(c).ID, current, a.Now())
	if err != nil {
		return nil, err
	}
	out := make([]sessionView, len(ss))
	for i, s := range ss {
		out[i] = sessionView{ID: s.Handle, SignedInAt: s.CreatedAt, LastSeenAt: s.LastSeenAt, ExpiresAt: s.ExpiresAt,
			UserAgent: s.UserAgent, IP: s.IP, Current: s.Current}
	}
	return out, nil
}

// revokeSession signs one of the user's sessions out; revoking the current
// one is signing out.
func (a *app) revokeSession(c echo.Context) error {
	handle, err := parseID(c.Param("handle"))
	if err != nil {
		return err
	}
	ss, err := a.sessions(c)
	if err != nil {
		return err
	}
	for _, s := range ss {
		if s.ID == handle && s.Current {
			return a.endSession(c)
		}
	}
	err = a.DB.RevokeSession(c.Request().Context(), currentUser(c).ID, handle)
	if isNotFound(err) {
		return errorf(http.StatusNotFound, "not found")
	}
	return err
}

func (a *app) apiSessions(c echo.Context) error {
	ss, err := a.sessions(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"sessions": ss})
}

func (a *app) apiRevokeSession(c echo.Context) error {
	if err := a.revokeSession(c); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (a *app) revokeSessionForm(c echo.Context) error {
	if err := a.revokeSession(c); err != nil {
		return err
	}
	if currentUser(c) == nil {
		return c.Redirect(http.StatusSeeOther, "/login?m=out")
	}
	return c.Redirect(http.StatusSeeOther, "/settings?m=revoked")
}

func settingsFlash(key string) string {
	return map[string]string{
		"on":       "Alert emails are on.",
		"off":      "Alert emails are off. Your watches stay; turn alerts back on any time.",
		"password": "Your password was changed; your other sessions were signed out.",
		"revoked":  "That session is signed out.",

		"channel-added":    "Channel added. Enter the code we just sent there to start getting alerts.",
		"channel-verified": "Channel verified. Seat alerts will arrive there too.",
		"code-sent":        "A new code is on its way.",
		"channel-test":     "Test alert sent. Check that it arrived.",
		"channel-events":   "Your choices for that channel were saved.",
		"channel-removed":  "The channel was removed.",
		"push-added":       "Browser push is on for this browser.",

		"alerts-paused":  "Every alert is paused. Your watches are still checked; you can resume any time.",
		"alerts-resumed": "Alerts are on again.",
		"pause-invalid":  "Choose a day in the coming year on which alerts resume.",
	}[key]
}

func (a *app) notificationsForm(c echo.Context) error {
	on := c.FormValue("enabled") == "true"
	if err := a.DB.SetNotifications(c.Request().Context(), currentUser(c).ID, on); err != nil {
		return err
	}
	m := "off"
	if on {
		m = "on"
	}
	return c.Redirect(http.StatusSeeOther, "/settings?m="+m)
}

func (a *app) apiNotifications(c echo.Context) error {
	var in struct {
		Enabled *bool `json:"enabled"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if in.Enabled == nil {
		return invalid(FieldError{Field: "enabled", Message: "Give true or false."})
	}
	if err := a.DB.SetNotifications(c.Request().Context(), currentUser(c).ID, *in.Enabled); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]bool{"notifications_enabled": *in.Enabled})
}

func (a *app) passwordForm(c echo.Context) error {
	in := passwordInput{CurrentPassword: c.FormValue("current_password"), NewPassword: c.FormValue("new_password"), ConfirmPassword: c.FormValue("confirm_password")}
	if err := a.changePassword(c, in); err != nil {
		return a.settingsFormErr(c, err, nil)
	}
	return c.Redirect(http.StatusSeeOther, "/settings?m=password")
}

// settingsErr re-renders the settings page with the field errors of err.
// deleteAccount checks the confirmation and the password, then deletes.
func (a *app) deleteAccount(c echo.Context, confirm, password string) error {
	u := currentUser(c)
	var f fields
	if confirm != "DELETE" {
		f.add("confirm", "Type DELETE to confirm.")
	}
	ok, err := a.currentPasswordOK(c, u, password)
	if err != nil {
		return err
	}
	if !ok {
		f.add("password", "Your password is not right.")
	}
	if err := f.err(); err != nil {
		return err
	}
	if err := a.DB.DeleteAccount(c.Request().Context(), u.ID); err != nil {
		return err
	}
	c.SetCookie(a.cookie(sessionCookie, "", -1))
	return nil
}

func (a *app) deleteAccountForm(c echo.Context) error {
	if err := a.deleteAccount(c, c.FormValue("confirm"), c.FormValue("password")); err != nil {
		return a.settingsFormErr(c, err, nil)
	}
	return c.Redirect(http.StatusSeeOther, "/login?m=deleted")
}

func (a *app) apiDeleteAccount(c echo.Context) error {
	var in struct {
		Confirm  string `json:"confirm"`
		Password string `json:"password"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if err := a.deleteAccount(c, in.Confirm, in.Password); err != nil {
		return err
	}
	now := a.Now().UTC()
	return c.JSON(http.StatusOK, map[string]any{
		"deleted_at": now, "purge_after": now.Add(deletionGrace),
		"message": "Your account is deleted, with its watches and alert history. Its record (email address and consents) is purged after 30 days.",
	})
}

// apiExport downloads everything stored about the user as JSON.
func (a *app) apiExport(c echo.Context) error {
	u := currentUser(c)
	x, err := a.DB.ExportUser(c.Request().Context(), u.ID)
	if err != nil {
		return err
	}
	type notification struct {
		Term     string `json:"term"`
		ClassNbr string `json:"class_nbr"`
		Event    string `json:"event"`
		// Sections are what a course or linked watch's alert named.
		Sections  []string   `json:"sections"`
		Status    string     `json:"status"`
		CreatedAt time.Time  `json:"created_at"`
		SentAt    *time.Time `json:"sent_at"`
	}
	ns := make([]notification, 0, len(x.Notifications))
	for _, n := range x.Notifications {
		secs := n.Sections
		if secs == nil {
			secs = []string{}
		}
		ns = append(ns, notification{n.Term, n.ClassNbr, n.Event, secs, n.Status, n.CreatedAt, n.SentAt})
	}
	ws := make([]watchView, 0, len(x.Watches))
	for _, w := range x.Watches {
		ws = append(ws, newWatchView(w, a.Now()))
	}
	acc := x.Account
	now := a.Now().UTC()
	body := map[string]any{
		"export_info": map[string]any{"exported_at": now, "format": "JSON", "service": "PickMyClass"},
		"account": map[string]any{
			"email": acc.Email, "created_at": acc.CreatedAt, "email_verified_at": acc.VerifiedAt,
			"age_confirmed_at": acc.AgeConfirmedAt, "terms_accepted_at": acc.TermsAcceptedAt,
			"notifications_enabled": acc.NotifyEmail && acc.UnsubscribedAt == nil, "unsubscribed_at": acc.UnsubscribedAt,
			"email_bounced_at": acc.BouncedAt, "spam_complaint_at": acc.ComplainedAt, "disabled_at": acc.DisabledAt,
			"alerts_paused_until": acc.AlertsPausedUntil,
		},
		"class_watches":        ws,
		"notification_history": ns,
		"alert_channels":       exportChannels(x.Channels),
		"summary":              map[string]int{"total_watches": len(ws), "total_notifications": len(ns)},
	}
	b, err := json.MarshalIndent(body, "", "  ")
	if err != nil {
		return err
	}
	c.Response().Header().Set("Content-Disposition", `attachment; filename="pickmyclass-data-`+now.Format("2006-01-02")+`.json"`)
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSONCharsetUTF8, b)
}
