package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/store"
	"github.com/pickmyclass/pickmyclass/pkg/testenv"
)

const (
	term   = "2267"
	subj   = "CSE"
	catNbr = "240"
)

var course = catalog.CourseKey{Term: term, Subject: subj, CatalogNbr: catNbr}

// t0 is a fixed base time; observations are t0 plus some minutes.
var t0 = time.Date(2026, 8, 1, 12, 0, 0, 123456789, time.UTC)

func at(minutes int) time.Time { return t0.Add(time.Duration(minutes) * time.Minute) }

// sec returns a CSE 240 section with capacity 30, enrolled seats and the
// named instructors (none means "Staff").
func sec(termCode, classNbr string, enrolled int, instructors ...string) catalog.Section {
	s := catalog.Section{
		Term: termCode, ClassNbr: classNbr, Subject: subj, CatalogNbr: catNbr, SectionCode: "001",
		Title: "Intro to Systems", Capacity: 30, Enrolled: enrolled, Status: catalog.StatusOpen,
		Location: "BYENG 210", Meetings: []catalog.Meeting{{Days: "M W", StartTime: "1:30 PM", EndTime: "2:45 PM"}},
	}
	if enrolled >= 30 {
		s.Status = catalog.StatusClosed
	}
	for _, n := range instructors {
		s.Instructors = append(s.Instructors, catalog.Instructor{Name: n})
	}
	return s
}

func apply(t *testing.T, db *store.DB, c catalog.CourseKey, when time.Time, wanted []string, sections ...catalog.Section) store.ApplyResult {
	t.Helper()
	res, err := db.ApplyCourse(testenv.Context(t, 30*time.Second), store.CourseObservation{
		Course: c, ObservedAt: when, Sections: sections, Wanted: wanted,
	})
	if err != nil {
		t.Fatalf("ApplyCourse: %v", err)
	}
	return res
}

// claimRow is a notification as the tests compare it.
type claimRow struct {
	WatchID  int64
	Term     string
	ClassNbr string
	Event    string
	Epoch    int
	Status   string
}

func claims(t *testing.T, db *store.DB) []claimRow {
	t.Helper()
	rows, err := db.Pool().Query(context.Background(),
		`SELECT watch_id, term, class_nbr, event, epoch, status FROM notifications ORDER BY watch_id, event, epoch`)
	if err != nil {
		t.Fatalf("query notifications: %v", err)
	}
	defer rows.Close()
	var out []claimRow
	for rows.Next() {
		var c claimRow
		if err := rows.Scan(&c.WatchID, &c.Term, &c.ClassNbr, &c.Event, &c.Epoch, &c.Status); err != nil {
			t.Fatalf("scan notification: %v", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("query notifications: %v", err)
	}
	return out
}

func key(termCode, classNbr string) catalog.SectionKey {
	return catalog.SectionKey{Term: termCode, ClassNbr: classNbr}
}
