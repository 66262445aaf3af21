package asu_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asu"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asusim"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asusim/asusimtest"
)

func TestParseReserved(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want []catalog.ReservedGroup
		// general is the seats open to everyone of a section of 100 seats
		// with 90 enrolled, once the groups are applied.
		general int
		bad     bool
	}{
		{
			name:    "groups",
			body:    `[{"descr":"Computer Science majors","enrlCap":20,"enrlTot":16},{"descr":"Barrett Honors","enrlCap":"5","enrlTot":"4"}]`,
			want:    []catalog.ReservedGroup{{Name: "Computer Science majors", Capacity: 20, Enrolled: 16}, {Name: "Barrett Honors", Capacity: 5, Enrolled: 4}},
			general: 5,
		},
		{
			name:    "over-filled group holds no seat",
			body:    `[{"descr":"Majors","enrlCap":10,"enrlTot":14},{"descr":"Honors","enrlCap":5,"enrlTot":2}]`,
			want:    []catalog.ReservedGroup{{Name: "Majors", Capacity: 10, Enrolled: 14}, {Name: "Honors", Capacity: 5, Enrolled: 2}},
			general: 7,
		},
		{
			name:    "groups hold more than is open",
			body:    `[{"descr":"Majors","enrlCap":40,"enrlTot":10}]`,
			want:    []catalog.ReservedGroup{{Name: "Majors", Capacity: 40, Enrolled: 10}},
			general: 0,
		},
		{name: "flag Y with no groups", body: `[]`, want: []catalog.ReservedGroup{}, general: 10},
		{
			name:    "wrapped in an object",
			body:    `{"reservedSeats":[{"descr":"Majors","enrlCap":3,"enrlTot":1}],"note":"x"}`,
			want:    []catalog.ReservedGroup{{Name: "Majors", Capacity: 3, Enrolled: 1}},
			general: 8,
		},
		{
			name:    "unnamed group",
			body:    `[{"descr":"","enrlCap":3,"enrlTot":1}]`,
			want:    []catalog.ReservedGroup{{Name: "Reserved seats", Capacity: 3, Enrolled: 1}},
			general: 8,
		},
		{name: "missing enrlTot", body: `[{"descr":"Majors","enrlCap":20}]`, bad: true},
		{name: "missing descr", body: `[{"enrlCap":20,"enrlTot":3}]`, bad: true},
		{name: "null count", body: `[{"descr":"Majors","enrlCap":null,"enrlTot":3}]`, bad: true},
		{name: "negative count", body: `[{"descr":"Majors","enrlCap":-1,"enrlTot":3}]`, bad: true},
		{name: "text count", body: `[{"descr":"Majors","enrlCap":"many","enrlTot":3}]`, bad: true},
		{name: "group not an object", body: `["Majors"]`, bad: true},
		{name: "null", body: `null`, bad: true},
		{name: "empty body", body: ``, bad: true},
		{name: "html", body: `<html>maintenance</html>`, bad: true},
		{name: "object without a list", body: `{"message":"error"}`, bad: true},
		{name: "object with two lists", body: `{"a":[],"b":[]}`, bad: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := asu.ParseReserved([]byte(tc.body))
			if tc.bad {
				if !errors.Is(err, asu.ErrReservedShape) {
					t.Fatalf("ParseReserved = %v, %v; want ErrReservedShape", got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseReserved: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("groups (-want +got):\n%s", diff)
			}
			s := catalog.Section{Capacity: 100, Enrolled: 90, Status: catalog.StatusOpen, HasReservedSeats: true}
			s.SetReserved(got)
			if n, ok := s.GeneralOpen(); !ok || n != tc.general {
				t.Errorf("seats open to everyone = %d, %v; want %d", n, ok, tc.general)
			}
		})
	}
}

func TestParseReadsOffering(t *testing.T) {
	t.Parallel()
	p, err := asu.Parse([]byte(`{"classes":[{"CLAS":{"STRM":"2267","CLASSNBR":"70412","SUBJECT":"CSE","CATALOGNBR":"240",
		"CLASSSECTION":"1002","SESSIONCODE":"C","HASACTIVERESERVEDSEATS":"Y","CRSEID":"000123","CRSEOFFERNBR":1,"ACADCAREER":"UGRD",
		"ENRLCAP":"150","ENRLTOT":"140","ENRLSTAT":"O"}}],"total":{"value":1}}`))
	if err != nil || len(p.Sections) != 1 {
		t.Fatalf("Parse = %+v, %v", p, err)
	}
	s := p.Sections[0]
	want := catalog.Offering{CourseID: "000123", OfferNbr: "1", Career: "UGRD"}
	if !s.HasReservedSeats || s.Offering != want || s.NonReservedOpen != nil {
		t.Errorf("section = %+v; want flagged, offering %+v, seats open to everyone unknown", s, want)
	}
}

