package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asu"
	"github.com/pickmyclass/pickmyclass/pkg/store"
)

// maxPause is the furthest ahead a watch, or all alerts, may be paused.
const maxPause = 366 * 24 * time.Hour

// resumeNow is a pause's end that has passed: the store resumes a watch or
// the alerts given a time not in the future, whatever the clocks say.
var resumeNow = time.Unix(0, 0).UTC()

// optionalTime is a JSON time that tells null from absent: Set is true when
// the field was sent, Value is nil when it was null.
type optionalTime struct {
	Set   bool
	Value *string
}

// UnmarshalJSON records a string or null.
func (o *optionalTime) UnmarshalJSON(b []byte) error {
	o.Set = true
	if string(b) == "null" {
		o.Value = nil
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return &json.UnmarshalTypeError{Value: "non-string", Type: reflect.TypeFor[string]()}
	}
	o.Value = &s
	return nil
}

// pauseEnd reads a pause's end sent as field: null resumes, a time must be
// RFC 3339, in the future and at most maxPause ahead.
func (a *app) pauseEnd(field string, o optionalTime) (time.Time, error) {
	if o.Value == nil {
		return resumeNow, nil
	}
	t, err := time.Parse(time.RFC3339, strings.TrimSpace(*o.Value))
	if err != nil {
		return time.Time{}, invalid(FieldError{Field: field, Message: "Give a time in RFC 3339, like 2026-09-01T08:00:00-07:00, or null to resume."})
	}
	return a.checkPause(field, t)
}

// checkPause refuses a pause that has ended already or lasts too long.
func (a *app) checkPause(field string, t time.Time) (time.Time, error) {
	now := a.Now()
	switch {
	case !t.After(now):
		return time.Time{}, invalid(FieldError{Field: field, Message: "That time has passed. To resume alerts, send null."})
	case t.After(now.Add(maxPause)):
		return time.Time{}, invalid(FieldError{Field: field, Message: "A pause lasts at most a year."})
	}
	return t, nil
}

// pauseForm reads the pause forms: "for" is 1d, 1w, or date with "until"
// a day (YYYY-MM-DD) on which alerts resume, at its start in Arizona.
func (a *app) pauseForm(c echo.Context) (time.Time, error) {
	now := a.Now()
	switch c.FormValue("for") {
	case "1d":
		return now.Add(24 * time.Hour), nil
	case "1w":
		return now.Add(7 * 24 * time.Hour), nil
	case "date":
		day, err := time.ParseInLocation("2006-01-02", strings.TrimSpace(c.FormValue("until")), asu.Phoenix)
		if err != nil {
			return time.Time{}, invalid(FieldError{Field: "until", Message: "Choose the day on which alerts resume."})
		}
		return a.checkPause("until", day)
	}
	return time.Time{}, invalid(FieldError{Field: "for", Message: "Choose how long to pause."})
}

// ---- JSON ----

