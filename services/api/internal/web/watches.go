package web

import (
	"context"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/store"
)

var (
	termRe     = regexp.MustCompile(`^[0-9]{4}$`)
	classNbrRe = regexp.MustCompile(`^[0-9]{5}$`)
)

func (a *app) watchViews(ctx context.Context, userID int64) ([]watchView, error) {
	ws, err := a.DB.ListWatches(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := make([]watchView, 0, len(ws))
	now := a.Now()
	for _, w := range ws {
		out = append(out, newWatchView(w, now))
	}
	return out, nil
}

// termCache keeps the catalog's term list for an hour: it changes a few
// times a year and every add-watch form needs it. Each server has its own,
// as each has its own catalog.
type termCache struct {
	sync.Mutex
	terms []catalog.Term
	at    time.Time
}

func (a *app) terms(ctx context.Context) ([]catalog.Term, error) {
	tc := &a.termCache
	tc.Lock()
	defer tc.Unlock()
	if tc.terms != nil && a.Now().Sub(tc.at) < time.Hour {
		return tc.terms, nil
	}
	ts, err := a.Catalog.Terms(ctx)
	if err != nil {
		if tc.terms != nil {
			return tc.terms, nil
		}
		return nil, errorf(http.StatusBadGateway, "the university's class search is not answering; try again in a few minutes")
	}
	tc.terms, tc.at = ts, a.Now()
	return ts, nil
}

func (a *app) watchLimitReached() error {
	return errorf(http.StatusUnprocessableEntity, "You are watching "+itoa(a.WatchLimit)+" classes, the most allowed. Remove one to add another.")
}

func parseID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, errorf(http.StatusNotFound, "not found")
	}
	return id, nil
}

// ---- JSON ----

func (a *app) apiListWatches(c echo.Context) error {
	vs, err := a.watchViews(c.Request().Context(), currentUser(c).ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"watches": vs, "max_watches": a.WatchLimit,
		"alerts_paused_until": pausedUntil(currentUser(c), a.Now())})
}

func (a *app) apiCreateWatch(c echo.Context) error {
	var in watchInput
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	ctx := c.Request().Context()
	w, err := a.addWatch(ctx, currentUser(c), in)
	if err != nil {
		return err
	}
	vs, err := a.DB.ListWatches(ctx, currentUser(c).ID)
	if err != nil {
		return err
	}
	for _, v := range vs {
		if v.ID == w.ID {
			return c.JSON(http.StatusCreated, map[string]any{"watch": newWatchView(v, a.Now())})
		}
	}
	return errorf(http.StatusNotFound, "not found")
}

func (a *app) apiDeleteWatch(c echo.Context) error {
	raw := c.Param("id")
	if raw == "" {
		raw = c.QueryParam("id")
	}
	if raw == "" {
		return invalid(FieldError{Field: "id", Message: "Give the watch ID."})
	}
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		return invalid(FieldError{Field: "id", Message: "The watch ID is a positive number."})
	}
	if err := a.DB.DeleteWatch(c.Request().Context(), currentUser(c).ID, id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (a *app) apiTerms(c echo.Context) error {
	ts, err := a.terms(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"terms": ts})
}

// ---- HTML ----

type dashboardData struct {
	Watches   []watchView
	Limit     int
	Remaining int
	Open      int
	Full      int
	Added     *watchView
	// AlertsPausedUntil is set while every alert is paused.
	AlertsPausedUntil *time.Time
	// PauseInvalid says the pause-all form was sent without a usable time.
	PauseInvalid bool
	// DisabledChannels are alert channels a failure turned off.
	DisabledChannels []channelView
}

// dashboardFlash is the message a redirect to the dashboard asks for.
var dashboardFlash = map[string]string{
	"alerts-paused":  "Every alert is paused. Your watches are still checked; you can resume any time.",
	"alerts-resumed": "Alerts are on again.",
}

func (a *app) dashboard(c echo.Context) error {
	ctx := c.Request().Context()
	u := currentUser(c)
	vs, err := a.watchViews(ctx, u.ID)
	if err != nil {
		return err
	}
	csrf := csrfToken(c)
	d := dashboardData{Watches: vs, Limit: a.WatchLimit, AlertsPausedUntil: pausedUntil(u, a.Now()), PauseInvalid: c.QueryParam("m") == "pause-invalid"}
	if d.DisabledChannels, err = a.disabledChannels(ctx, u.ID); err != nil {
		return err
	}
	added, _ := strconv.ParseInt(c.QueryParam("added"), 10, 64)
	live := 0
	for i := range vs {
		v := &vs[i]
		v.CSRF = csrf
		if v.ID == added {
			d.Added = v
		}
		if v.Expired() {
			continue
		}
		live++
		switch v.SeatStatus {
		case statusOpen:
			d.Open++
		case statusFull:
			d.Full++
		}
	}
	d.Remaining = max(0, a.WatchLimit-live)
	flash := dashboardFlash[c.QueryParam("m")]
	switch {
	case c.QueryParam("removed") != "":
		flash = "The class was removed from your watch list."
	case c.QueryParam("paused") != "":
		flash = "Alerts for that watch are paused. It is still checked, and its card stays up to date."
	case c.QueryParam("resumed") != "":
		flash = "Alerts for that watch are on again."
	}
	return a.render(c, http.StatusOK, "dashboard", pageData{Title: "Your classes", Data: d, Flash: flash})
}

