package channel_test

import (
	"context"
	"encoding/json"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/channel"
	"github.com/pickmyclass/pickmyclass/pkg/channel/channeltest"
)

var alertAt = time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)

func enrollURL(s catalog.Section) string {
	return "https://app.example/go/asu?classNbr=" + s.ClassNbr + "&term=" + s.Term
}

// courseSections are two open sections of CSE 240.
func courseSections() []catalog.Section {
	a := catalog.Section{
		Term: "2267", ClassNbr: "70412", Subject: "CSE", CatalogNbr: "240", SectionCode: "01",
		Title: "Introduction to Programming Languages", Instructors: []catalog.Instructor{{Name: "Ada Lovelace"}},
		Capacity: 150, Enrolled: 149, Status: catalog.StatusOpen, Location: "BYENG 210",
		Meetings: []catalog.Meeting{{Days: "M W", StartTime: "1:30 PM", EndTime: "2:45 PM"}},
	}
	b := a
	b.ClassNbr, b.SectionCode, b.Enrolled, b.Location = "70413", "1002", 146, "COOR 170"
	b.Instructors = []catalog.Instructor{{Name: "Grace Hopper"}}
	return []catalog.Section{a, b}
}

// linkedSections are a lecture of CSE 310 and its open lab.
func linkedSections() []catalog.Section {
	lec := catalog.Section{
		Term: "2267", ClassNbr: "66445", Subject: "CSE", CatalogNbr: "310", SectionCode: "01", Component: "LEC",
		Title: "Data Structures and Algorithms", Instructors: []catalog.Instructor{{Name: "Edsger Dijkstra"}},
		Capacity: 200, Enrolled: 198, Status: catalog.StatusOpen, Association: "1", Primary: true,
	}
	lab := lec
	lab.ClassNbr, lab.SectionCode, lab.Component, lab.Primary = "66450", "02", "LAB", false
	lab.Instructors, lab.Capacity, lab.Enrolled = nil, 24, 23
	return []catalog.Section{lec, lab}
}

func watchMessage(kind catalog.WatchKind, ev catalog.Event, secs []catalog.Section, f catalog.Filter) channel.Message {
	w := channel.Watch{Kind: kind, Filter: f, Sections: secs}
	for _, s := range secs {
		w.URLs = append(w.URLs, enrollURL(s))
	}
	return channel.WatchAlert("pmc-9-"+string(ev)+"-1-c3", ev, secs[0], w, "Fall 2026", secs[0].OpenSeats(), enrollURL(secs[0]), alertAt)
}

