package web

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/rs/zerolog"

	"github.com/pickmyclass/pickmyclass/pkg/breaker"
	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asu"
	"github.com/pickmyclass/pickmyclass/pkg/notify"
	"github.com/pickmyclass/pickmyclass/pkg/store"
)

func (a *app) landing(c echo.Context) error {
	if currentUser(c) != nil {
		return a.signedInHome(c)
	}
	return a.render(c, http.StatusOK, "landing", pageData{Title: "Never miss a seat"})
}

func (a *app) static(page, title string) echo.HandlerFunc {
	return func(c echo.Context) error { return a.render(c, http.StatusOK, page, pageData{Title: title}) }
}

func (a *app) robots(c echo.Context) error {
	return c.String(http.StatusOK, "User-agent: *\nAllow: /$\nAllow: /legal/\nDisallow: /\nSitemap: "+a.BaseURL+"/sitemap.xml\n")
}

func (a *app) sitemap(c echo.Context) error {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">` + "\n")
	for _, p := range []struct{ path, freq, prio string }{{"/", "monthly", "1.0"}, {"/legal/terms", "yearly", "0.3"}, {"/legal/privacy", "yearly", "0.3"}} {
		fmt.Fprintf(&b, "<url><loc>%s%s</loc><changefreq>%s</changefreq><priority>%s</priority></url>\n", template.HTMLEscapeString(a.BaseURL), p.path, p.freq, p.prio)
	}
	b.WriteString("</urlset>\n")
	return c.Blob(http.StatusOK, "application/xml; charset=utf-8", []byte(b.String()))
}

// goASU redirects to the university's page for a class (term and
// classNbr) or a course (term, subject and catalogNbr). Only well-formed
// values are accepted, so it can never become an open redirect.
func (a *app) goASU(c echo.Context) error {
	term, nbr := c.QueryParam("term"), c.QueryParam("classNbr")
	subject, catalogNbr := c.QueryParam("subject"), c.QueryParam("catalogNbr")
	var f fields
	if !termRe.MatchString(term) {
		f.add("term", "The term is 4 digits.")
	}
	course := nbr == "" && (subject != "" || catalogNbr != "")
	switch {
	case !course && !classNbrRe.MatchString(nbr):
		f.add("classNbr", "The class number is 5 digits.")
	case course && !subjectRe.MatchString(subject):
		f.add("subject", "The subject is 2 to 4 capital letters.")
	case course && !catalogNbrRe.MatchString(catalogNbr):
		f.add("catalogNbr", "The catalog number is 3 digits.")
	}
	if err := f.err(); err != nil {
		return err
	}
	if course {
		return c.Redirect(http.StatusFound, courseURL(term, subject, catalogNbr))
	}
	return c.Redirect(http.StatusFound, asu.ClassURL(term, nbr))
}

// courseURL is the ASU class search's list of a course's sections.
func courseURL(term, subject, catalogNbr string) string {
	q := url.Values{
		"campusOrOnlineSelection": {"A"},
		"catalogNbr":              {catalogNbr},
		"honors":                  {"F"},
		"promod":                  {"F"},
		"searchType":              {"all"},
		"subject":                 {subject},
		"term":                    {term},
	}
	return "https://catalog.apps.asu.edu/catalog/classes/classlist?" + q.Encode()
}

// unsubscribePage shows a confirmation for a GET of either unsubscribe link
// (the footer link or the List-Unsubscribe one): a GET never changes
// anything, since mail scanners follow links.
func (a *app) unsubscribePage(c echo.Context) error {
	token := c.QueryParam("token")
	d := pageData{Title: "Unsubscribe", Form: map[string]string{"token": token}}
	if _, err := a.Tokens.Verify(token, notify.PurposeUnsubscribe, a.Now()); err != nil {
		d.Errors = map[string]string{"token": "This unsubscribe link is invalid or has expired. You can turn alerts off in your settings."}
		return a.render(c, http.StatusBadRequest, "unsubscribe", d)
	}
	return a.render(c, http.StatusOK, "unsubscribe", d)
}

// unsubscribe is the RFC 8058 one-click endpoint (POST /api/unsubscribe,
// no session, no CSRF token: the signed token is the authority) and the
// confirmation form's target (POST /unsubscribe).
func (a *app) unsubscribe(c echo.Context) error {
	token := c.QueryParam("token")
	if token == "" && isForm(c) {
		token = c.FormValue("token")
	}
	page := c.Request().URL.Path == notify.UnsubscribePath
	uid, err := a.Tokens.Verify(token, notify.PurposeUnsubscribe, a.Now())
	if err != nil {
		if page {
			return a.render(c, http.StatusBadRequest, "unsubscribe", pageData{Title: "Unsubscribe",
				Errors: map[string]string{"token": "This unsubscribe link is invalid or has expired."}})
		}
		return invalid(FieldError{Field: "token", Message: "invalid or expired token"})
	}
	if err := a.DB.MarkUnsubscribed(c.Request().Context(), uid); err != nil && !isNotFound(err) {
		return err
	}
	if page {
		return a.render(c, http.StatusOK, "unsubscribe", pageData{Title: "Unsubscribed", Data: true})
	}
	return c.JSON(http.StatusOK, map[string]any{"unsubscribed": true})
}

