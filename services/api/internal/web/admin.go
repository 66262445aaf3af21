package web

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pickmyclass/pickmyclass/pkg/breaker"
	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/check"
	"github.com/pickmyclass/pickmyclass/pkg/store"
	"github.com/pickmyclass/pickmyclass/pkg/stream"
)

type adminOverviewData struct {
	Counts       store.Overview
	Queue        stream.Stats
	QueueErr     string
	Breaker      breaker.Snapshot
	BreakerErr   string
	Heartbeat    check.Heartbeat
	HeartbeatErr string
}

func (a *app) adminOverview(c echo.Context) error {
	ctx := c.Request().Context()
	now := a.Now().UTC()
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	o, err := a.DB.AdminOverview(ctx, day)
	if err != nil {
		return err
	}
	d := adminOverviewData{Counts: o}
	// The pipeline's parts are shown even when one cannot be read.
	if d.Queue, err = a.Monitor.Queue(ctx); err != nil {
		d.QueueErr = err.Error()
	}
	if d.Breaker, err = a.Monitor.Breaker(ctx); err != nil {
		d.BreakerErr = err.Error()
	}
	if d.Heartbeat, err = a.Monitor.Heartbeat(ctx); err != nil {
		d.HeartbeatErr = err.Error()
	}
	return a.render(c, http.StatusOK, "admin", pageData{Title: "Admin", Data: d})
}

func (a *app) adminUsers(c echo.Context) error {
	q := c.QueryParam("q")
	if len(q) > 254 {
		return invalid(FieldError{Field: "q", Message: "The search is too long."})
	}
	if !storable(q) {
		return invalid(FieldError{Field: "q", Message: "The search has characters no email address has."})
	}
	us, err := a.DB.SearchUsers(c.Request().Context(), q, 200)
	if err != nil {
		return err
	}
	return a.render(c, http.StatusOK, "admin_users", pageData{Title: "Users", Form: map[string]string{"q": q}, Data: us})
}

type adminUserData struct {
	User    store.User
	Watches []watchView
}

func (a *app) adminUser(c echo.Context) error {
	id, err := parseID(c.Param("id"))
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	u, err := a.DB.GetUser(ctx, id)
	if err != nil {
		return err
	}
	if u.DeletedAt != nil {
		return errorf(http.StatusNotFound, "not found")
	}
	ws, err := a.watchViews(ctx, id)
	if err != nil {
		return err
	}
	return a.render(c, http.StatusOK, "admin_user", pageData{Title: u.Email, Data: adminUserData{User: u, Watches: ws}})
}

// The values of adminSetDisabled's argument, named for the routes.
const (
	disableAccount = true
	enableAccount  = false
)

// adminSetDisabled disables (ending its sessions) or enables an account;
// an administrator cannot disable their own.
func (a *app) adminSetDisabled(disabled bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := parseID(c.Param("id"))
		if err != nil {
			return err
		}
		me := currentUser(c)
		if id == me.ID {
			return errorf(http.StatusConflict, "You cannot disable your own account.")
		}
		ctx := c.Request().Context()
		if err := a.DB.SetDisabled(ctx, id, disabled); err != nil {
			return err
		}
		action := "user.enable"
		if disabled {
			action = "user.disable"
		}
		if err := a.DB.Audit(ctx, me.ID, action, "user:"+strconv.FormatInt(id, 10), nil); err != nil {
			return err
		}
		return c.Redirect(http.StatusSeeOther, "/admin/users/"+strconv.FormatInt(id, 10))
	}
}

// adminClassesData is the watched sections and, beside them, the courses
// with course watches.
type adminClassesData struct {
	Sections []store.WatchedSection
	Courses  []store.WatchedCourse
}