func TestWatchAlertText(t *testing.T) {
	t.Parallel()
	inPerson := catalog.Filter{Mode: catalog.ModeInPerson, After: "10:00"}
	gone := courseSections()[0]
	gone.Enrolled = 150
	tests := []struct {
		name  string
		msg   channel.Message
		title string
		body  []string
	}{
		{
			name:  "course seats",
			msg:   watchMessage(catalog.WatchCourse, catalog.EventSeatAvailable, courseSections(), inPerson),
			title: "Seats open in CSE 240: 2 sections",
			body: []string{"Fall 2026 · matching: in person, from 10:00",
				"Section 01 (#70412): 1 of 150 open · Ada Lovelace · M W 1:30 PM–2:45 PM · BYENG 210",
				"Enroll: " + enrollURL(courseSections()[0]),
				"Section 1002 (#70413): 4 of 150 open · Grace Hopper", "COOR 170",
				"Enroll: " + enrollURL(courseSections()[1])},
		},
		{
			name:  "course one section, no filter",
			msg:   watchMessage(catalog.WatchCourse, catalog.EventSeatAvailable, courseSections()[1:], catalog.Filter{}),
			title: "Seats open in CSE 240: section 1002 (#70413)",
			body:  []string{"CSE 240 — Introduction to Programming Languages\nFall 2026\n", "4 of 150 open"},
		},
		{
			name:  "linked seats",
			msg:   watchMessage(catalog.WatchLinked, catalog.EventSeatAvailable, linkedSections(), catalog.Filter{}),
			title: "CSE 310 lecture #66445 and lab #66450 both have seats",
			body:  []string{"Lecture #66445: 2 of 200 open · Edsger Dijkstra", "Lab #66450: 1 of 24 open · Staff", "Enroll: " + enrollURL(linkedSections()[1])},
		},
		{
			name:  "section seat gone",
			msg:   channel.Alert("id", catalog.EventSeatGone, gone, "Fall 2026", 0, enrollURL(gone), alertAt),
			title: "Seat taken again: CSE 240 (#70412)",
			body:  []string{"The seat in CSE 240 section 01 (#70412) you were told about is taken again.", "another alert when a seat opens"},
		},
		{
			name:  "course seats gone",
			msg:   watchMessage(catalog.WatchCourse, catalog.EventSeatGone, courseSections(), inPerson),
			title: "Full again: CSE 240",
			body:  []string{"The sections of CSE 240 you were told about, section 01 (#70412) and section 1002 (#70413), are full again.", "Still watching the course"},
		},
		{
			name:  "linked combination gone",
			msg:   watchMessage(catalog.WatchLinked, catalog.EventSeatGone, linkedSections(), catalog.Filter{}),
			title: "No longer open: CSE 310 lecture #66445 with lab #66450",
			body:  []string{"The lecture+lab combination you were told about, CSE 310 lecture #66445 with lab #66450, is no longer open.", "Still watching"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.msg.Title != tc.title {
				t.Errorf("title = %q, want %q", tc.msg.Title, tc.title)
			}
			for _, w := range tc.body {
				if !strings.Contains(tc.msg.Body, w) {
					t.Errorf("body lacks %q:\n%s", w, tc.msg.Body)
				}
			}
		})
	}
}

// TestWatchAlertsReachEveryChannel sends course, linked and seat-gone
// alerts to Discord, Slack, ntfy and push receivers over HTTPS: each
// receiver gets the title and every section named.
func TestWatchAlertsReachEveryChannel(t *testing.T) {
	t.Parallel()
	vapid := vapidKeys(t)
	msgs := []struct {
		msg  channel.Message
		nbrs []string
	}{
		{watchMessage(catalog.WatchCourse, catalog.EventSeatAvailable, courseSections(), catalog.Filter{}), []string{"70412", "70413"}},
		{watchMessage(catalog.WatchLinked, catalog.EventSeatAvailable, linkedSections(), catalog.Filter{}), []string{"66445", "66450"}},
		{watchMessage(catalog.WatchLinked, catalog.EventSeatGone, linkedSections(), catalog.Filter{}), []string{"66445", "66450"}},
	}
	rec := &receiver{status: http.StatusOK}
	srv := channeltest.Start(t, rec)
	push := channeltest.NewPushService(t, vapid.PublicKey, vapid.Subject)
	pushSrv := channeltest.Start(t, push)
	c := newClient(t, srv, vapid)
	pc := newClient(t, pushSrv, vapid)
	for _, kind := range []channel.Kind{channel.KindDiscord, channel.KindSlack, channel.KindNtfy} {
		ch := channel.Channel{Kind: kind, Config: channel.Config{URL: srv.URL + "/" + string(kind)}}
		for _, m := range msgs {
			if err := c.Send(context.Background(), ch, m.msg); err != nil {
				t.Fatalf("%s: %v", kind, err)
			}
		}
	}
	for _, m := range msgs {
		if err := pc.Send(context.Background(), push.Channel(pushSrv.URL+"/push/w"), m.msg); err != nil {
			t.Fatalf("push: %v", err)
		}
	}
	reqs := rec.requests()
	if len(reqs) != 3*len(msgs) {
		t.Fatalf("got %d requests, want %d", len(reqs), 3*len(msgs))
	}
	for i, r := range reqs {
		m := msgs[i%len(msgs)]
		got := string(r.body)
		if title, err := new(mime.WordDecoder).DecodeHeader(r.header.Get("Title")); err == nil && title != "" {
			got = title + "\n" + got
		}
		// Slack escapes nothing in these messages; JSON escapes "&".
		got = strings.ReplaceAll(got, `\u0026`, "&")
		for _, want := range append([]string{m.msg.Title}, m.nbrs...) {
			if !strings.Contains(got, want) {
				t.Errorf("request %d lacks %q:\n%s", i, want, got)
			}
		}
	}
	if err := push.Err(); err != nil {
		t.Fatal(err)
	}
	payloads := push.Payloads()
	if len(payloads) != len(msgs) {
		t.Fatalf("decrypted %d push payloads, want %d", len(payloads), len(msgs))
	}
	for i, p := range payloads {
		if p.Title != msgs[i].msg.Title || !strings.Contains(p.Body, msgs[i].nbrs[1]) {
			t.Errorf("push payload %d = %+v", i, p)
		}
	}
}