// ---- section page ----

type sectionData struct {
	Watch   watchView
	Chart   template.HTML
	Points  []store.SeatPoint
	Watched bool
}

// ownSection returns the user's watch of the section in the URL (a
// section watch, or a linked watch of the lecture), or 404: a section page
// exists only for sections the user watches.
func (a *app) ownSection(c echo.Context) (watchView, error) {
	key := catalog.SectionKey{Term: c.Param("term"), ClassNbr: c.Param("classNbr")}
	if !termRe.MatchString(key.Term) || !classNbrRe.MatchString(key.ClassNbr) {
		return watchView{}, errorf(http.StatusNotFound, "not found")
	}
	vs, err := a.watchViews(c.Request().Context(), currentUser(c).ID)
	if err != nil {
		return watchView{}, err
	}
	// The section watch of a lecture comes before its linked watch.
	found := -1
	for i, v := range vs {
		if v.Term == key.Term && v.ClassNbr == key.ClassNbr && (found < 0 || v.Kind == catalog.WatchSection) {
			found = i
		}
	}
	if found < 0 {
		return watchView{}, errorf(http.StatusNotFound, "not found")
	}
	return vs[found], nil
}

func (a *app) sectionPage(c echo.Context) error {
	v, err := a.ownSection(c)
	if err != nil {
		return err
	}
	pts, err := a.DB.SeatHistory(c.Request().Context(), catalog.SectionKey{Term: v.Term, ClassNbr: v.ClassNbr})
	if err != nil {
		return err
	}
	title := v.Subject + " " + v.CatalogNbr + " #" + v.ClassNbr
	v.CSRF = csrfToken(c)
	return a.render(c, http.StatusOK, "section", pageData{Title: title, Data: sectionData{Watch: v, Chart: seatChart(pts), Points: pts}})
}

func (a *app) apiSection(c echo.Context) error {
	v, err := a.ownSection(c)
	if err != nil {
		return err
	}
	pts, err := a.DB.SeatHistory(c.Request().Context(), catalog.SectionKey{Term: v.Term, ClassNbr: v.ClassNbr})
	if err != nil {
		return err
	}
	type point struct {
		ObservedAt time.Time `json:"observed_at"`
		OpenSeats  int       `json:"open_seats"`
		Capacity   int       `json:"capacity"`
		Enrolled   int       `json:"enrolled"`
	}
	hist := make([]point, 0, len(pts))
	for _, p := range pts {
		hist = append(hist, point{p.ObservedAt, p.OpenSeats, p.Capacity, p.Enrolled})
	}
	return c.JSON(http.StatusOK, map[string]any{"section": v, "history": hist})
}

// seatChart draws open seats over time as an inline SVG step chart. Every
// value in it is a number we formatted, so it is safe as HTML.
func seatChart(pts []store.SeatPoint) template.HTML {
	if len(pts) == 0 {
		return ""
	}
	const w, h, pad = 600.0, 200.0, 30.0
	// Scaled to the most open seats seen, not to capacity: one seat opening
	// in a class of 300 is the change a watcher looks for.
	maxSeats := 1
	for _, p := range pts {
		maxSeats = max(maxSeats, p.OpenSeats)
	}
	t0, t1 := pts[0].ObservedAt, pts[len(pts)-1].ObservedAt
	span := t1.Sub(t0).Seconds()
	if span <= 0 {
		span = 1
	}
	x := func(t time.Time) float64 { return pad + (w-2*pad)*t.Sub(t0).Seconds()/span }
	y := func(n int) float64 { return h - pad - (h-2*pad)*float64(n)/float64(maxSeats) }
	var path strings.Builder
	for i, p := range pts {
		if i == 0 {
			fmt.Fprintf(&path, "M%.1f %.1f", x(p.ObservedAt), y(p.OpenSeats))
			continue
		}
		fmt.Fprintf(&path, " H%.1f V%.1f", x(p.ObservedAt), y(p.OpenSeats))
	}
	if len(pts) == 1 {
		fmt.Fprintf(&path, " H%.1f", w-pad)
	}
	last := pts[len(pts)-1]
	svg := fmt.Sprintf(`<svg class="chart" viewBox="0 0 %.0f %.0f" role="img" aria-labelledby="chart-title chart-desc">`+
		`<title id="chart-title">Open seats over time</title>`+
		`<desc id="chart-desc">%d observations from %s to %s; now %d open of %d.</desc>`+
		`<line class="axis" x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f"/>`+
		`<line class="axis" x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f"/>`+
		`<text class="label" x="4" y="%.0f">%d</text><text class="label" x="4" y="%.0f">0</text>`+
		`<path class="line" d="%s"/></svg>`,
		w, h, len(pts), t0.UTC().Format("Jan 2 15:04"), t1.UTC().Format("Jan 2 15:04"), last.OpenSeats, last.Capacity,
		pad, h-pad, w-pad, h-pad, pad, pad, pad, h-pad,
		pad+4, maxSeats, h-pad, path.String())
	return template.HTML(svg)
}