// addData is what the add page shows: the forms, and a looked-up section
// with its labs.
type addData struct {
	Terms []catalog.Term
	Limit int
	// Days are the filter's day boxes, checked as the form was sent.
	Days []dayBox
	// Found is the section looked up, if any.
	Found *foundSection
}

// dayBox is one day of the course form's filter.
type dayBox struct {
	Code, Name string
	Checked    bool
}

// foundSection is a looked-up section, its labs and recitations, and, for a
// lab, its lecture.
type foundSection struct {
	Term       string
	Subject    string
	CatalogNbr string
	Section    sectionView
	Labs       []sectionView
	Lecture    *sectionView
}

// newAddData fills the add page's choices; days are the checked days.
func (a *app) newAddData(c echo.Context, days []string) (addData, error) {
	ts, err := a.terms(c.Request().Context())
	if err != nil {
		return addData{}, err
	}
	return addData{Terms: ts, Limit: a.WatchLimit, Days: dayBoxes(days)}, nil
}

// dayBoxes are the filter's day boxes, days checked.
func dayBoxes(days []string) []dayBox {
	out := []dayBox{{"M", "Mon", false}, {"T", "Tue", false}, {"W", "Wed", false}, {"Th", "Thu", false}, {"F", "Fri", false}, {"Sa", "Sat", false}, {"Su", "Sun", false}}
	for i := range out {
		out[i].Checked = slices.Contains(days, out[i].Code)
	}
	return out
}

// addWatchPage shows the add forms. With term and class_nbr in the query it
// first looks the section up and shows it with its labs and recitations,
// so the student can watch it alone, with a lab, or any section of its
// course.
func (a *app) addWatchPage(c echo.Context) error {
	d, err := a.newAddData(c, nil)
	if err != nil {
		return err
	}
	form := map[string]string{"kind": c.QueryParam("kind"), "term": c.QueryParam("term"), "class_nbr": c.QueryParam("class_nbr"),
		"subject": c.QueryParam("subject"), "catalog_nbr": c.QueryParam("catalog_nbr")}
	if form["class_nbr"] == "" || form["kind"] == "course" {
		return a.render(c, http.StatusOK, "add", pageData{Title: "Watch a class", Data: d, Form: form})
	}
	form["kind"] = "lookup"
	found, err := a.lookupForPage(c, form["term"], form["class_nbr"])
	if err != nil {
		return a.formErr(c, "add", "Watch a class", err, form, d)
	}
	d.Found = found
	return a.render(c, http.StatusOK, "add", pageData{Title: "Watch a class", Data: d, Form: form})
}

// lookupForPage looks a section up with its course for the add page.
func (a *app) lookupForPage(c echo.Context, term, classNbr string) (*foundSection, error) {
	term, classNbr = strings.TrimSpace(term), strings.TrimSpace(classNbr)
	var f fields
	if !termRe.MatchString(term) {
		f.add("term", "Choose a term.")
	}
	if !classNbrRe.MatchString(classNbr) {
		f.add("class_nbr", "The class number is exactly 5 digits, like 70412.")
	}
	if err := f.err(); err != nil {
		return nil, err
	}
	ctx := c.Request().Context()
	if err := a.knownTerm(ctx, term); err != nil {
		return nil, err
	}
	sec, labs, secs, err := a.linkedOf(ctx, currentUser(c).ID, catalog.SectionKey{Term: term, ClassNbr: classNbr}, false)
	if err != nil {
		return nil, err
	}
	now := a.Now()
	view := func(s catalog.Section) sectionView {
		return newSectionView(term, s.ClassNbr, &store.SectionState{Section: s, OpenSeats: s.OpenSeats(), ObservedAt: now})
	}
	found := &foundSection{Term: term, Subject: sec.Subject, CatalogNbr: sec.CatalogNbr, Section: view(sec)}
	for _, l := range labs {
		found.Labs = append(found.Labs, view(l))
	}
	if p := primaryOf(sec, secs); p != nil {
		lv := view(*p)
		found.Lecture = &lv
	}
	return found, nil
}

