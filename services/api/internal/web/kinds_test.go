package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asu"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asusim"
	"github.com/pickmyclass/pickmyclass/pkg/check"
	"github.com/pickmyclass/pickmyclass/pkg/store"
	"github.com/pickmyclass/pickmyclass/services/api/internal/web"
)

var (
	cse240 = catalog.CourseKey{Term: "2267", Subject: "CSE", CatalogNbr: "240"}
	bio181 = catalog.CourseKey{Term: "2267", Subject: "BIO", CatalogNbr: "181"}
)

// courseCheck does what a worker does for a course that course or linked
// watches need: it reads every section of the course from the simulator,
// stores them all (WholeCourse) and publishes the changed keys.
func courseCheck(t *testing.T, e *env, course catalog.CourseKey) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	secs, err := e.deps.Catalog.Course(ctx, course)
	if err != nil {
		t.Fatal(err)
	}
	nbrs := make([]string, len(secs))
	for i, s := range secs {
		nbrs[i] = s.ClassNbr
	}
	res, err := e.db.ApplyCourse(ctx, store.CourseObservation{Course: course, ObservedAt: time.Now(), Sections: secs, Wanted: nbrs, WholeCourse: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Changed) == 0 {
		return
	}
	msg, err := check.EncodeUpdate(res.Changed)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.rdb.Publish(ctx, e.keys.Updates(), msg).Err(); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}

// seats sets a simulated section's enrolment.
func seats(t *testing.T, e *env, classNbr string, enrolled int) {
	t.Helper()
	key := catalog.SectionKey{Term: "2267", ClassNbr: classNbr}
	spec, ok := e.sim.Section(key)
	if !ok {
		t.Fatalf("simulator has no %v", key)
	}
	if err := e.sim.SetSeats(key, enrolled, spec.Capacity); err != nil {
		t.Fatal(err)
	}
}

// fieldsOf returns the fields a JSON error names.
func fieldsOf(t *testing.T, r response) []string {
	t.Helper()
	var out []string
	for _, d := range r.json(t)["details"].([]any) {
		out = append(out, d.(map[string]any)["field"].(string))
	}
	return out
}

// mustFields checks a 400 names exactly want, and that its messages
// contain text.
func mustFields(t *testing.T, what string, r response, text string, want ...string) {
	t.Helper()
	if r.status != http.StatusBadRequest {
		t.Errorf("%s: status %d, want 400; body %.400s", what, r.status, r.body)
		return
	}
	if got := fieldsOf(t, r); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s: fields %v, want %v; body %.400s", what, got, want, r.body)
	}
	if !strings.Contains(r.body, text) {
		t.Errorf("%s: %q not in %.400s", what, text, r.body)
	}
}

// watchByID finds a watch in a list answer.
func watchByID(t *testing.T, list map[string]any, id float64) map[string]any {
	t.Helper()
	for _, w := range list["watches"].([]any) {
		if m := w.(map[string]any); m["id"] == id {
			return m
		}
	}
	t.Fatalf("no watch %v in %v", id, list)
	return nil
}

