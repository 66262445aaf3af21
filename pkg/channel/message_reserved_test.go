package channel_test

import (
	"strings"
	"testing"
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/channel"
)

func TestAlertNamesReservedGroups(t *testing.T) {
	t.Parallel()
	s := catalog.Section{Term: "2267", ClassNbr: "70412", Subject: "CSE", CatalogNbr: "240", Capacity: 150, Enrolled: 148,
		Status: catalog.StatusOpen, HasReservedSeats: true}
	s.SetReserved([]catalog.ReservedGroup{{Name: "Computer Science majors", Capacity: 20, Enrolled: 18}})
	m := channel.Alert("id", catalog.EventSeatAvailable, s, "Fall 2026", 0, "https://example.test/go", time.Now())
	if !strings.HasPrefix(m.Title, "Reserved seats open (2, none open to everyone)") {
		t.Errorf("title %q", m.Title)
	}
	if !strings.Contains(m.Body, "Reserved for Computer Science majors: 2 open of 20") {
		t.Errorf("body %q", m.Body)
	}

	s.SetReserved(nil) // no groups: both seats are open to everyone
	if m := channel.Alert("id", catalog.EventSeatAvailable, s, "Fall 2026", 2, "", time.Now()); m.Title != "2 seats open: CSE 240 (#70412)" {
		t.Errorf("title without groups %q", m.Title)
	}
}