// apiUpdateWatch changes a watch's settings: any of notify_reserved,
// notify_gone, filter (course watches) and paused_until (a time, or null
// to resume).
func (a *app) apiUpdateWatch(c echo.Context) error {
	v, err := a.ownWatch(c)
	if err != nil {
		return err
	}
	var in struct {
		NotifyReserved *bool           `json:"notify_reserved"`
		NotifyGone     *bool           `json:"notify_gone"`
		Filter         *catalog.Filter `json:"filter"`
		PausedUntil    optionalTime    `json:"paused_until"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if in.NotifyReserved == nil && in.NotifyGone == nil && in.Filter == nil && !in.PausedUntil.Set {
		return invalid(FieldError{Field: "notify_reserved", Message: "Send at least one of notify_reserved, notify_gone, filter and paused_until."})
	}
	o := store.WatchOptions{NotifyReserved: in.NotifyReserved, NotifyGone: in.NotifyGone}
	var f fields
	if in.Filter != nil {
		if v.Kind != catalog.WatchCourse {
			f.add("filter", "Only a course watch has a filter.")
		} else {
			f = append(f, filterErrors(*in.Filter)...)
			o.Filter = in.Filter
		}
	}
	if in.PausedUntil.Set {
		t, err := a.pauseEnd("paused_until", in.PausedUntil)
		var e *Error
		switch {
		case errors.As(err, &e):
			f = append(f, e.Details...)
		case err != nil:
			return err
		default:
			o.PausedUntil = &t
		}
	}
	if err := f.err(); err != nil {
		return err
	}
	if err := a.DB.SetWatchOptions(c.Request().Context(), currentUser(c).ID, v.ID, o); err != nil {
		return err
	}
	if v, err = a.ownWatch(c); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"watch": v})
}

// apiPauseAlerts holds every alert back: {"until": time} pauses, {"until":
// null} resumes.
func (a *app) apiPauseAlerts(c echo.Context) error {
	var in struct {
		Until optionalTime `json:"until"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if !in.Until.Set {
		return invalid(FieldError{Field: "until", Message: "Give the time alerts resume, or null to resume now."})
	}
	t, err := a.pauseEnd("until", in.Until)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	uid := currentUser(c).ID
	if err := a.DB.PauseAlerts(ctx, uid, &t); err != nil {
		return err
	}
	u, err := a.DB.GetUser(ctx, uid)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"alerts_paused_until": pausedUntil(&u, a.Now())})
}

// pausedUntil is when the user's paused alerts resume; nil when they are
// not paused.
func pausedUntil(u *store.User, now time.Time) *time.Time {
	if !u.AlertsPaused(now) {
		return nil
	}
	return u.AlertsPausedUntil
}

// ---- HTML ----

// pauseWatchForm pauses one watch's alerts.
func (a *app) pauseWatchForm(c echo.Context) error {
	v, err := a.ownWatch(c)
	if err != nil {
		return err
	}
	t, err := a.pauseForm(c)
	if err != nil {
		return a.formErr(c, "watch_settings", "Alert settings", err, map[string]string{"for": c.FormValue("for"), "until": c.FormValue("until")}, a.settingsOf(c, v, nil))
	}
	if err := a.DB.SetWatchOptions(c.Request().Context(), currentUser(c).ID, v.ID, store.WatchOptions{PausedUntil: &t}); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/dashboard?paused="+strconv.FormatInt(v.ID, 10)+"#watch-"+strconv.FormatInt(v.ID, 10))
}

// resumeWatchForm ends one watch's pause.
func (a *app) resumeWatchForm(c echo.Context) error {
	id, err := parseID(c.Param("id"))
	if err != nil {
		return err
	}
	t := resumeNow
	if err := a.DB.SetWatchOptions(c.Request().Context(), currentUser(c).ID, id, store.WatchOptions{PausedUntil: &t}); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/dashboard?resumed="+strconv.FormatInt(id, 10)+"#watch-"+strconv.FormatInt(id, 10))
}

// pauseAlertsForm pauses every alert, from the dashboard or the settings.
func (a *app) pauseAlertsForm(c echo.Context) error {
	t, err := a.pauseForm(c)
	if err != nil {
		return c.Redirect(http.StatusSeeOther, backTo(c)+"?m=pause-invalid#pause")
	}
	if err := a.DB.PauseAlerts(c.Request().Context(), currentUser(c).ID, &t); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, backTo(c)+"?m=alerts-paused#pause")
}

// resumeAlertsForm ends the pause of every alert.
func (a *app) resumeAlertsForm(c echo.Context) error {
	if err := a.DB.PauseAlerts(c.Request().Context(), currentUser(c).ID, nil); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, backTo(c)+"?m=alerts-resumed#pause")
}

// backTo is the page a pause form came from: the dashboard or the
// settings, never anywhere else.
func backTo(c echo.Context) string {
	if c.FormValue("back") == "/settings" {
		return "/settings"
	}
	return "/dashboard"
}