func TestCourseAndLinkedWatchesAPI(t *testing.T) {
	t.Parallel()
	e := setup(t, func(d *web.Deps) { d.WatchLimit = 4 })
	u := e.user("kinds@example.edu", false)
	c := e.login("kinds@example.edu")
	post := func(body string) response { return c.post("/api/class-watches", body) }

	// Bad input is refused field by field, before the class search is asked.
	n0 := e.sim.Requests()
	mustFields(t, "unknown kind", post(`{"kind":"semester","term":"2267","class_nbr":"70412"}`), `\"section\", \"course\" or \"linked\"`, "kind")
	mustFields(t, "course without a course", post(`{"kind":"course","term":"2267"}`), "The subject", "subject", "catalog_nbr")
	mustFields(t, "course with a class number", post(`{"kind":"course","term":"2267","class_nbr":"70412","subject":"CSE","catalog_nbr":"240"}`), "not a class number", "class_nbr")
	mustFields(t, "bad filter", post(`{"kind":"course","term":"2267","subject":"CSE","catalog_nbr":"240","filter":{"mode":"hybrid","days":["M","Fr"],"after":"25:00"}}`),
		`Mode \"hybrid\" is not`, "filter.mode", "filter.days", "filter.after")
	mustFields(t, "empty window", post(`{"kind":"course","term":"2267","subject":"CSE","catalog_nbr":"240","filter":{"after":"14:00","before":"09:00"}}`),
		"Before must be later than after", "filter.before")
	mustFields(t, "filter on a section", post(`{"term":"2267","class_nbr":"70412","filter":{"mode":"online"}}`), "Only a course watch", "filter")
	mustFields(t, "course on a linked watch", post(`{"kind":"linked","term":"2267","class_nbr":"71001","subject":"BIO"}`), "class number only", "subject")
	mustStatus(t, post(`{"kind":"course","term":"2267","subject":"CSE","catalog_nbr":"240","filter":{"colour":"red"}}`), http.StatusBadRequest)
	if got := e.sim.Requests(); got != n0 {
		t.Errorf("bad input asked the class search %d times", got-n0)
	}

	// What the catalog does not have, or cannot be watched with labs.
	mustFields(t, "no such course", post(`{"kind":"course","term":"2267","subject":"CSE","catalog_nbr":"999"}`), "No course CSE 999 in Fall 2026", "catalog_nbr")
	mustFields(t, "no labs", post(`{"kind":"linked","term":"2267","class_nbr":"70412"}`), "has no labs or recitations", "class_nbr")
	mustFields(t, "a lab", post(`{"kind":"linked","term":"2267","class_nbr":"71002"}`), "is a lab of lecture #71001", "class_nbr")
	mustFields(t, "no such lecture", post(`{"kind":"linked","term":"2267","class_nbr":"99999"}`), "No class 99999", "class_nbr")

	// A course watch with a filter; the course is spelled as the catalog
	// does, and a second one is a conflict.
	r := post(`{"kind":"course","term":"2267","subject":"cse","catalog_nbr":"240","notify_gone":true,"filter":{"mode":"IN_PERSON","instructor":"lovelace","days":["w","M"]}}`)
	mustStatus(t, r, http.StatusCreated)
	course := r.json(t)["watch"].(map[string]any)
	f, _ := course["filter"].(map[string]any)
	if course["kind"] != "course" || course["subject"] != "CSE" || course["class_nbr"] != "" || course["notify_gone"] != true ||
		f["mode"] != "in_person" || fmt.Sprint(f["days"]) != "[M W]" || course["status"] != "waiting" || course["filter_label"] != "in person, with lovelace, on M W" {
		t.Errorf("course watch = %v", course)
	}
	r = post(`{"kind":"course","term":"2267","subject":"CSE","catalog_nbr":"240"}`)
	mustStatus(t, r, http.StatusConflict)
	if !strings.Contains(r.body, "any section of CSE 240") {
		t.Errorf("course conflict: %s", r.body)
	}

	// A lecture with its labs, made while everything is full: its
	// baseline is closed.
	r = post(`{"kind":"linked","term":"2267","class_nbr":"71001"}`)
	mustStatus(t, r, http.StatusCreated)
	linked := r.json(t)["watch"].(map[string]any)
	if linked["kind"] != "linked" || linked["class_nbr"] != "71001" || linked["subject"] != "BIO" {
		t.Errorf("linked watch = %v", linked)
	}
	mustStatus(t, post(`{"kind":"linked","term":"2267","class_nbr":"71001"}`), http.StatusConflict)
	// The section watch of the same lecture is another watch.
	mustStatus(t, post(`{"term":"2267","class_nbr":"71001","notify_reserved":true,"notify_gone":true}`), http.StatusCreated)

	// The workers check both courses: the cards list their sections.
	courseCheck(t, e, cse240)
	courseCheck(t, e, bio181)
	list := c.get("/api/class-watches").json(t)
	course = watchByID(t, list, course["id"].(float64))
	counts, _ := course["counts"].(map[string]any)
	secs, _ := course["sections"].([]any)
	if course["status"] != "full" || fmt.Sprint(counts) != "map[available:0 matching:1 sections:2]" || len(secs) != 2 {
		t.Fatalf("course watch after a check = %v", course)
	}
	first := secs[0].(map[string]any)
	if first["class_nbr"] != "70412" || first["matches"] != true || secs[1].(map[string]any)["matches"] != false ||
		fmt.Sprint(first["instructors"]) != "[Ada Lovelace]" || first["status"] != "full" || course["deadline"] == nil {
		t.Errorf("course sections = %v", secs)
	}
	linked = watchByID(t, list, linked["id"].(float64))
	secs, _ = linked["sections"].([]any)
	if len(secs) != 3 || secs[0].(map[string]any)["role"] != "lecture" || secs[1].(map[string]any)["role"] != "linked" ||
		secs[1].(map[string]any)["component"] != "LAB" || linked["status"] != "full" || linked["status_label"] != "Lecture full" {
		t.Fatalf("linked watch after a check = %v", linked)
	}

	// Seats open in the matching section, and in the lecture but no lab.
	seats(t, e, "70412", 99)
	seats(t, e, "71001", 140)
	courseCheck(t, e, cse240)
	courseCheck(t, e, bio181)
	list = c.get("/api/class-watches").json(t)
	if w := watchByID(t, list, course["id"].(float64)); w["status"] != "open" || w["counts"].(map[string]any)["available"] != float64(1) {
		t.Errorf("course watch with a seat = %v", w)
	}
	if w := watchByID(t, list, linked["id"].(float64)); w["status"] != "full" || w["status_label"] != "Lecture open, no labs with seats" {
		t.Errorf("linked watch, lecture open = %v", w)
	}
	seats(t, e, "71003", 20)
	courseCheck(t, e, bio181)
	list = c.get("/api/class-watches").json(t)
	if w := watchByID(t, list, linked["id"].(float64)); w["status"] != "open" || w["status_label"] != "Lecture and a lab open" || w["seat_status"] != "open" {
		t.Errorf("linked watch, lecture and lab open = %v", w)
	}

	// The limit (4) counts live watches only.
	mustStatus(t, post(`{"term":"2267","class_nbr":"70413"}`), http.StatusCreated)
	mustStatus(t, post(`{"term":"2267","class_nbr":"81777"}`), http.StatusUnprocessableEntity)
	if _, err := e.db.Pool().Exec(context.Background(), `UPDATE class_watches SET expired_at = now() WHERE id = $1`, int64(course["id"].(float64))); err != nil {
		t.Fatal(err)
	}
	mustStatus(t, post(`{"term":"2267","class_nbr":"81777"}`), http.StatusCreated)
	list = c.get("/api/class-watches").json(t)
	if w := watchByID(t, list, course["id"].(float64)); w["status"] != "enrollment_closed" || w["expired_at"] == nil || w["seat_status"] != "open" {
		t.Errorf("expired watch = %v", w)
	}

	// A linked watch made while the lecture and a lab have seats starts
	// from that: it is no news.
	other := e.user("other@example.edu", false)
	mustStatus(t, e.login("other@example.edu").post("/api/class-watches", `{"kind":"linked","term":"2267","class_nbr":"71001"}`), http.StatusCreated)
	ws, err := e.db.ListWatches(context.Background(), other.ID)
	if err != nil || len(ws) != 1 || !ws[0].AlertOpen {
		t.Errorf("linked watch made while open: %+v, %v", ws, err)
	}
	if ws, _ := e.db.ListWatches(context.Background(), u.ID); len(ws) != 5 {
		t.Errorf("watches = %d, want 5", len(ws))
	}
}

