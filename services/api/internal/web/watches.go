package web

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asu"
	"github.com/pickmyclass/pickmyclass/pkg/store"
)

var (
	termRe     = regexp.MustCompile(`^[0-9]{4}$`)
	classNbrRe = regexp.MustCompile(`^[0-9]{5}$`)
)

// watchStatus is the state of a watched section as a card and the API show
// it.
type watchStatus string

const (
	statusOpen      watchStatus = "open"
	statusFull      watchStatus = "full"
	statusNotFound  watchStatus = "not_found"
	statusCancelled watchStatus = "cancelled"
	statusUnknown   watchStatus = "unknown"  // last read without seat counts
	statusReserved  watchStatus = "reserved" // open only to reserved groups
	statusWaiting   watchStatus = "waiting"  // not checked yet
)

// label is the status in words.
func (s watchStatus) label() string {
	switch s {
	case statusOpen:
		return "Open"
	case statusFull:
		return "Full"
	case statusNotFound:
		return "Not found in the catalog"
	case statusCancelled:
		return "Cancelled"
	case statusUnknown:
		return "Seat count unavailable"
	case statusReserved:
		return "Reserved seats only"
	default:
		return "Waiting for first check"
	}
}

// watchView is a watch as the dashboard and the API show it.
type watchView struct {
	ID           int64       `json:"id"`
	Term         string      `json:"term"`
	TermName     string      `json:"term_name"`
	ClassNbr     string      `json:"class_nbr"`
	Subject      string      `json:"subject"`
	CatalogNbr   string      `json:"catalog_nbr"`
	CreatedAt    time.Time   `json:"created_at"`
	Status       watchStatus `json:"status"`
	StatusLabel  string      `json:"status_label"`
	Title        string      `json:"title,omitempty"`
	Section      string      `json:"section,omitempty"`
	Instructors  []string    `json:"instructors"`
	OpenSeats    *int        `json:"open_seats"`
	Capacity     *int        `json:"capacity"`
	Enrolled     *int        `json:"enrolled"`
	ReservedNote string      `json:"reserved_note,omitempty"`
	// OpenToEveryone and ReservedGroups are set once the reserved seat
	// groups of a section that has them were read.
	OpenToEveryone *int                `json:"open_to_everyone,omitempty"`
	ReservedGroups []reservedGroupView `json:"reserved_groups,omitempty"`
	// NotifyReserved: alert also when only reserved seats open.
	NotifyReserved bool              `json:"notify_reserved"`
	Location       string            `json:"location,omitempty"`
	Meetings       []catalog.Meeting `json:"meetings"`
	LastChecked    *time.Time        `json:"last_checked"`
	ClassURL       string            `json:"class_url"`
}

// reservedGroupView is one reserved seat group of a section.
type reservedGroupView struct {
	Name     string `json:"name"`
	Capacity int    `json:"capacity"`
	Enrolled int    `json:"enrolled"`
	Open     int    `json:"open"`
}

// Label is "Computer Science majors: 2 of 20 open".
func (g reservedGroupView) Label() string {
	return g.Name + ": " + strconv.Itoa(g.Open) + " of " + strconv.Itoa(g.Capacity) + " open"
}

// SeatsLabel is the seat line of a card.
func (v watchView) SeatsLabel() string {
	if v.OpenSeats == nil || v.Capacity == nil {
		return ""
	}
	// "1 of 100 seats open": the noun goes with the capacity.
	n := *v.OpenSeats
	word := "seats"
	if *v.Capacity == 1 {
		word = "seat"
	}
	label := strconv.Itoa(n) + " of " + strconv.Itoa(*v.Capacity) + " " + word + " open"
	if v.OpenToEveryone != nil {
		label += " to everyone"
	}
	return label
}

// MeetingsLabel joins the meeting patterns.
func (v watchView) MeetingsLabel() string {
	var parts []string
	for _, m := range v.Meetings {
		s := strings.TrimSpace(m.Days + " " + m.StartTime)
		if m.EndTime != "" {
			s += "–" + m.EndTime
		}
		if s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, "; ")
}

