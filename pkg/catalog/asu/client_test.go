package asu_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asu"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asusim"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asusim/asusimtest"
)

// budget counts Wait calls; WaitFunc, when set, decides the result.
type budget struct {
	calls    atomic.Int64
	WaitFunc func(ctx context.Context) error
}

func (b *budget) Wait(ctx context.Context) error {
	b.calls.Add(1)
	if b.WaitFunc != nil {
		return b.WaitFunc(ctx)
	}
	return nil
}

func newClient(t *testing.T, cfg asu.Config) *asu.Client {
	t.Helper()
	c, err := asu.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

const emptyPage = `{"classes":[],"scrollId":"x","total":{"value":0,"relation":"eq"}}`

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	for _, cfg := range []asu.Config{
		{BaseURL: "ftp://example.com"},
		{BaseURL: "/relative"},
		{BaseURL: "http://x", Timeout: -time.Second},
		{BaseURL: "http://x", MaxPages: -1},
		{BaseURL: "http://x", MaxBodySize: -1},
		{BaseURL: "http://x", Contact: "ops@example.edu) evil (x"},
		{BaseURL: "http://x", Contact: "ops@example.edu\r\nX-Injected: 1"},
	} {
		if _, err := asu.New(cfg); err == nil {
			t.Errorf("New(%+v) = nil error; want one", cfg)
		}
	}
}

func TestRequestShape(t *testing.T) {
	t.Parallel()
	var got *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Clone(context.Background())
		_, _ = w.Write([]byte(emptyPage))
	}))
	t.Cleanup(srv.Close)
	c := newClient(t, asu.Config{BaseURL: srv.URL + "/api/v1/search/"})

	if _, err := c.Course(t.Context(), catalog.CourseKey{Term: "2267", Subject: "CSE", CatalogNbr: "240"}); err != nil {
		t.Fatalf("Course: %v", err)
	}
	wantHeaders := map[string]string{
		"Authorization": "Bearer null",
		"Accept":        "application/json",
		"User-Agent":    asu.UserAgent(asu.DefaultContact),
		"Origin":        "https://catalog.apps.asu.edu",
		"Referer":       "https://catalog.apps.asu.edu/",
	}
	for k, v := range wantHeaders {
		if g := got.Header.Get(k); g != v {
			t.Errorf("header %s = %q; want %q", k, g, v)
		}
	}
	if got.URL.Path != "/api/v1/search/classes" {
		t.Errorf("path = %q", got.URL.Path)
	}
	wantQuery := "campusOrOnlineSelection=A&catalogNbr=240&honors=F&promod=F&refine=Y&searchType=all&subject=CSE&term=2267"
	if got.URL.RawQuery != wantQuery {
		t.Errorf("query = %q; want %q", got.URL.RawQuery, wantQuery)
	}
}

func TestUserAgentCarriesContact(t *testing.T) {
	t.Parallel()
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Get("User-Agent")
		_, _ = w.Write([]byte(emptyPage))
	}))
	t.Cleanup(srv.Close)
	c := newClient(t, asu.Config{BaseURL: srv.URL, Contact: "https://noc.example.edu/contact"})
	if _, err := c.Course(t.Context(), catalog.CourseKey{Term: "2267", Subject: "CSE", CatalogNbr: "240"}); err != nil {
		t.Fatalf("Course: %v", err)
	}
	want := "PickMyClass/1.0 (+https://pickmyclass.app; seat alerts; contact: https://noc.example.edu/contact)"
	if got != want || asu.UserAgent("https://noc.example.edu/contact") != want {
		t.Errorf("User-Agent = %q; want %q", got, want)
	}
}

