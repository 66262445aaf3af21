package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/store"
)

// TestReservedSeatsOnCardsAndSettings: a section whose reserved groups were
// read shows them on the dashboard card, the section page and in the JSON
// API, and the watch's "also tell me about reserved seats" option is set
// from the HTML settings page and the JSON API.
func TestReservedSeatsOnCardsAndSettings(t *testing.T) {
	t.Parallel()
	e := setup(t)
	u := e.user("r@example.edu", false)
	w := storeWatch(t, e, u.ID, "2267", "70412", "CSE", "240")
	c := e.login("r@example.edu")

	s := catalog.Section{Term: "2267", ClassNbr: "70412", Subject: "CSE", CatalogNbr: "240", SectionCode: "1002",
		Title: "Intro", Capacity: 150, Enrolled: 147, Status: catalog.StatusOpen, HasReservedSeats: true}
	s.SetReserved([]catalog.ReservedGroup{{Name: "Computer Science <majors>", Capacity: 20, Enrolled: 17}})
	if _, err := e.db.ApplyCourse(context.Background(), store.CourseObservation{Course: s.Course(), ObservedAt: time.Now(),
		Sections: []catalog.Section{s}, Wanted: []string{"70412"}}); err != nil {
		t.Fatal(err)
	}

	for _, path := range []string{"/dashboard", "/sections/2267/70412"} {
		r := c.get(path)
		mustStatus(t, r, http.StatusOK)
		for _, want := range []string{"Computer Science &lt;majors&gt;: 3 of 20 open", "Reserved seats only", "0 of 150 seats open to everyone"} {
			if !strings.Contains(r.body, want) {
				t.Errorf("%s lacks %q", path, want)
			}
		}
	}
	view := c.get("/api/class-watches").json(t)["watches"].([]any)[0].(map[string]any)
	groups, _ := view["reserved_groups"].([]any)
	if view["status"] != "reserved" || view["open_to_everyone"] != float64(0) || len(groups) != 1 || view["notify_reserved"] != false {
		t.Errorf("API watch = %v", view)
	}

	id := fmt.Sprint(w.ID)
	r := c.get("/watches/" + id + "/settings")
	mustStatus(t, r, http.StatusOK)
	if !strings.Contains(r.body, "Also tell me about reserved seats") || strings.Contains(r.body, " checked>") {
		t.Errorf("settings page before: %.2000s", r.body)
	}
	mustStatus(t, c.do("POST", "/watches/"+id+"/settings", "", url.Values{"notify_reserved": {"on"}}), http.StatusSeeOther)
	if r := c.get("/watches/" + id + "/settings"); !strings.Contains(r.body, " checked>") {
		t.Errorf("settings page after turning it on: %.2000s", r.body)
	}
	r = c.do("PATCH", "/api/class-watches/"+id, `{"notify_reserved":false}`, nil)
	mustStatus(t, r, http.StatusOK)
	if got := r.json(t)["watch"].(map[string]any)["notify_reserved"]; got != false {
		t.Errorf("PATCH answered notify_reserved %v", got)
	}
	mustStatus(t, c.do("PATCH", "/api/class-watches/"+id, `{}`, nil), http.StatusBadRequest)
	views, err := e.db.ListWatches(context.Background(), u.ID)
	if err != nil || len(views) != 1 || views[0].NotifyReserved {
		t.Errorf("stored watch = %+v, %v; want reserved alerts off", views, err)
	}
}