func (a *app) adminClasses(c echo.Context) error {
	ctx := c.Request().Context()
	secs, err := a.DB.WatchedSections(ctx, 500)
	if err != nil {
		return err
	}
	courses, err := a.DB.WatchedCourses(ctx, 500)
	if err != nil {
		return err
	}
	return a.render(c, http.StatusOK, "admin_classes", pageData{Title: "Classes", Data: adminClassesData{Sections: secs, Courses: courses}})
}

type adminClassData struct {
	Key      catalog.SectionKey
	View     watchView
	Watchers []store.Watcher
	Chart    any
}

func (a *app) adminClass(c echo.Context) error {
	key := catalog.SectionKey{Term: c.Param("term"), ClassNbr: c.Param("classNbr")}
	if !termRe.MatchString(key.Term) || !classNbrRe.MatchString(key.ClassNbr) {
		return errorf(http.StatusNotFound, "not found")
	}
	ctx := c.Request().Context()
	ws, err := a.DB.SectionWatchers(ctx, key)
	if err != nil {
		return err
	}
	st, err := a.DB.GetSectionState(ctx, key)
	if err != nil && !isNotFound(err) {
		return err
	}
	if len(ws) == 0 && err != nil {
		return errorf(http.StatusNotFound, "not found")
	}
	wv := store.WatchView{Watch: store.Watch{Term: key.Term, ClassNbr: key.ClassNbr}}
	if err == nil {
		wv.State = &st
		wv.Subject, wv.CatalogNbr = st.Section.Subject, st.Section.CatalogNbr
	}
	pts, err := a.DB.SeatHistory(ctx, key)
	if err != nil {
		return err
	}
	return a.render(c, http.StatusOK, "admin_class", pageData{Title: "Class " + key.ClassNbr,
		Data: adminClassData{Key: key, View: newWatchView(wv, a.Now()), Watchers: ws, Chart: seatChart(pts)}})
}

func (a *app) adminDeadLetters(c echo.Context) error {
	dls, err := stream.DeadLetters(c.Request().Context(), a.Redis, a.Keys.DeadLetter(), 100)
	if err != nil {
		return err
	}
	return a.render(c, http.StatusOK, "admin_dead", pageData{Title: "Dead letters", Data: dls, Flash: map[string]string{"replayed": "The entry was put back on the checks stream.", "discarded": "The entry was discarded."}[c.QueryParam("m")]})
}

var streamIDRe = regexp.MustCompile(`^[0-9]{1,20}-[0-9]{1,20}$`)

// deadLetterAction is what an administrator can do with a dead letter.
type deadLetterAction struct {
	audit string // the audit log's action
	done  string // the m= flash key of the list page afterwards
	apply func(ctx context.Context, a *app, id string) error
}

var (
	replayDeadLetter = deadLetterAction{audit: "dead_letter.replay", done: "replayed",
		apply: func(ctx context.Context, a *app, id string) error {
			return stream.Replay(ctx, a.Redis, a.Keys.DeadLetter(), a.Keys.Stream(), id)
		}}
	discardDeadLetter = deadLetterAction{audit: "dead_letter.discard", done: "discarded",
		apply: func(ctx context.Context, a *app, id string) error {
			return stream.Discard(ctx, a.Redis, a.Keys.DeadLetter(), id)
		}}
)

func (a *app) adminDeadLetter(act deadLetterAction) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Param("id")
		if !streamIDRe.MatchString(id) {
			return errorf(http.StatusNotFound, "not found")
		}
		ctx := c.Request().Context()
		err := act.apply(ctx, a, id)
		if isStreamNotFound(err) {
			return errorf(http.StatusNotFound, "not found")
		}
		if err != nil {
			return err
		}
		if err := a.DB.Audit(ctx, currentUser(c).ID, act.audit, "dead_letter:"+id, nil); err != nil {
			return err
		}
		return c.Redirect(http.StatusSeeOther, "/admin/dead-letters?m="+act.done)
	}
}

func isStreamNotFound(err error) bool {
	return err != nil && errors.Is(err, stream.ErrNotFound)
}