// demo is a small catalog with the same class number in two terms.
func demo() asusim.Scenario {
	return asusim.Scenario{
		Terms: []catalog.Term{{Code: "2267", Name: "Fall 2026"}, {Code: "2271", Name: "Spring 2027"}},
		Sections: []asusim.SectionSpec{
			{Term: "2267", ClassNbr: "70412", Subject: "CSE", CatalogNbr: "240", Section: "1002", Title: "Introduction to Programming Languages",
				Capacity: 150, Enrolled: 150, Reserved: true, Days: "T Th", StartTime: "10:30 AM", EndTime: "11:45 AM", Campus: "TEMPE", Location: "COORL1-74"},
			{Term: "2267", ClassNbr: "70413", Subject: "CSE", CatalogNbr: "240", Section: "1003", Title: "Introduction to Programming Languages",
				Capacity: 90, Enrolled: 88, Instructors: []catalog.Instructor{{Name: "Ada Lovelace", ID: "alovela1"}},
				Days: "M W", StartTime: "1:30 PM", EndTime: "2:45 PM", Campus: "TEMPE", Location: "PSH153"},
			{Term: "2267", ClassNbr: "81777", Subject: "CSE", CatalogNbr: "240", Section: "0101", Title: "Introduction to Programming Languages",
				Capacity: 300, Enrolled: 300, Online: true,
				Instructors: []catalog.Instructor{{Name: "Grace Hopper", ID: "ghopper"}, {Name: "Alan Turing", ID: "aturing2"}}},
			{Term: "2267", ClassNbr: "70500", Subject: "CSE", CatalogNbr: "2400", Section: "0001", Title: "Not the same course", Capacity: 10},
			{Term: "2271", ClassNbr: "70412", Subject: "MAT", CatalogNbr: "343", Section: "0001", Title: "Applied Linear Algebra",
				Capacity: 40, Enrolled: 12, Status: catalog.StatusCancelled, Campus: "POLY", Location: "PRLTA101", Days: "M W F", StartTime: "9:00 AM", EndTime: "9:50 AM"},
		},
		EnrollDeadlines: map[string]string{"2267": "2026-08-26"},
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	sim, base := asusimtest.Start(t, demo())
	b := &budget{}
	c := newClient(t, asu.Config{BaseURL: base, Budget: b})
	ctx := t.Context()

	got, err := c.Course(ctx, catalog.CourseKey{Term: "2267", Subject: "cse", CatalogNbr: "240"})
	if err != nil {
		t.Fatalf("Course: %v", err)
	}
	title := "Introduction to Programming Languages"
	want := []catalog.Section{
		{Term: "2267", ClassNbr: "81777", Subject: "CSE", CatalogNbr: "240", SectionCode: "0101", Title: title,
			Capacity: 300, Enrolled: 300, Status: catalog.StatusClosed, Campus: "ONLNE", Online: true, Mode: "OL", Session: "B",
			Offering:    catalog.Offering{CourseID: "181777", OfferNbr: "1", Career: "UGRD"},
			Instructors: []catalog.Instructor{{Name: "Grace Hopper", ID: "ghopper"}, {Name: "Alan Turing", ID: "aturing2"}}},
		{Term: "2267", ClassNbr: "70412", Subject: "CSE", CatalogNbr: "240", SectionCode: "1002", Title: title,
			Capacity: 150, Enrolled: 150, Status: catalog.StatusClosed, HasReservedSeats: true, Campus: "TEMPE", Location: "COORL1-74",
			Mode: "P", Session: "C", Meetings: []catalog.Meeting{{Days: "T Th", StartTime: "10:30 AM", EndTime: "11:45 AM"}},
			Offering: catalog.Offering{CourseID: "170412", OfferNbr: "1", Career: "UGRD"}},
		{Term: "2267", ClassNbr: "70413", Subject: "CSE", CatalogNbr: "240", SectionCode: "1003", Title: title,
			Capacity: 90, Enrolled: 88, Status: catalog.StatusOpen, Campus: "TEMPE", Location: "PSH153",
			Mode: "P", Session: "C", Meetings: []catalog.Meeting{{Days: "M W", StartTime: "1:30 PM", EndTime: "2:45 PM"}},
			Offering:    catalog.Offering{CourseID: "170413", OfferNbr: "1", Career: "UGRD"},
			Instructors: []catalog.Instructor{{Name: "Ada Lovelace", ID: "alovela1"}}},
	}
	// Each is a lecture of its own, open for enrollment until the end of
	// the term's deadline day.
	for i := range want {
		want[i].Component, want[i].Association, want[i].Primary = "LEC", want[i].SectionCode, true
		want[i].EnrollDeadline = time.Date(2026, 8, 27, 0, 0, 0, 0, asu.Phoenix)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Course (-want +got):\n%s", diff)
	}

	// The same class number in another term is another section.
	spring, err := c.Section(ctx, catalog.SectionKey{Term: "2271", ClassNbr: "70412"})
	if err != nil {
		t.Fatalf("Section: %v", err)
	}
	if spring.Subject != "MAT" || spring.Status != catalog.StatusCancelled {
		t.Errorf("2271:70412 = %+v; want cancelled MAT 343", spring)
	}

	// A seat opens.
	if err := sim.SetSeats(catalog.SectionKey{Term: "2267", ClassNbr: "70412"}, 149, -1); err != nil {
		t.Fatal(err)
	}
	fall, err := c.Section(ctx, catalog.SectionKey{Term: "2267", ClassNbr: "70412"})
	if err != nil {
		t.Fatalf("Section: %v", err)
	}
	// The section holds reserved seats: until its groups are read, whether
	// the seat is open to everyone is unknown, and unknown is no alert.
	if ev := catalog.Detect(&want[1], fall); ev != nil {
		t.Errorf("Detect after a seat opened, groups unread = %v; want none", ev)
	}
	// It has no groups in the simulator: the seat is open to everyone.
	groups, err := c.Reserved(ctx, fall)
	if err != nil {
		t.Fatalf("Reserved: %v", err)
	}
	fall.SetReserved(groups)
	if ev := catalog.Detect(&want[1], fall); !cmp.Equal(ev, []catalog.Event{catalog.EventSeatAvailable}) {
		t.Errorf("Detect after a seat opened = %v", ev)
	}

	_, err = c.Section(ctx, catalog.SectionKey{Term: "2271", ClassNbr: "99999"})
	if catalog.KindOf(err) != catalog.KindNotFound {
		t.Errorf("missing section: err = %v; want not found", err)
	}

	terms, err := c.Terms(ctx)
	if err != nil {
		t.Fatalf("Terms: %v", err)
	}
	if diff := cmp.Diff([]catalog.Term{{Code: "2271", Name: "Spring 2027"}, {Code: "2267", Name: "Fall 2026"}}, terms); diff != "" {
		t.Errorf("Terms (-want +got):\n%s", diff)
	}

	if n := sim.Requests(); n != 6 || b.calls.Load() != n {
		t.Errorf("simulator saw %d requests, budget %d waits; want 6 each (one a reserved seats lookup)", n, b.calls.Load())
	}
}

func TestCoursePaging(t *testing.T) {
	t.Parallel()
	sc := asusim.Generate("2267", 1, 450, 0.5, 7)
	sim, base := asusimtest.Start(t, sc)
	b := &budget{}
	c := newClient(t, asu.Config{BaseURL: base, Budget: b})

	got, err := c.Course(t.Context(), catalog.CourseKey{Term: "2267", Subject: "CSE", CatalogNbr: "100"})
	if err != nil {
		t.Fatalf("Course: %v", err)
	}
	if len(got) != 450 {
		t.Errorf("got %d sections; want 450", len(got))
	}
	seen := map[string]bool{}
	for _, s := range got {
		if seen[s.ClassNbr] {
			t.Fatalf("class %s returned twice", s.ClassNbr)
		}
		seen[s.ClassNbr] = true
	}
	// 200 + 200 + 50 rows: three pages, no fourth empty one.
	if sim.Requests() != 3 || b.calls.Load() != 3 {
		t.Errorf("requests = %d, budget waits = %d; want 3 and 3", sim.Requests(), b.calls.Load())
	}
}

func TestMaxPages(t *testing.T) {
	t.Parallel()
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := requests.Add(1)
		fmt.Fprintf(w, `{"classes":[{"CLAS":{"STRM":"2267","CLASSNBR":"%d","SUBJECT":"CSE","CATALOGNBR":"240"}}],"scrollId":"s%d","total":{"value":1000}}`, n, n)
	}))
	t.Cleanup(srv.Close)
	c := newClient(t, asu.Config{BaseURL: srv.URL, MaxPages: 3})

	_, err := c.Course(t.Context(), catalog.CourseKey{Term: "2267", Subject: "CSE", CatalogNbr: "240"})
	if catalog.KindOf(err) != catalog.KindMalformed {
		t.Errorf("err = %v; want malformed", err)
	}
	if requests.Load() != 3 {
		t.Errorf("requests = %d; want 3", requests.Load())
	}
}