func TestReservedRequest(t *testing.T) {
	t.Parallel()
	var got url.Values
	var auth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/reservedseatsadditionalinfo" {
			http.NotFound(w, r)
			return
		}
		got, auth = r.URL.Query(), r.Header.Get("Authorization")
		_, _ = w.Write([]byte(`[{"descr":"Majors","enrlCap":4,"enrlTot":1}]`))
	}))
	t.Cleanup(srv.Close)
	b := &budget{}
	c := newClient(t, asu.Config{BaseURL: srv.URL, Budget: b})
	sec := catalog.Section{Term: "2267", ClassNbr: "70412", CatalogNbr: "598", SectionCode: "1002", Session: "C",
		Offering: catalog.Offering{CourseID: "000123"}}
	groups, err := c.Reserved(context.Background(), sec)
	if err != nil {
		t.Fatalf("Reserved: %v", err)
	}
	if diff := cmp.Diff([]catalog.ReservedGroup{{Name: "Majors", Capacity: 4, Enrolled: 1}}, groups); diff != "" {
		t.Errorf("groups (-want +got):\n%s", diff)
	}
	want := url.Values{"term": {"2267"}, "classNbr": {"70412"}, "crseId": {"000123"}, "sessionCode": {"C"}, "classType": {"E"},
		"acadCareer": {"GRAD"}, "crseOfferNbr": {"1"}, "classSection": {"1002"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("query (-want +got):\n%s", diff)
	}
	if auth != "Bearer null" || b.calls.Load() != 1 {
		t.Errorf("Authorization %q, budget waits %d; want \"Bearer null\", 1", auth, b.calls.Load())
	}

	// Without a course ID there is nothing to ask: unknown, no request.
	sec.Offering.CourseID = ""
	if _, err := c.Reserved(context.Background(), sec); catalog.KindOf(err) != catalog.KindNotFound || b.calls.Load() != 1 {
		t.Errorf("Reserved without CRSEID = %v after %d requests; want KindNotFound, no request", err, b.calls.Load())
	}
}

func TestReservedFailures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		status int
		body   string
		want   catalog.Kind
	}{
		{name: "server error", status: 502, want: catalog.KindServer},
		{name: "rate limited", status: 429, want: catalog.KindRateLimited},
		{name: "not found", status: 404, want: catalog.KindNotFound},
		{name: "bad shape", status: 200, body: `{"error":"x"}`, want: catalog.KindMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			t.Cleanup(srv.Close)
			c := newClient(t, asu.Config{BaseURL: srv.URL})
			_, err := c.Reserved(context.Background(), catalog.Section{Term: "2267", ClassNbr: "1", SectionCode: "1", Session: "C",
				Offering: catalog.Offering{CourseID: "9"}})
			if catalog.KindOf(err) != tc.want {
				t.Errorf("Reserved = %v; want kind %s", err, tc.want)
			}
		})
	}
}

// TestReservedAgainstSimulator changes a section's groups through the
// simulator's control API over HTTP and reads them back through the client.
func TestReservedAgainstSimulator(t *testing.T) {
	t.Parallel()
	sim, base := asusimtest.Start(t, demo())
	c := newClient(t, asu.Config{BaseURL: base})
	ctx := t.Context()
	key := catalog.SectionKey{Term: "2267", ClassNbr: "70413"}

	body := `{"term":"2267","class_nbr":"70413","groups":[{"name":"Computer Science majors","capacity":10,"enrolled":9},{"name":"Honors","capacity":2,"enrolled":3}]}`
	resp, err := http.Post(strings.TrimSuffix(base, asusim.BasePath)+"/_sim/reserved", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /_sim/reserved: %s", resp.Status)
	}

	sec, err := c.Section(ctx, key)
	if err != nil {
		t.Fatalf("Section: %v", err)
	}
	if !sec.HasReservedSeats {
		t.Fatal("section not flagged after groups were set")
	}
	before := sim.State(false).RequestsByPath[asusim.BasePath+"/reservedseatsadditionalinfo"]
	groups, err := c.Reserved(ctx, sec)
	if err != nil {
		t.Fatalf("Reserved: %v", err)
	}
	want := []catalog.ReservedGroup{{Name: "Computer Science majors", Capacity: 10, Enrolled: 9}, {Name: "Honors", Capacity: 2, Enrolled: 3}}
	if diff := cmp.Diff(want, groups); diff != "" {
		t.Errorf("groups (-want +got):\n%s", diff)
	}
	if after := sim.State(false).RequestsByPath[asusim.BasePath+"/reservedseatsadditionalinfo"]; after != before+1 {
		t.Errorf("reserved lookups counted %d → %d; want one more", before, after)
	}
	// 90 seats, 88 enrolled: 2 open, of which 1 is the majors'.
	sec.SetReserved(groups)
	if n, ok := sec.GeneralOpen(); !ok || n != 1 {
		t.Errorf("seats open to everyone = %d, %v; want 1", n, ok)
	}

	// Groups removed: the flag goes too, and a lookup answers none.
	if err := sim.SetReserved(key, nil); err != nil {
		t.Fatal(err)
	}
	if sec, err = c.Section(ctx, key); err != nil || sec.HasReservedSeats {
		t.Fatalf("Section after groups removed = %+v, %v; want unflagged", sec, err)
	}

	// A wrongly built request is refused, not answered with no groups.
	sec.Offering.CourseID = "999"
	if _, err := c.Reserved(ctx, sec); catalog.KindOf(err) == catalog.KindNotFound || err == nil {
		t.Errorf("Reserved with a wrong crseId = %v; want a refusal", err)
	}
}