func newWatchView(w store.WatchView) watchView {
	v := watchView{
		ID: w.ID, Term: w.Term, TermName: asu.TermName(w.Term), ClassNbr: w.ClassNbr, Subject: w.Subject,
		CatalogNbr: w.CatalogNbr, CreatedAt: w.CreatedAt, Instructors: []string{}, Meetings: []catalog.Meeting{},
		ClassURL:       "/go/asu?term=" + w.Term + "&classNbr=" + w.ClassNbr,
		NotifyReserved: w.NotifyReserved,
	}
	st := w.State
	if st == nil {
		v.Status = statusWaiting
		if w.NotFoundAt != nil {
			v.Status = statusNotFound
		}
		v.StatusLabel = v.Status.label()
		return v
	}
	s := st.Section
	v.Title, v.Section, v.Location = s.Title, s.SectionCode, s.Location
	if v.Location == "" && s.Online {
		v.Location = "Online"
	}
	for _, in := range s.Instructors {
		v.Instructors = append(v.Instructors, in.Name)
	}
	if s.Meetings != nil {
		v.Meetings = s.Meetings
	}
	open, capacity, enrolled := st.OpenSeats, s.Capacity, s.Enrolled
	if s.Status != catalog.StatusUnknown {
		v.OpenSeats, v.Capacity, v.Enrolled = &open, &capacity, &enrolled
	}
	observed := st.ObservedAt
	v.LastChecked = &observed
	reserved := 0
	if s.HasReservedSeats {
		general, known := s.GeneralOpen()
		switch {
		case s.NonReservedOpen != nil && known:
			v.OpenToEveryone = &general
			reserved, _ = s.ReservedOpen()
			for _, g := range s.ReservedGroups {
				v.ReservedGroups = append(v.ReservedGroups, reservedGroupView{Name: g.Name, Capacity: g.Capacity, Enrolled: g.Enrolled, Open: g.Open()})
			}
			v.ReservedNote = "Some seats are reserved; the count shows seats open to everyone."
		case s.OpenSeats() > 0:
			v.ReservedNote = "Some seats may be reserved for certain students; check before enrolling."
		default:
			v.ReservedNote = "Some seats are reserved for certain students."
		}
	}
	switch {
	case w.NotFoundAt != nil || st.NotFoundAt != nil:
		v.Status = statusNotFound
	case s.Status == catalog.StatusCancelled:
		v.Status = statusCancelled
	case s.Status == catalog.StatusUnknown:
		v.Status = statusUnknown
	case open > 0:
		v.Status = statusOpen
	case reserved > 0:
		v.Status = statusReserved
	default:
		v.Status = statusFull
	}
	v.StatusLabel = v.Status.label()
	return v
}