func TestErrorClassification(t *testing.T) {
	t.Parallel()
	course := catalog.CourseKey{Term: "2267", Subject: "CSE", CatalogNbr: "240"}
	section := catalog.SectionKey{Term: "2267", ClassNbr: "70412"}
	const maxBody = 64 << 10
	huge := `{"classes":[],"pad":"` + strings.Repeat("x", maxBody) + `"}`
	tests := []struct {
		name       string
		status     int
		header     map[string]string
		body       string
		section    bool // call Section instead of Course
		wantKind   catalog.Kind
		wantStatus int
		wantRetry  time.Duration
		wantNone   bool // Course succeeds with no sections
	}{
		{name: "429 with seconds", status: 429, header: map[string]string{"Retry-After": "30"}, wantKind: catalog.KindRateLimited, wantStatus: 429, wantRetry: 30 * time.Second},
		{name: "429 without Retry-After", status: 429, wantKind: catalog.KindRateLimited, wantStatus: 429},
		{name: "401", status: 401, wantKind: catalog.KindUnauthorized, wantStatus: 401},
		{name: "403", status: 403, wantKind: catalog.KindUnauthorized, wantStatus: 403},
		{name: "500", status: 500, wantKind: catalog.KindServer, wantStatus: 500},
		{name: "503", status: 503, wantKind: catalog.KindServer, wantStatus: 503},
		{name: "504", status: 504, wantKind: catalog.KindTimeout, wantStatus: 504},
		{name: "400", status: 400, wantKind: catalog.KindServer, wantStatus: 400},
		{name: "404 for a section", status: 404, section: true, wantKind: catalog.KindNotFound, wantStatus: 404},
		{name: "404 for a course", status: 404, wantKind: catalog.KindServer, wantStatus: 404},
		{name: "malformed", status: 200, body: `{"classes":[{"CLAS":`, wantKind: catalog.KindMalformed, wantStatus: 200},
		{name: "html", status: 200, body: `<html>maintenance</html>`, wantKind: catalog.KindMalformed, wantStatus: 200},
		{name: "no classes", status: 200, body: `{"total":{"value":3}}`, wantKind: catalog.KindMalformed, wantStatus: 200},
		{name: "too big", status: 200, body: huge, wantKind: catalog.KindMalformed, wantStatus: 200},
		{name: "empty section search", status: 200, body: emptyPage, section: true, wantKind: catalog.KindNotFound},
		{name: "empty course", status: 200, body: emptyPage, wantNone: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			t.Cleanup(srv.Close)
			c := newClient(t, asu.Config{BaseURL: srv.URL, MaxBodySize: maxBody})
			var err error
			if tc.section {
				_, err = c.Section(t.Context(), section)
			} else {
				var got []catalog.Section
				got, err = c.Course(t.Context(), course)
				if tc.wantNone {
					if err != nil || got == nil || len(got) != 0 {
						t.Fatalf("Course = %v, %v; want an empty slice", got, err)
					}
					return
				}
			}
			var ce *catalog.Error
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v; want a *catalog.Error", err)
			}
			if ce.Kind != tc.wantKind || ce.Status != tc.wantStatus || ce.RetryAfter != tc.wantRetry {
				t.Errorf("err = %v (kind %v, status %d, retry %v); want kind %v, status %d, retry %v",
					err, ce.Kind, ce.Status, ce.RetryAfter, tc.wantKind, tc.wantStatus, tc.wantRetry)
			}
		})
	}
}