// addWatchForm adds a section, a course (with its filter) or a lecture with
// its labs.
func (a *app) addWatchForm(c echo.Context) error {
	ctx := c.Request().Context()
	params, err := c.FormParams()
	if err != nil {
		return err
	}
	in := watchInput{Kind: c.FormValue("kind"), Term: c.FormValue("term"), ClassNbr: c.FormValue("class_nbr"),
		Subject: c.FormValue("subject"), CatalogNbr: c.FormValue("catalog_nbr"),
		NotifyReserved: c.FormValue("notify_reserved") == "on", NotifyGone: c.FormValue("notify_gone") == "on"}
	if in.Kind == string(catalog.WatchCourse) {
		in.Filter = filterFromForm(c, params["days"])
	}
	w, err := a.addWatch(ctx, currentUser(c), in)
	if err != nil {
		d, derr := a.newAddData(c, params["days"])
		if derr != nil {
			return derr
		}
		form := map[string]string{"kind": in.Kind, "term": in.Term, "class_nbr": in.ClassNbr, "subject": in.Subject, "catalog_nbr": in.CatalogNbr,
			"mode": c.FormValue("mode"), "campus": c.FormValue("campus"), "instructor": c.FormValue("instructor"),
			"after": c.FormValue("after"), "before": c.FormValue("before"),
			"notify_reserved": c.FormValue("notify_reserved"), "notify_gone": c.FormValue("notify_gone")}
		if form["kind"] == "" {
			form["kind"] = string(catalog.WatchSection)
		}
		return a.formErr(c, "add", "Watch a class", err, form, d)
	}
	return c.Redirect(http.StatusSeeOther, "/dashboard?added="+strconv.FormatInt(w.ID, 10))
}

// filterFromForm reads a course watch's filter fields.
func filterFromForm(c echo.Context, days []string) *catalog.Filter {
	return &catalog.Filter{Mode: c.FormValue("mode"), Campus: c.FormValue("campus"), Instructor: c.FormValue("instructor"),
		Days: days, After: c.FormValue("after"), Before: c.FormValue("before")}
}

// ownWatch returns the signed-in user's watch id, or a 404 for anyone
// else's.
func (a *app) ownWatch(c echo.Context) (watchView, error) {
	id, err := parseID(c.Param("id"))
	if err != nil {
		return watchView{}, err
	}
	vs, err := a.watchViews(c.Request().Context(), currentUser(c).ID)
	if err != nil {
		return watchView{}, err
	}
	for _, v := range vs {
		if v.ID == id {
			return v, nil
		}
	}
	return watchView{}, errorf(http.StatusNotFound, "not found")
}

// watchSettingsData is the watch settings page: the watch, and for a
// course watch the filter's day boxes.
type watchSettingsData struct {
	watchView
	Days []dayBox
}

func (a *app) watchSettingsPage(c echo.Context) error {
	v, err := a.ownWatch(c)
	if err != nil {
		return err
	}
	flash := ""
	if c.QueryParam("saved") != "" {
		flash = "Your alert settings were saved."
	}
	return a.render(c, http.StatusOK, "watch_settings", pageData{Title: "Alert settings", Data: a.settingsOf(c, v, nil), Flash: flash,
		Form: filterForm(v.Filter)})
}

// settingsOf is the settings page's data for watch v; days are the days
// checked in a form sent back, nil for the watch's own.
func (a *app) settingsOf(c echo.Context, v watchView, days []string) watchSettingsData {
	v.CSRF = csrfToken(c)
	if days == nil && v.Filter != nil {
		days = v.Filter.Days
	}
	return watchSettingsData{watchView: v, Days: dayBoxes(days)}
}

// filterForm is a filter as the form fields show it.
func filterForm(f *catalog.Filter) map[string]string {
	if f == nil {
		return nil
	}
	return map[string]string{"mode": f.Mode, "campus": f.Campus, "instructor": f.Instructor, "after": f.After, "before": f.Before}
}

// watchSettingsForm saves a watch's alert settings: reserved seats,
// seat-gone notices and, for a course watch, its filter.
func (a *app) watchSettingsForm(c echo.Context) error {
	v, err := a.ownWatch(c)
	if err != nil {
		return err
	}
	params, err := c.FormParams()
	if err != nil {
		return err
	}
	reserved, gone := c.FormValue("notify_reserved") == "on", c.FormValue("notify_gone") == "on"
	o := store.WatchOptions{NotifyReserved: &reserved, NotifyGone: &gone}
	if v.Kind == catalog.WatchCourse {
		o.Filter = filterFromForm(c, params["days"])
		if fe := filterErrors(*o.Filter); len(fe) > 0 {
			form := filterForm(o.Filter)
			return a.formErr(c, "watch_settings", "Alert settings", invalid(fe...), form, a.settingsOf(c, v, params["days"]))
		}
	}
	if err := a.DB.SetWatchOptions(c.Request().Context(), currentUser(c).ID, v.ID, o); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/watches/"+strconv.FormatInt(v.ID, 10)+"/settings?saved=1")
}

func (a *app) deleteWatchPage(c echo.Context) error {
	v, err := a.ownWatch(c)
	if err != nil {
		return err
	}
	return a.render(c, http.StatusOK, "delete", pageData{Title: "Stop watching this class?", Data: v})
}

func (a *app) deleteWatchForm(c echo.Context) error {
	id, err := parseID(c.Param("id"))
	if err != nil {
		return err
	}
	if err := a.DB.DeleteWatch(c.Request().Context(), currentUser(c).ID, id); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/dashboard?removed=1")
}
