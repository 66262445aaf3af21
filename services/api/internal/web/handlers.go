package web

import (
	"context"
	"html/template"
	"net/http"
	"regexp"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pickmyclass/pickmyclass/pkg/breaker"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asu"
	"github.com/pickmyclass/pickmyclass/pkg/notify"
)

type handlers struct{ Deps }

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
func (h *handlers) health(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), checkTimeLimit)
	defer cancel()
	checks := map[string]checkResult{}

	checks["database"] = pingResult(h.Store.Ping(ctx))
	checks["redis"] = pingResult(h.Monitor.Ping(ctx))

	if st, err := h.Monitor.Breaker(ctx); err != nil {
		checks["circuit_breaker"] = checkResult{Status: "unhealthy", Message: err.Error()}
	} else {
		r := checkResult{Status: "healthy", Value: st}
		if st.State != breaker.Closed {
			r.Status, r.Message = "degraded", "the university's class search is failing; checks are paused"
		}
		checks["circuit_breaker"] = r
	}

	if hb, err := h.Monitor.Heartbeat(ctx); err != nil {
		checks["scheduler"] = checkResult{Status: "unhealthy", Message: err.Error()}
	} else {
		age := h.Now().Sub(hb.CompletedAt)
		r := checkResult{Status: "healthy", Value: hb}
		switch {
		case hb.CompletedAt.IsZero():
			r.Status, r.Message = "degraded", "the scheduler has not completed a cycle yet"
		case age > 2*h.SchedulerInterval:
			r.Status, r.Message = "unhealthy", "no cycle completed in twice the interval"
		}
		checks["scheduler"] = r
	}

	if q, err := h.Monitor.Queue(ctx); err != nil {
		checks["queue"] = checkResult{Status: "unhealthy", Message: err.Error()}
		checks["dead_letters"] = checkResult{Status: "unhealthy", Message: err.Error()}
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
	return c.JSON(code, map[string]any{"status": overall, "timestamp": h.Now().UTC(), "checks": checks})
}

func pingResult(err error) checkResult {
	if err != nil {
		return checkResult{Status: "unhealthy", Message: err.Error()}
	}
	return checkResult{Status: "healthy"}
}

var (
	termRe     = regexp.MustCompile(`^[0-9]{4}$`)
	classNbrRe = regexp.MustCompile(`^[0-9]{5}$`)
)

// goASU redirects to the university's page for a class. Only well-formed
// term and class numbers are accepted, so it can never become an open
// redirect.
func (h *handlers) goASU(c echo.Context) error {
	term, nbr := c.QueryParam("term"), c.QueryParam("classNbr")
	if !termRe.MatchString(term) || !classNbrRe.MatchString(nbr) {
		return echo.NewHTTPError(http.StatusBadRequest, "term must be 4 digits and classNbr 5 digits")
	}
	return c.Redirect(http.StatusFound, asu.ClassURL(term, nbr))
}

var unsubscribeTmpl = template.Must(template.New("unsubscribe").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Unsubscribe — PickMyClass</title></head>
<body style="font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;line-height:1.5">
{{if .Done}}<h1>You are unsubscribed</h1><p>PickMyClass will send you no more alert emails.</p>
{{else if .Error}}<h1>This link does not work</h1><p>{{.Error}}</p>
{{else}}<h1>Stop alert emails?</h1><p>PickMyClass will stop emailing you about your watched classes.</p>
<form method="post" action="/unsubscribe"><input type="hidden" name="token" value="{{.Token}}">
<button type="submit" style="font-size:1rem;padding:.6rem 1.2rem">Unsubscribe</button></form>{{end}}
</body></html>`))

// unsubscribePage shows a confirmation: a GET never changes anything, since
// mail scanners follow links.
func (h *handlers) unsubscribePage(c echo.Context) error {
	token := c.QueryParam("token")
	data := map[string]any{"Token": token}
	if _, err := h.Tokens.Verify(token, notify.PurposeUnsubscribe, h.Now()); err != nil {
		data["Error"] = "The unsubscribe link is invalid or has expired. You can turn alerts off in your settings."
		c.Response().WriteHeader(http.StatusBadRequest)
	}
	return unsubscribeTmpl.Execute(c.Response(), data)
}

// unsubscribe is the RFC 8058 one-click endpoint (and the confirmation
// form's target). It needs no session: the signed token is the authority.
func (h *handlers) unsubscribe(c echo.Context) error {
	token := c.QueryParam("token")
	if token == "" {
		token = c.FormValue("token")
	}
	uid, err := h.Tokens.Verify(token, notify.PurposeUnsubscribe, h.Now())
	if err != nil {
		if c.Request().URL.Path == "/unsubscribe" {
			c.Response().WriteHeader(http.StatusBadRequest)
			return unsubscribeTmpl.Execute(c.Response(), map[string]any{"Error": "The unsubscribe link is invalid or has expired."})
		}
		return echo.NewHTTPError(http.StatusBadRequest, "invalid or expired token")
	}
	if err := h.Store.MarkUnsubscribed(c.Request().Context(), uid); err != nil {
		return err
	}
	if c.Request().URL.Path == "/unsubscribe" {
		return unsubscribeTmpl.Execute(c.Response(), map[string]any{"Done": true})
	}
	return c.JSON(http.StatusOK, map[string]any{"unsubscribed": true})
}