func (a *app) watchViews(ctx context.Context, userID int64) ([]watchView, error) {
	ws, err := a.DB.ListWatches(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := make([]watchView, 0, len(ws))
	for _, w := range ws {
		out = append(out, newWatchView(w))
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

// watchInput is the add-watch form.
type watchInput struct {
	Term     string `json:"term"`
	ClassNbr string `json:"class_nbr"`
}

// addWatch validates the section against the catalog and creates the
// watch. The watch limit and a duplicate are refused before the class
// search is asked anything. It never writes the section's shared state: a
// fresh observation here could hide a seat opening from the other watchers.
func (a *app) addWatch(ctx context.Context, u *store.User, in watchInput) (store.Watch, error) {
	in.Term, in.ClassNbr = strings.TrimSpace(in.Term), strings.TrimSpace(in.ClassNbr)
	var f fields
	if !termRe.MatchString(in.Term) {
		f.add("term", "Choose a term.")
	}
	if !classNbrRe.MatchString(in.ClassNbr) {
		f.add("class_nbr", "The class number is exactly 5 digits, like 70412.")
	}
	if err := f.err(); err != nil {
		return store.Watch{}, err
	}
	n, dup, err := a.DB.WatchSlot(ctx, u.ID, store.NewWatch{Term: in.Term, ClassNbr: in.ClassNbr})
	if err != nil {
		return store.Watch{}, err
	}
	if dup {
		return store.Watch{}, a.duplicateWatch("class #" + in.ClassNbr)
	}
	if n >= a.WatchLimit {
		return store.Watch{}, a.watchLimitReached()
	}
	terms, err := a.terms(ctx)
	if err != nil {
		return store.Watch{}, err
	}
	known := false
	for _, t := range terms {
		known = known || t.Code == in.Term
	}
	if !known {
		return store.Watch{}, invalid(FieldError{Field: "term", Message: "The catalog does not offer that term."})
	}
	key := catalog.SectionKey{Term: in.Term, ClassNbr: in.ClassNbr}
	course, err := a.courseOf(ctx, u.ID, key)
	if errors.Is(err, errSectionMissing) {
		return store.Watch{}, sectionMissing(key)
	}
	if err != nil {
		return store.Watch{}, err
	}
	w, err := a.DB.CreateWatch(ctx, u.ID, store.NewWatch{Term: in.Term, ClassNbr: in.ClassNbr, Subject: course.Subject, CatalogNbr: course.CatalogNbr}, a.WatchLimit)
	switch {
	case errors.Is(err, store.ErrConflict):
		return store.Watch{}, a.duplicateWatch(course.Subject + " " + course.CatalogNbr + " #" + in.ClassNbr)
	case errors.Is(err, store.ErrLimitReached):
		return store.Watch{}, a.watchLimitReached()
	case err != nil:
		return store.Watch{}, err
	}
	return w, nil
}

func (a *app) duplicateWatch(what string) error {
	return &Error{Status: http.StatusConflict, Message: "You are already watching this class.",
		Details: []FieldError{{Field: "class_nbr", Message: "You are already watching " + what + "."}}}
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
	return c.JSON(http.StatusOK, map[string]any{"watches": vs, "max_watches": a.WatchLimit})
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
			return c.JSON(http.StatusCreated, map[string]any{"watch": newWatchView(v)})
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

// apiUpdateWatch changes a watch's settings: {"notify_reserved": bool}.
func (a *app) apiUpdateWatch(c echo.Context) error {
	id, err := parseID(c.Param("id"))
	if err != nil {
		return err
	}
	var in struct {
		NotifyReserved *bool `json:"notify_reserved"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if in.NotifyReserved == nil {
		return invalid(FieldError{Field: "notify_reserved", Message: "Say whether to alert when only reserved seats open (true or false)."})
	}
	if err := a.DB.SetNotifyReserved(c.Request().Context(), currentUser(c).ID, id, *in.NotifyReserved); err != nil {
		return err
	}
	v, err := a.ownWatch(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"watch": v})
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
	// DisabledChannels are alert channels a failure turned off.
	DisabledChannels []channelView
}

func (a *app) dashboard(c echo.Context) error {
	vs, err := a.watchViews(c.Request().Context(), currentUser(c).ID)
	if err != nil {
		return err
	}
	d := dashboardData{Watches: vs, Limit: a.WatchLimit, Remaining: max(0, a.WatchLimit-len(vs))}
	if d.DisabledChannels, err = a.disabledChannels(c.Request().Context(), currentUser(c).ID); err != nil {
		return err
	}
	added, _ := strconv.ParseInt(c.QueryParam("added"), 10, 64)
	for i, v := range vs {
		switch v.Status {
		case statusOpen:
			d.Open++
		case statusFull:
			d.Full++
		}
		if v.ID == added {
			d.Added = &vs[i]
		}
	}
	flash := ""
	if c.QueryParam("removed") != "" {
		flash = "The class was removed from your watch list."
	}
	return a.render(c, http.StatusOK, "dashboard", pageData{Title: "Your classes", Data: d, Flash: flash})
}

type addData struct {
	Terms []catalog.Term
	Limit int
}

func (a *app) addWatchPage(c echo.Context) error {
	ts, err := a.terms(c.Request().Context())
	if err != nil {
		return err
	}
	return a.render(c, http.StatusOK, "add", pageData{Title: "Watch a class", Data: addData{Terms: ts, Limit: a.WatchLimit}})
}

func (a *app) addWatchForm(c echo.Context) error {
	ctx := c.Request().Context()
	in := watchInput{Term: c.FormValue("term"), ClassNbr: c.FormValue("class_nbr")}
	w, err := a.addWatch(ctx, currentUser(c), in)
	if err != nil {
		ts, terr := a.terms(ctx)
		if terr != nil {
			return terr
		}
		return a.formErr(c, "add", "Watch a class", err, map[string]string{"term": in.Term, "class_nbr": in.ClassNbr}, addData{Terms: ts, Limit: a.WatchLimit})
	}
	return c.Redirect(http.StatusSeeOther, "/dashboard?added="+strconv.FormatInt(w.ID, 10))
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

func (a *app) watchSettingsPage(c echo.Context) error {
	v, err := a.ownWatch(c)
	if err != nil {
		return err
	}
	flash := ""
	if c.QueryParam("saved") != "" {
		flash = "Your alert settings were saved."
	}
	return a.render(c, http.StatusOK, "watch_settings", pageData{Title: "Alert settings", Data: v, Flash: flash})
}

func (a *app) watchSettingsForm(c echo.Context) error {
	id, err := parseID(c.Param("id"))
	if err != nil {
		return err
	}
	on := c.FormValue("notify_reserved") == "on"
	if err := a.DB.SetNotifyReserved(c.Request().Context(), currentUser(c).ID, id, on); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/watches/"+strconv.FormatInt(id, 10)+"/settings?saved=1")
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