// TestWebhookNamesWatchAndSections: a webhook alert carries the watch's
// kind, its filter and every section it names, beside the fields it
// always had.
func TestWebhookNamesWatchAndSections(t *testing.T) {
	t.Parallel()
	secret := channel.NewWebhookSecret()
	rec := &receiver{status: http.StatusOK}
	srv := channeltest.Start(t, rec)
	c := newClient(t, srv, channel.VAPID{})
	ch := channel.Channel{Kind: channel.KindWebhook, Config: channel.Config{URL: srv.URL + "/hook"}, Secret: secret}
	course := watchMessage(catalog.WatchCourse, catalog.EventSeatAvailable, courseSections(), catalog.Filter{Mode: catalog.ModeInPerson, After: "10:00"})
	for _, m := range []channel.Message{course, sampleAlert(), channel.Test("t-1", "https://app.example/dashboard", alertAt)} {
		if err := c.Send(context.Background(), ch, m); err != nil {
			t.Fatal(err)
		}
	}
	reqs := rec.requests()
	if len(reqs) != 3 {
		t.Fatalf("got %d requests, want 3", len(reqs))
	}
	for _, r := range reqs {
		if err := channeltest.VerifyWebhook(secret, r.header, r.body, time.Now()); err != nil {
			t.Errorf("signature: %v", err)
		}
	}

	var got channel.WebhookPayload
	if err := json.Unmarshal(reqs[0].body, &got); err != nil {
		t.Fatal(err)
	}
	d := got.Data
	if got.Type != "pickmyclass.seat_available" || d.Kind != catalog.WatchCourse || d.ClassNbr != "70412" || d.Title != course.Title {
		t.Errorf("payload = %+v", got)
	}
	if d.Filter == nil || d.Filter.Mode != catalog.ModeInPerson || d.Filter.After != "10:00" {
		t.Errorf("filter = %+v", d.Filter)
	}
	if len(d.Sections) != 2 {
		t.Fatalf("sections = %+v", d.Sections)
	}
	for i, want := range []channel.WebhookSection{
		{ClassNbr: "70412", Section: "01", OpenSeats: 1, Capacity: 150, Instructors: "Ada Lovelace", Location: "BYENG 210", URL: enrollURL(courseSections()[0])},
		{ClassNbr: "70413", Section: "1002", OpenSeats: 4, Capacity: 150, Instructors: "Grace Hopper", Location: "COOR 170", URL: enrollURL(courseSections()[1])},
	} {
		s := d.Sections[i]
		if s.ClassNbr != want.ClassNbr || s.Section != want.Section || s.OpenSeats != want.OpenSeats || s.Capacity != want.Capacity ||
			s.Instructors != want.Instructors || s.Location != want.Location || s.URL != want.URL || len(s.Meetings) != 1 {
			t.Errorf("section %d = %+v, want %+v", i, s, want)
		}
	}

	// A section watch's alert has kind "section", an empty filter and its
	// one section; a test message has none of them.
	var raw []map[string]any
	for _, r := range reqs[1:] {
		var p struct {
			Data map[string]any `json:"data"`
		}
		if err := json.Unmarshal(r.body, &p); err != nil {
			t.Fatal(err)
		}
		raw = append(raw, p.Data)
	}
	sec := raw[0]
	if sec["kind"] != "section" || sec["filter"] == nil || len(sec["filter"].(map[string]any)) != 0 {
		t.Errorf("section alert kind %v, filter %v", sec["kind"], sec["filter"])
	}
	if secs, ok := sec["sections"].([]any); !ok || len(secs) != 1 || secs[0].(map[string]any)["open_seats"] != float64(3) {
		t.Errorf("section alert sections = %v", sec["sections"])
	}
	for _, k := range []string{"kind", "filter", "sections"} {
		if _, ok := raw[1][k]; ok {
			t.Errorf("test message has %q", k)
		}
	}
}