func TestWatchOptionsAndPauseAPI(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.user("opts@example.edu", false)
	c := e.login("opts@example.edu")
	mustStatus(t, c.post("/api/class-watches", `{"kind":"course","term":"2267","subject":"CSE","catalog_nbr":"240"}`), http.StatusCreated)
	mustStatus(t, c.post("/api/class-watches", `{"kind":"linked","term":"2267","class_nbr":"71001"}`), http.StatusCreated)
	mustStatus(t, c.post("/api/class-watches", `{"term":"2267","class_nbr":"70412"}`), http.StatusCreated)
	list := c.get("/api/class-watches").json(t)["watches"].([]any)
	courseID := fmt.Sprint(list[0].(map[string]any)["id"])
	linkedID := fmt.Sprint(list[1].(map[string]any)["id"])
	sectionID := fmt.Sprint(list[2].(map[string]any)["id"])
	patch := func(id, body string) response { return c.do("PATCH", "/api/class-watches/"+id, body, nil) }

	// A section watch pauses and takes seat-gone notices too; a bad
	// filter and a bad time are reported together.
	courseCheck(t, e, cse240)
	r := patch(sectionID, `{"notify_gone":true,"paused_until":"`+time.Now().Add(time.Hour).Format(time.RFC3339)+`"}`)
	mustStatus(t, r, http.StatusOK)
	if w := r.json(t)["watch"].(map[string]any); w["status"] != "paused" || w["seat_status"] != "full" || w["notify_gone"] != true || w["open_seats"] != float64(0) {
		t.Errorf("paused section watch = %v", w)
	}
	mustFields(t, "filter and time", patch(sectionID, `{"filter":{},"paused_until":"later"}`), "Only a course watch", "filter", "paused_until")

	mustStatus(t, patch(courseID, `{}`), http.StatusBadRequest)
	mustFields(t, "bad filter", patch(courseID, `{"filter":{"mode":"hybrid"}}`), "Mode", "filter.mode")
	mustFields(t, "filter on a linked watch", patch(linkedID, `{"filter":{"mode":"online"}}`), "Only a course watch", "filter")
	mustFields(t, "not a time", patch(linkedID, `{"paused_until":"tomorrow"}`), "RFC 3339", "paused_until")
	mustFields(t, "a number", patch(linkedID, `{"paused_until":12}`), "wrong type", "paused_until")
	mustFields(t, "past", patch(linkedID, `{"paused_until":"`+time.Now().Add(-time.Hour).Format(time.RFC3339)+`"}`), "has passed", "paused_until")
	mustFields(t, "too far", patch(linkedID, `{"paused_until":"`+time.Now().AddDate(2, 0, 0).Format(time.RFC3339)+`"}`), "at most a year", "paused_until")
	mustStatus(t, e.login2(t, "stranger@example.edu").do("PATCH", "/api/class-watches/"+linkedID, `{"notify_gone":true}`, nil), http.StatusNotFound)

	r = patch(courseID, `{"filter":{"mode":"online","campus":"tempe"},"notify_gone":true,"notify_reserved":true}`)
	mustStatus(t, r, http.StatusOK)
	w := r.json(t)["watch"].(map[string]any)
	if w["filter_label"] != "online, TEMPE" || w["notify_gone"] != true || w["notify_reserved"] != true {
		t.Errorf("patched course watch = %v", w)
	}

	until := time.Now().Add(26 * time.Hour).UTC().Truncate(time.Second)
	r = patch(linkedID, `{"paused_until":"`+until.Format(time.RFC3339)+`"}`)
	mustStatus(t, r, http.StatusOK)
	w = r.json(t)["watch"].(map[string]any)
	if w["status"] != "paused" || w["paused_until"] != until.Format(time.RFC3339) || w["status_label"] != "Paused" || w["seat_status"] != "waiting" {
		t.Errorf("paused watch = %v", w)
	}
	r = patch(linkedID, `{"paused_until":null}`)
	mustStatus(t, r, http.StatusOK)
	if w = r.json(t)["watch"].(map[string]any); w["status"] == "paused" || w["paused_until"] != nil {
		t.Errorf("resumed watch = %v", w)
	}

	// Every alert at once.
	mustFields(t, "no until", c.do("PUT", "/api/user/alerts-pause", `{}`, nil), "null to resume", "until")
	mustFields(t, "bad until", c.do("PUT", "/api/user/alerts-pause", `{"until":"soon"}`, nil), "RFC 3339", "until")
	r = c.do("PUT", "/api/user/alerts-pause", `{"until":"`+until.Format(time.RFC3339)+`"}`, nil)
	mustStatus(t, r, http.StatusOK)
	if got := r.json(t)["alerts_paused_until"]; got != until.Format(time.RFC3339) {
		t.Errorf("alerts_paused_until = %v", got)
	}
	if me := c.get("/api/auth/me").json(t)["user"].(map[string]any); me["alerts_paused_until"] != until.Format(time.RFC3339) {
		t.Errorf("me = %v", me)
	}
	if got := c.get("/api/class-watches").json(t)["alerts_paused_until"]; got != until.Format(time.RFC3339) {
		t.Errorf("list alerts_paused_until = %v", got)
	}
	r = c.post("/api/user/alerts-pause", `{"until":null}`)
	mustStatus(t, r, http.StatusOK)
	if got := r.json(t)["alerts_paused_until"]; got != nil {
		t.Errorf("after resume alerts_paused_until = %v", got)
	}

	// The pause forms of the pages.
	r = c.do("POST", "/watches/"+linkedID+"/pause", "", url.Values{"for": {"1w"}})
	mustStatus(t, r, http.StatusSeeOther)
	if w := watchByID(t, c.get("/api/class-watches").json(t), list[1].(map[string]any)["id"].(float64)); w["status"] != "paused" {
		t.Errorf("after the 1-week form: %v", w)
	}
	mustStatus(t, c.do("POST", "/watches/"+linkedID+"/pause", "", url.Values{"for": {"date"}, "until": {"2001-01-01"}}), http.StatusBadRequest)
	mustStatus(t, c.do("POST", "/watches/"+linkedID+"/resume", "", url.Values{}), http.StatusSeeOther)
	if w := watchByID(t, c.get("/api/class-watches").json(t), list[1].(map[string]any)["id"].(float64)); w["status"] == "paused" {
		t.Errorf("after the resume form: %v", w)
	}
	day := time.Now().AddDate(0, 0, 3).Format("2006-01-02")
	r = c.do("POST", "/settings/alerts-pause", "", url.Values{"for": {"date"}, "until": {day}, "back": {"/settings"}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/settings?m=alerts-paused#pause" {
		t.Errorf("pause all: %d %s", r.status, r.header.Get("Location"))
	}
	if page := c.get("/dashboard"); !strings.Contains(page.body, "Every alert is paused until") {
		t.Errorf("dashboard does not say alerts are paused")
	}
	r = c.do("POST", "/settings/alerts-pause", "", url.Values{"for": {"date"}, "until": {"yesterday"}, "back": {"https://evil.example"}})
	if r.header.Get("Location") != "/dashboard?m=pause-invalid#pause" {
		t.Errorf("bad pause: %s", r.header.Get("Location"))
	}
	mustStatus(t, c.do("POST", "/settings/alerts-resume", "", url.Values{}), http.StatusSeeOther)
	if me := c.get("/api/auth/me").json(t)["user"].(map[string]any); me["alerts_paused_until"] != nil {
		t.Errorf("after resume: %v", me)
	}
}

// login2 registers and signs in another account.
func (e *env) login2(t *testing.T, email string) *client {
	t.Helper()
	e.user(email, false)
	return e.login(email)
}

// TestExportHasTheNewWatchFields: the export carries each watch's kind,
// filter, seat-gone choice, pause and expiry, and the sections each alert
// named.
func TestExportHasTheNewWatchFields(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.user("export@example.edu", false)
	c := e.login("export@example.edu")
	mustStatus(t, c.post("/api/class-watches", `{"kind":"course","term":"2267","subject":"CSE","catalog_nbr":"240","notify_gone":true,"filter":{"mode":"in_person"}}`), http.StatusCreated)
	// The course is seen full, then a section opens: one alert naming it.
	courseCheck(t, e, cse240)
	seats(t, e, "70412", 98)
	courseCheck(t, e, cse240)
	until := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
	mustStatus(t, c.do("PUT", "/api/user/alerts-pause", `{"until":"`+until+`"}`, nil), http.StatusOK)

	r := c.get("/api/user/export")
	mustStatus(t, r, http.StatusOK)
	x := r.json(t)
	w := x["class_watches"].([]any)[0].(map[string]any)
	for _, k := range []string{"kind", "filter", "notify_gone", "paused_until", "expired_at", "deadline", "sections"} {
		if _, ok := w[k]; !ok {
			t.Errorf("export watch has no %q: %v", k, w)
		}
	}
	if w["kind"] != "course" || w["notify_gone"] != true || w["filter"].(map[string]any)["mode"] != "in_person" {
		t.Errorf("export watch = %v", w)
	}
	if acc := x["account"].(map[string]any); acc["alerts_paused_until"] != until {
		t.Errorf("export account = %v", acc)
	}
	ns := x["notification_history"].([]any)
	if len(ns) != 1 || fmt.Sprint(ns[0].(map[string]any)["sections"]) != "[70412]" {
		t.Errorf("notification history = %v", ns)
	}
}

// cardEvent is one "watch" event of the live-update stream.
type cardEvent struct {
	ID         int64  `json:"id"`
	Status     string `json:"status"`
	SeatStatus string `json:"seat_status"`
	HTML       string `json:"html"`
}

// waitCard reads the stream until an event for watch id satisfies ok.
func waitCard(t *testing.T, what string, rd *bufio.Reader, id int64, ok func(cardEvent) bool) {
	t.Helper()
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("%s: stream ended: %v", what, err)
		}
		if !strings.HasPrefix(line, "data: ") {
			continue
		}
		var ev cardEvent
		if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.ID == id && ok(ev) {
			return
		}
	}
}