func TestRetryAfterDate(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", time.Now().Add(2*time.Minute).UTC().Format(http.TimeFormat))
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	t.Cleanup(srv.Close)
	c := newClient(t, asu.Config{BaseURL: srv.URL})
	_, err := c.Terms(t.Context())
	var ce *catalog.Error
	if !errors.As(err, &ce) || ce.Kind != catalog.KindRateLimited {
		t.Fatalf("err = %v; want rate limited", err)
	}
	if ce.RetryAfter < 100*time.Second || ce.RetryAfter > 2*time.Minute {
		t.Errorf("RetryAfter = %v; want about 2m", ce.RetryAfter)
	}
}

// hang answers nothing until the request is abandoned, and reports each
// request it receives on the returned channel.
func hang(t *testing.T) (*httptest.Server, <-chan struct{}) {
	t.Helper()
	arrived := make(chan struct{}, 8)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() {
		close(release)
		srv.Close()
	})
	return srv, arrived
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	srv, _ := hang(t)
	c := newClient(t, asu.Config{BaseURL: srv.URL, Timeout: 100 * time.Millisecond})
	start := time.Now()
	_, err := c.Course(t.Context(), catalog.CourseKey{Term: "2267", Subject: "CSE", CatalogNbr: "240"})
	if catalog.KindOf(err) != catalog.KindTimeout {
		t.Errorf("err = %v; want timeout", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v; want it to wrap context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v; the 100ms timeout was not honoured", d)
	}
}