// ---- health ----

type checkResult struct {
	Status  string `json:"status"` // healthy, degraded, unhealthy
	Message string `json:"message,omitempty"`
	Value   any    `json:"value,omitempty"`
}

// Queue thresholds for the health report: a backlog or a growing dead-letter
// stream degrades the system before it breaks it.
const (
	lagDegraded    = 1000
	deadDegraded   = 1
	deadUnhealthy  = 100
	checkTimeLimit = 2 * time.Second
)

// health reports every part of the pipeline as the original's
// /api/monitoring/health did: healthy, degraded or unhealthy overall, with
// one entry per check. Unhealthy answers 503 so load balancers notice.
func (a *app) health(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), checkTimeLimit)
	defer cancel()
	checks := map[string]checkResult{}

	// The report is public: a failure is named, never described. The error
	// itself (addresses, driver messages) goes to the log, and the ops
	// port's /readyz shows it to operators.
	log := zerolog.Ctx(ctx)
	failed := func(name string, err error) checkResult {
		log.Warn().Err(err).Str("check", name).Msg("health check failed")
		return checkResult{Status: "unhealthy", Message: "not answering"}
	}
	checks["database"] = checkResult{Status: "healthy"}
	if err := a.DB.Ping(ctx); err != nil {
		checks["database"] = failed("database", err)
	}
	checks["redis"] = checkResult{Status: "healthy"}
	if err := a.Monitor.Ping(ctx); err != nil {
		checks["redis"] = failed("redis", err)
	}

	if st, err := a.Monitor.Breaker(ctx); err != nil {
		checks["circuit_breaker"] = failed("circuit_breaker", err)
	} else {
		r := checkResult{Status: "healthy", Value: st}
		if st.State != breaker.Closed {
			r.Status, r.Message = "degraded", "the university's class search is failing; checks are paused"
		}
		checks["circuit_breaker"] = r
	}

	if hb, err := a.Monitor.Heartbeat(ctx); err != nil {
		checks["scheduler"] = failed("scheduler", err)
	} else {
		age := a.Now().Sub(hb.CompletedAt)
		r := checkResult{Status: "healthy", Value: hb}
		switch {
		case hb.CompletedAt.IsZero():
			r.Status, r.Message = "degraded", "the scheduler has not completed a cycle yet"
		case age > 2*a.SchedulerInterval:
			r.Status, r.Message = "unhealthy", "no cycle completed in twice the interval"
		}
		checks["scheduler"] = r
	}

	if q, err := a.Monitor.Queue(ctx); err != nil {
		checks["queue"] = failed("queue", err)
		checks["dead_letters"] = checks["queue"]
	} else {
		lag := checkResult{Status: "healthy", Value: map[string]int64{"lag": q.Lag, "pending": q.Pending, "length": q.Length}}
		if q.Lag > lagDegraded {
			lag.Status, lag.Message = "degraded", "checks are waiting for workers"
		}
		checks["queue"] = lag
		dead := checkResult{Status: "healthy", Value: q.DeadLetters}
		switch {
		case q.DeadLetters >= deadUnhealthy:
			dead.Status, dead.Message = "unhealthy", "many checks failed for good"
		case q.DeadLetters >= deadDegraded:
			dead.Status, dead.Message = "degraded", "some checks failed for good; see the dead-letter stream"
		}
		checks["dead_letters"] = dead
	}

	overall := "healthy"
	for _, r := range checks {
		if r.Status == "unhealthy" {
			overall = "unhealthy"
			break
		}
		if r.Status == "degraded" {
			overall = "degraded"
		}
	}
	code := http.StatusOK
	if overall == "unhealthy" {
		code = http.StatusServiceUnavailable
	}
	return c.JSON(code, map[string]any{"status": overall, "timestamp": a.Now().UTC(), "checks": checks})
}