// TestLiveUpdatesCourseAndLinked: the cards of course and linked watches
// are re-rendered on the stream when any of their sections changes, and a
// section added to a watched course joins its card.
func TestLiveUpdatesCourseAndLinked(t *testing.T) {
	t.Parallel()
	e := setup(t, func(d *web.Deps) { d.Streams.Recheck = 100 * time.Millisecond })
	u := e.user("livecourse@example.edu", false)
	ctx := context.Background()
	course, err := e.db.CreateWatch(ctx, u.ID, store.NewWatch{Kind: catalog.WatchCourse, Term: "2267", Subject: "CSE", CatalogNbr: "240"}, 10)
	if err != nil {
		t.Fatal(err)
	}
	linked, err := e.db.CreateWatch(ctx, u.ID, store.NewWatch{Kind: catalog.WatchLinked, Term: "2267", ClassNbr: "71001", Subject: "BIO", CatalogNbr: "181"}, 10)
	if err != nil {
		t.Fatal(err)
	}
	courseCheck(t, e, cse240)
	courseCheck(t, e, bio181)
	c := e.login("livecourse@example.edu")
	_, rd := openStream(t, e, c)

	seats(t, e, "70412", 95)
	courseCheck(t, e, cse240)
	waitCard(t, "course", rd, course.ID, func(ev cardEvent) bool {
		return ev.Status == "open" && strings.Contains(ev.HTML, "5 of 100 seats open") && strings.Contains(ev.HTML, "2 sections · 2 with seats")
	})

	seats(t, e, "71001", 140)
	seats(t, e, "71002", 20)
	courseCheck(t, e, bio181)
	waitCard(t, "linked", rd, linked.ID, func(ev cardEvent) bool {
		return ev.Status == "open" && strings.Contains(ev.HTML, "Lecture and a lab open") && strings.Contains(ev.HTML, "Labs with seats: 1 of 2")
	})

	// A new section of the course: the stream follows it.
	if err := e.sim.AddSection(asusim.SectionSpec{Term: "2267", ClassNbr: "70499", Subject: "CSE", CatalogNbr: "240", Section: "03",
		Title: "Intro to Programming Languages", Capacity: 30, Enrolled: 30}); err != nil {
		t.Fatal(err)
	}
	courseCheck(t, e, cse240)
	waitCard(t, "new section", rd, course.ID, func(ev cardEvent) bool {
		return strings.Contains(ev.HTML, "#70499") && strings.Contains(ev.HTML, "3 sections")
	})
	seats(t, e, "70499", 29)
	courseCheck(t, e, cse240)
	waitCard(t, "new section opens", rd, course.ID, func(ev cardEvent) bool {
		return strings.Contains(ev.HTML, "1 of 30 seats open")
	})
}