func TestContextCancel(t *testing.T) {
	t.Parallel()
	srv, arrived := hang(t)
	c := newClient(t, asu.Config{BaseURL: srv.URL, Timeout: time.Minute})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := c.Section(ctx, catalog.SectionKey{Term: "2267", ClassNbr: "70412"})
		done <- err
	}()
	<-arrived
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || catalog.KindOf(err) != catalog.KindTimeout {
			t.Errorf("err = %v; want a timeout-kind error wrapping context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Section did not return after its context was cancelled")
	}
}

func TestBudget(t *testing.T) {
	t.Parallel()
	sim, base := asusimtest.Start(t, demo())

	refuse := errors.New("redis is down")
	b := &budget{WaitFunc: func(context.Context) error { return refuse }}
	c := newClient(t, asu.Config{BaseURL: base, Budget: b})
	if _, err := c.Terms(t.Context()); !errors.Is(err, refuse) {
		t.Errorf("err = %v; want the budget's error", err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	b = &budget{WaitFunc: func(ctx context.Context) error { return ctx.Err() }}
	c = newClient(t, asu.Config{BaseURL: base, Budget: b})
	if _, err := c.Terms(ctx); !errors.Is(err, context.Canceled) || catalog.KindOf(err) != catalog.KindTimeout {
		t.Errorf("err = %v; want a timeout-kind error wrapping context.Canceled", err)
	}
	if sim.Requests() != 0 {
		t.Errorf("%d requests went upstream without budget", sim.Requests())
	}
}

func TestSimulatorFaults(t *testing.T) {
	t.Parallel()
	sim, base := asusimtest.Start(t, demo())
	c := newClient(t, asu.Config{BaseURL: base, Timeout: 200 * time.Millisecond})
	key := catalog.SectionKey{Term: "2267", ClassNbr: "70413"}
	ctx := t.Context()

	steps := []struct {
		fault asusim.Fault
		want  catalog.Kind
	}{
		{fault: asusim.Fault{Kind: asusim.FaultStatus, Status: 429, RetryAfterSeconds: 9, Count: 1}, want: catalog.KindRateLimited},
		{fault: asusim.Fault{Kind: asusim.FaultStatus, Status: 503, Count: 1}, want: catalog.KindServer},
		{fault: asusim.Fault{Kind: asusim.FaultStatus, Status: 401, Count: 1}, want: catalog.KindUnauthorized},
		{fault: asusim.Fault{Kind: asusim.FaultMalformed, Count: 1}, want: catalog.KindMalformed},
		{fault: asusim.Fault{Kind: asusim.FaultDelay, DelayMS: 5000, Count: 1}, want: catalog.KindTimeout},
	}
	for _, st := range steps {
		if err := sim.InjectFault(st.fault); err != nil {
			t.Fatal(err)
		}
		_, err := c.Section(ctx, key)
		if catalog.KindOf(err) != st.want {
			t.Errorf("fault %+v: err = %v; want %v", st.fault, err, st.want)
		}
		if _, err := c.Section(ctx, key); err != nil {
			t.Errorf("after fault %+v was used up: %v", st.fault, err)
		}
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	_, base := asusimtest.Start(t, demo())
	reg := prometheus.NewPedanticRegistry()
	c := newClient(t, asu.Config{BaseURL: base, Metrics: reg})
	// A second client on the same registry shares the collectors.
	c2 := newClient(t, asu.Config{BaseURL: base + "/nowhere", Metrics: reg})
	if _, err := c.Terms(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Terms(t.Context()); err == nil {
		t.Fatal("Terms on a wrong base URL succeeded")
	}
	want := `
# HELP pickmyclass_upstream_requests_total Requests sent to a university catalog, by upstream and HTTP status code (or error/timeout).
# TYPE pickmyclass_upstream_requests_total counter
pickmyclass_upstream_requests_total{code="200",upstream="asu"} 1
pickmyclass_upstream_requests_total{code="404",upstream="asu"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "pickmyclass_upstream_requests_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(reg, "pickmyclass_upstream_request_duration_seconds"); n != 1 {
		t.Errorf("duration series = %d; want 1", n)
	}
}