// TestBigCourseAlertStaysSmall: a course alert naming 30 sections details
// four, counts the rest, and still fits a push record; the webhook lists
// all 30.
func TestBigCourseAlertStaysSmall(t *testing.T) {
	t.Parallel()
	var secs []catalog.Section
	for i := range 30 {
		s := courseSections()[0]
		s.ClassNbr = strconv.Itoa(70000 + i)
		s.SectionCode = strconv.Itoa(1000 + i)
		s.Title = strings.Repeat("Long Title ", 8)
		s.Location = strings.Repeat("Building ", 5)
		secs = append(secs, s)
	}
	m := watchMessage(catalog.WatchCourse, catalog.EventSeatGone, secs, catalog.Filter{})
	a := watchMessage(catalog.WatchCourse, catalog.EventSeatAvailable, secs, catalog.Filter{})
	if !strings.Contains(m.Body, "section 1003 (#70003) and 26 more, are full again") {
		t.Errorf("gone body:\n%s", m.Body)
	}
	if !strings.Contains(a.Body, "Section 1003 (#70003)") || strings.Contains(a.Body, "#70004") || !strings.Contains(a.Body, "And 26 more") {
		t.Errorf("seat body:\n%s", a.Body)
	}
	if len(a.Body) > 1500 {
		t.Errorf("body of %d bytes", len(a.Body))
	}

	vapid := vapidKeys(t)
	push := channeltest.NewPushService(t, vapid.PublicKey, vapid.Subject)
	pushSrv := channeltest.Start(t, push)
	if err := newClient(t, pushSrv, vapid).Send(context.Background(), push.Channel(pushSrv.URL+"/push/big"), a); err != nil {
		t.Fatalf("push: %v", err)
	}
	rec := &receiver{status: http.StatusOK}
	srv := channeltest.Start(t, rec)
	ch := channel.Channel{Kind: channel.KindWebhook, Config: channel.Config{URL: srv.URL + "/hook"}, Secret: channel.NewWebhookSecret()}
	if err := newClient(t, srv, channel.VAPID{}).Send(context.Background(), ch, a); err != nil {
		t.Fatal(err)
	}
	var p channel.WebhookPayload
	if err := json.Unmarshal(rec.requests()[0].body, &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Data.Sections) != 30 || p.Data.Sections[29].ClassNbr != "70029" {
		t.Errorf("webhook lists %d sections", len(p.Data.Sections))
	}
}

// TestInstructorEventOnCourseWatch: an event other than seats is told as
// a section alert on its section.
func TestInstructorEventOnCourseWatch(t *testing.T) {
	t.Parallel()
	m := watchMessage(catalog.WatchCourse, catalog.EventInstructorAssigned, courseSections(), catalog.Filter{})
	if m.Title != "Instructor assigned: CSE 240 (#70412)" {
		t.Errorf("title %q", m.Title)
	}
}