// TestCourseAndLinkedPages drives the add page (a section looked up with
// its labs, a course with a filter), the cards, the settings page and the
// admin classes page.
func TestCourseAndLinkedPages(t *testing.T) {
	t.Parallel()
	e := setup(t)
	u := e.user("pages@example.edu", false)
	c := e.login("pages@example.edu")
	mustContain := func(what string, r response, status int, texts ...string) {
		t.Helper()
		mustStatus(t, r, status)
		for _, s := range texts {
			if !strings.Contains(r.body, s) {
				t.Errorf("%s: %q not in the page", what, s)
			}
		}
	}

	mustContain("add page", c.get("/dashboard/add"), http.StatusOK, "Any section of a course", `id="lookup"`)
	mustContain("lecture", c.get("/dashboard/add?term=2267&class_nbr=71001"), http.StatusOK,
		"Labs and recitations of this lecture", "#71002", "#71003", "Watch this lecture with any of its labs", "Charles Darwin", "Watch any section of BIO 181 instead")
	r := c.get("/dashboard/add?term=2267&class_nbr=71002")
	mustContain("lab", r, http.StatusOK, "of lecture #71001")
	if strings.Contains(r.body, `id="watch-linked"`) {
		t.Error("a lab is offered with labs")
	}
	if r := c.get("/dashboard/add?term=2267&class_nbr=70412"); strings.Contains(r.body, `id="watch-linked"`) || !strings.Contains(r.body, `id="watch-section"`) {
		t.Error("a section without labs: wrong buttons")
	}
	mustContain("unknown class", c.get("/dashboard/add?term=2267&class_nbr=99999"), http.StatusBadRequest, `id="class-error"`, "No class 99999")

	mustStatus(t, c.do("POST", "/dashboard/add", "", url.Values{"kind": {"linked"}, "term": {"2267"}, "class_nbr": {"71001"}, "notify_gone": {"on"}}), http.StatusSeeOther)
	r = c.do("POST", "/dashboard/add", "", url.Values{"kind": {"course"}, "term": {"2267"}, "subject": {"CSE"}, "catalog_nbr": {"240"},
		"after": {"14:00"}, "before": {"09:00"}, "days": {"M", "W"}})
	mustContain("bad window", r, http.StatusBadRequest, "Before must be later than after", `value="14:00"`, `value="M" checked`)
	r = c.do("POST", "/dashboard/add", "", url.Values{"kind": {"course"}, "term": {"2267"}, "subject": {"cse"}, "catalog_nbr": {"240"},
		"mode": {"in_person"}, "days": {"M", "W"}})
	mustStatus(t, r, http.StatusSeeOther)
	ws, err := e.db.ListWatches(context.Background(), u.ID)
	if err != nil || len(ws) != 2 || ws[1].Kind != catalog.WatchCourse || ws[1].Filter.String() != "in person, on M W" || !ws[0].NotifyGone {
		t.Fatalf("watches = %+v, %v", ws, err)
	}
	courseID := fmt.Sprint(ws[1].ID)
	mustContain("dashboard before a check", c.get(r.header.Get("Location")), http.StatusOK,
		"Now watching any section of CSE 240", "Any section: in person, on M W", "with any of its labs", "The sections show after the first check.")
	// The last day to enroll, in Arizona, is the day before the deadline.
	end, ok := e.sim.EnrollDeadline(catalog.SectionKey{Term: "2267", ClassNbr: "70412"})
	if !ok {
		t.Fatal("no deadline")
	}
	lastDay := end.AddDate(0, 0, -1).In(asu.Phoenix).Format("Mon, Jan 2, 2006")

	courseCheck(t, e, cse240)
	courseCheck(t, e, bio181)
	mustContain("dashboard", c.get("/dashboard"), http.StatusOK, "2 of 2 sections match · 1 with seats", "Lecture full", "Labs with seats: 0 of 2",
		`data-class="71002"`, `action="/watches/`+courseID+`/pause"`, "CSE 240 — Intro to Programming Languages", "Last day to enroll: ")
	if !strings.Contains(c.get("/dashboard").body, lastDay) {
		t.Errorf("the dashboard does not say the last day to enroll is %s", lastDay)
	}

	// The lecture's page leads to its labs.
	mustStatus(t, c.post("/api/class-watches", `{"term":"2267","class_nbr":"71001"}`), http.StatusCreated)
	mustContain("lecture page", c.get("/sections/2267/71001"), http.StatusOK, `href="/dashboard/add?term=2267&amp;class_nbr=71001#found"`)
	mustContain("course settings", c.get("/watches/"+courseID+"/settings"), http.StatusOK, `value="in_person" selected`, `value="M" checked`, "Pause this watch")
	mustContain("bad settings", c.do("POST", "/watches/"+courseID+"/settings", "", url.Values{"mode": {"hybrid"}}), http.StatusBadRequest, "Mode")
	mustStatus(t, c.do("POST", "/watches/"+courseID+"/settings", "", url.Values{"mode": {"online"}, "notify_gone": {"on"}}), http.StatusSeeOther)
	if ws, _ := e.db.ListWatches(context.Background(), u.ID); ws[1].Filter.String() != "online" || !ws[1].NotifyGone || ws[1].NotifyReserved {
		t.Errorf("after settings: %+v", ws[1])
	}
	mustContain("no match", c.get("/dashboard"), http.StatusOK, "No section matches your filter", "0 of 2 sections match")

	// Paused and closed cards.
	mustStatus(t, c.do("POST", "/watches/"+courseID+"/pause", "", url.Values{"for": {"1d"}}), http.StatusSeeOther)
	mustContain("paused", c.get("/dashboard"), http.StatusOK, `data-status="paused">Paused<`, "No alerts until", `action="/watches/`+courseID+`/resume"`)
	if _, err := e.db.Pool().Exec(context.Background(), `UPDATE class_watches SET expired_at = now() WHERE id = $1`, ws[1].ID); err != nil {
		t.Fatal(err)
	}
	mustContain("closed", c.get("/dashboard"), http.StatusOK, "Enrollment closed", "is no longer checked and does not count toward your limit")

	// The operator sees the course watch beside the watched sections.
	e.user("root@example.edu", true)
	mustContain("admin classes", e.login("root@example.edu").get("/admin/classes"), http.StatusOK, `id="watched-courses"`, "<td>CSE 240</td>", "#71001")

	r = c.get("/go/asu?term=2267&subject=CSE&catalogNbr=240")
	if r.status != http.StatusFound || !strings.Contains(r.header.Get("Location"), "subject=CSE") || !strings.HasPrefix(r.header.Get("Location"), "https://catalog.apps.asu.edu/") {
		t.Errorf("course link: %d %s", r.status, r.header.Get("Location"))
	}
	mustStatus(t, c.get("/go/asu?term=2267&subject=C%3CS&catalogNbr=240"), http.StatusBadRequest)
}
