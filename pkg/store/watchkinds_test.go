package store_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/store"
	"github.com/pickmyclass/pickmyclass/pkg/store/storetest"
	"github.com/pickmyclass/pickmyclass/pkg/testenv"
)

// applyWhole stores a complete check of CSE 240 at minute m.
func applyWhole(t *testing.T, db *store.DB, m int, sections ...catalog.Section) store.ApplyResult {
	t.Helper()
	res, err := db.ApplyCourse(testenv.Context(t, 30*time.Second), store.CourseObservation{
		Course: course, ObservedAt: at(m), Sections: sections, WholeCourse: true,
	})
	if err != nil {
		t.Fatalf("ApplyCourse: %v", err)
	}
	return res
}

func createWatch(t *testing.T, db *store.DB, userID int64, nw store.NewWatch) store.Watch {
	t.Helper()
	w, err := db.CreateWatch(context.Background(), userID, nw, math.MaxInt32)
	if err != nil {
		t.Fatalf("create watch: %v", err)
	}
	return w
}

// sendAll claims and marks sent every pending notification, returning them.
func sendAll(t *testing.T, db *store.DB) []store.Notification {
	t.Helper()
	ns, err := db.ClaimDue(context.Background(), time.Minute, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ns {
		if err := db.MarkSent(context.Background(), n.ID, "m"); err != nil {
			t.Fatal(err)
		}
	}
	return ns
}

func withSection(s catalog.Section, code string) catalog.Section {
	s.SectionCode = code
	return s
}

func TestCourseWatchAlertsOncePerOpeningAndTellsWhenGone(t *testing.T) {
	t.Parallel()
	db, _ := storetest.NewDB(t)
	u := storetest.User(t, db, "course@example.edu")
	w := createWatch(t, db, u.ID, store.NewWatch{Kind: catalog.WatchCourse, Term: term, Subject: "cse", CatalogNbr: "240", NotifyGone: true})
	if w.Kind != catalog.WatchCourse || w.ClassNbr != "" || w.Subject != "CSE" {
		t.Fatalf("created %+v", w)
	}
	// A section watcher of the same course shares the check.
	other := storetest.User(t, db, "section@example.edu")
	storetest.Watch(t, db, other.ID, term, "100", subj, catNbr)
	due, err := db.DueCourses(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 1 || !due[0].WholeCourse || !cmp.Equal(due[0].ClassNbrs, []string{"100"}) || due[0].Watchers != 2 {
		t.Fatalf("due %+v, want one whole-course check naming section 100 for 2 watchers", due)
	}

	// First sight: a baseline, even for a section with seats.
	if res := applyWhole(t, db, 0, sec(term, "100", 30), sec(term, "200", 30), sec(term, "300", 29)); res.Claims != 0 || res.Watches != 1 {
		t.Fatalf("first check: %+v", res)
	}
	// 200 opens: one alert naming it.
	res := applyWhole(t, db, 1, sec(term, "100", 30), withSection(sec(term, "200", 28), "002"), sec(term, "300", 29))
	if res.Claims != 1 || !cmp.Equal(res.Notify, []catalog.SectionKey{key(term, "200")}) {
		t.Fatalf("opening: %+v", res)
	}
	ns := sendAll(t, db)
	if len(ns) != 1 || ns[0].Watch.Kind != catalog.WatchCourse || len(ns[0].Watch.Sections) != 1 ||
		ns[0].Watch.Sections[0].SectionCode != "002" || ns[0].Watch.Sections[0].OpenSeats() != 2 {
		t.Fatalf("sent %+v", ns)
	}
	// The same observation again, and a later one with nothing new: quiet.
	applyWhole(t, db, 1, sec(term, "100", 30), sec(term, "200", 28), sec(term, "300", 29))
	applyWhole(t, db, 2, sec(term, "100", 30), sec(term, "200", 27), sec(term, "300", 29))
	// A section added to the catalog with seats: a second alert.
	if res := applyWhole(t, db, 3, sec(term, "100", 30), sec(term, "200", 27), sec(term, "300", 29), sec(term, "400", 10)); res.Claims != 1 {
		t.Fatalf("new section: %+v", res)
	}
	sendAll(t, db)
	// 200 and 400 fill: the opening is gone, one notice.
	if res := applyWhole(t, db, 4, sec(term, "100", 30), sec(term, "200", 30), sec(term, "300", 29), sec(term, "400", 30)); res.Claims != 1 {
		t.Fatalf("gone: %+v", res)
	}
	gone := sendAll(t, db)
	if len(gone) != 1 || gone[0].Event != catalog.EventSeatGone || gone[0].Epoch != 2 {
		t.Fatalf("gone notice %+v", gone)
	}
	// Full again and again: nothing more. Reopens: a third alert.
	applyWhole(t, db, 5, sec(term, "100", 30), sec(term, "200", 30), sec(term, "300", 29), sec(term, "400", 30))
	if res := applyWhole(t, db, 6, sec(term, "100", 30), sec(term, "200", 29), sec(term, "300", 29), sec(term, "400", 30)); res.Claims != 1 {
		t.Fatalf("reopened: %+v", res)
	}
	var got []claimRow
	for _, c := range claims(t, db) {
		if c.WatchID == w.ID {
			got = append(got, c)
		}
	}
	want := []claimRow{
		{WatchID: w.ID, Term: term, ClassNbr: "200", Event: "seat_available", Epoch: 1, Status: "sent"},
		// The second alert names 400, new, and 200, still open.
		{WatchID: w.ID, Term: term, ClassNbr: "200", Event: "seat_available", Epoch: 2, Status: "sent"},
		{WatchID: w.ID, Term: term, ClassNbr: "200", Event: "seat_available", Epoch: 3, Status: "pending"},
		{WatchID: w.ID, Term: term, ClassNbr: "200", Event: "seat_gone", Epoch: 2, Status: "sent"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("claims (-want +got):\n%s", diff)
	}
}

func TestCourseWatchFilterAndMissingSections(t *testing.T) {
	t.Parallel()
	db, _ := storetest.NewDB(t)
	u := storetest.User(t, db, "filter@example.edu")
	createWatch(t, db, u.ID, store.NewWatch{Kind: catalog.WatchCourse, Term: term, Subject: subj, CatalogNbr: catNbr,
		Filter: catalog.Filter{Mode: catalog.ModeOnline}})
	onlineSec := func(nbr string, enrolled int) catalog.Section {
		s := sec(term, nbr, enrolled)
		s.Online, s.Meetings = true, nil
		return s
	}
	applyWhole(t, db, 0, sec(term, "100", 30), onlineSec("200", 30))
	if res := applyWhole(t, db, 1, sec(term, "100", 20), onlineSec("200", 30)); res.Claims != 0 {
		t.Fatalf("an in-person opening alerted an online-only watch: %+v", res)
	}
	// 200 leaves the catalog, then comes back with seats: new to the course.
	if res := applyWhole(t, db, 2, sec(term, "100", 20)); res.NotFound != 1 || res.Claims != 0 {
		t.Fatalf("section gone: %+v", res)
	}
	if res := applyWhole(t, db, 3, sec(term, "100", 20), onlineSec("200", 25)); res.Claims != 1 {
		t.Fatalf("section back with seats: %+v", res)
	}
}

func TestLinkedWatchAlertsWhenLectureAndLabBothHaveSeats(t *testing.T) {
	t.Parallel()
	db, _ := storetest.NewDB(t)
	u := storetest.User(t, db, "linked@example.edu")
	w := createWatch(t, db, u.ID, store.NewWatch{Kind: catalog.WatchLinked, Term: term, ClassNbr: "100", Subject: subj, CatalogNbr: catNbr})
	part := func(nbr string, enrolled int, component string) catalog.Section {
		s := sec(term, nbr, enrolled)
		s.Component, s.Association, s.Primary = component, "1", component == "LEC"
		return s
	}
	applyWhole(t, db, 0, part("100", 30, "LEC"), part("101", 30, "LAB"))
	if res := applyWhole(t, db, 1, part("100", 28, "LEC"), part("101", 30, "LAB")); res.Claims != 0 {
		t.Fatalf("lecture open, lab full: %+v", res)
	}
	res := applyWhole(t, db, 2, part("100", 28, "LEC"), part("101", 29, "LAB"))
	if res.Claims != 1 {
		t.Fatalf("both open: %+v", res)
	}
	ns := sendAll(t, db)
	if len(ns) != 1 || ns[0].WatchID != w.ID || len(ns[0].Watch.Sections) != 2 ||
		ns[0].Watch.Sections[0].ClassNbr != "100" || ns[0].Watch.Sections[1].Component != "LAB" {
		t.Fatalf("sent %+v", ns)
	}
	// A section watch of the lecture is a different watch: the linked
	// watch's lecture alone gets no section claims.
	for _, c := range claims(t, db) {
		if c.WatchID == w.ID && c.Epoch != 1 {
			t.Errorf("unexpected claim %+v", c)
		}
	}
}

func TestPausedAndExpiredWatchesClaimNothing(t *testing.T) {
	t.Parallel()
	db, _ := storetest.NewDB(t)
	ctx := context.Background()
	paused := storetest.User(t, db, "paused@example.edu")
	pw := storetest.Watch(t, db, paused.ID, term, "100", subj, catNbr)
	all := storetest.User(t, db, "all@example.edu")
	storetest.Watch(t, db, all.ID, term, "100", subj, catNbr)
	live := storetest.User(t, db, "live@example.edu")
	lw := storetest.Watch(t, db, live.ID, term, "100", subj, catNbr)

	until := time.Now().Add(time.Hour)
	if err := db.SetWatchOptions(ctx, paused.ID, pw.ID, store.WatchOptions{PausedUntil: &until}); err != nil {
		t.Fatal(err)
	}
	if err := db.PauseAlerts(ctx, all.ID, &until); err != nil {
		t.Fatal(err)
	}
	if err := db.SetWatchOptions(ctx, all.ID, pw.ID, store.WatchOptions{PausedUntil: &until}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("pausing another user's watch: %v", err)
	}
	apply(t, db, course, at(0), []string{"100"}, sec(term, "100", 30))
	if res := apply(t, db, course, at(1), []string{"100"}, sec(term, "100", 29)); res.Claims != 1 {
		t.Fatalf("paused watchers claimed: %+v", res)
	}
	if c := claims(t, db); len(c) != 1 || c[0].WatchID != lw.ID {
		t.Fatalf("claims %+v", c)
	}
	// Resuming: a time not in the future.
	past := time.Now().Add(-time.Minute)
	if err := db.PauseAlerts(ctx, all.ID, &past); err != nil {
		t.Fatal(err)
	}
	u, err := db.GetUser(ctx, all.ID)
	if err != nil {
		t.Fatal(err)
	}
	if u.AlertsPausedUntil != nil {
		t.Errorf("resumed user still paused until %v", u.AlertsPausedUntil)
	}
}

func TestExpireWatchesStopsChecksAndMailsOneSummary(t *testing.T) {
	t.Parallel()
	db, _ := storetest.NewDB(t)
	ctx := context.Background()
	u := storetest.User(t, db, "expire@example.edu")
	deadline := time.Date(2026, 8, 27, 7, 0, 0, 0, time.UTC)
	withDeadline := func(s catalog.Section) catalog.Section {
		s.EnrollDeadline = deadline
		return s
	}
	storetest.Watch(t, db, u.ID, term, "100", subj, catNbr)
	createWatch(t, db, u.ID, store.NewWatch{Kind: catalog.WatchCourse, Term: term, Subject: subj, CatalogNbr: catNbr})
	other := catalog.CourseKey{Term: term, Subject: "MAT", CatalogNbr: "265"}
	storetest.Watch(t, db, u.ID, term, "900", "MAT", "265")
	applyWhole(t, db, 0, withDeadline(sec(term, "100", 30)), withDeadline(sec(term, "200", 30)))
	m := sec(term, "900", 30)
	m.Subject, m.CatalogNbr = "MAT", "265"
	apply(t, db, other, at(0), []string{"900"}, m) // no deadline known: never expires

	var mails []string
	render := func(to string, ws []store.ExpiredWatch) (store.OutboxMail, error) {
		mails = append(mails, to)
		if len(ws) != 2 || ws[0].Title == "" || !ws[0].Deadline.Equal(deadline) {
			t.Errorf("summary of %+v", ws)
		}
		return store.OutboxMail{To: to, Subject: "Enrollment closed", Text: "t"}, nil
	}
	if n, err := db.ExpireWatches(ctx, deadline.Add(-time.Second), render); err != nil || n != 0 {
		t.Fatalf("before the deadline: %d, %v", n, err)
	}
	n, err := db.ExpireWatches(ctx, deadline, render)
	if err != nil || n != 2 {
		t.Fatalf("at the deadline: %d, %v", n, err)
	}
	if n, err := db.ExpireWatches(ctx, deadline.Add(time.Hour), render); err != nil || n != 0 {
		t.Fatalf("again: %d, %v", n, err)
	}
	if !cmp.Equal(mails, []string{u.Email}) {
		t.Errorf("summaries to %v, want one to %s", mails, u.Email)
	}
	var queued int
	if err := db.Pool().QueryRow(ctx, `SELECT count(*) FROM mail_outbox WHERE to_addr = $1`, u.Email).Scan(&queued); err != nil || queued != 1 {
		t.Errorf("outbox holds %d summaries (%v), want 1", queued, err)
	}
	due, err := db.DueCourses(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 1 || due[0].Course != other {
		t.Errorf("due after expiry: %+v, want only MAT 265", due)
	}
	// Expired watches do not count toward the limit.
	if _, err := db.CreateWatch(ctx, u.ID, store.NewWatch{Term: term, ClassNbr: "300", Subject: subj, CatalogNbr: catNbr}, 2); err != nil {
		t.Errorf("a third watch with two expired, limit 2: %v", err)
	}
	views, err := db.ListWatches(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	expired := 0
	for _, v := range views {
		if v.ExpiredAt != nil {
			expired++
			if !v.Deadline().Equal(deadline) {
				t.Errorf("watch %d deadline %v", v.ID, v.Deadline())
			}
		}
	}
	if expired != 2 {
		t.Errorf("%d expired watches listed, want 2", expired)
	}
}

func TestCreateWatchValidatesKinds(t *testing.T) {
	t.Parallel()
	db, _ := storetest.NewDB(t)
	u := storetest.User(t, db, "kinds@example.edu")
	ctx := context.Background()
	for _, nw := range []store.NewWatch{
		{Kind: "lab", Term: term, ClassNbr: "1", Subject: subj, CatalogNbr: catNbr},
		{Kind: catalog.WatchCourse, Term: term, ClassNbr: "1", Subject: subj, CatalogNbr: catNbr},
		{Kind: catalog.WatchLinked, Term: term, Subject: subj, CatalogNbr: catNbr},
		{Term: term, ClassNbr: "1", Subject: subj, CatalogNbr: catNbr, Filter: catalog.Filter{Mode: catalog.ModeOnline}},
		{Kind: catalog.WatchCourse, Term: term, Subject: subj, CatalogNbr: catNbr, Filter: catalog.Filter{Mode: "hybrid"}},
	} {
		if _, err := db.CreateWatch(ctx, u.ID, nw, 10); err == nil {
			t.Errorf("%+v: created", nw)
		}
	}
	cw := store.NewWatch{Kind: catalog.WatchCourse, Term: term, Subject: subj, CatalogNbr: catNbr}
	createWatch(t, db, u.ID, cw)
	if _, err := db.CreateWatch(ctx, u.ID, cw, 10); !errors.Is(err, store.ErrConflict) {
		t.Errorf("second course watch: %v", err)
	}
	// A section watch and a linked watch of the same lecture are distinct.
	createWatch(t, db, u.ID, store.NewWatch{Term: term, ClassNbr: "100", Subject: subj, CatalogNbr: catNbr})
	createWatch(t, db, u.ID, store.NewWatch{Kind: catalog.WatchLinked, Term: term, ClassNbr: "100", Subject: subj, CatalogNbr: catNbr})
	n, dup, err := db.WatchSlot(ctx, u.ID, cw)
	if err != nil || n != 3 || !dup {
		t.Errorf("slot %d %t %v", n, dup, err)
	}
	f := catalog.Filter{Campus: "tempe"}
	if err := db.SetWatchOptions(ctx, u.ID, 0, store.WatchOptions{Filter: &f}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("filter on a missing watch: %v", err)
	}
}

func TestSectionWatchSeatGoneNoticeOncePerOpening(t *testing.T) {
	t.Parallel()
	db, _ := storetest.NewDB(t)
	ctx := context.Background()
	asked := storetest.User(t, db, "asked@example.edu")
	aw := storetest.Watch(t, db, asked.ID, term, "100", subj, catNbr)
	on := true
	if err := db.SetWatchOptions(ctx, asked.ID, aw.ID, store.WatchOptions{NotifyGone: &on}); err != nil {
		t.Fatal(err)
	}
	quiet := storetest.User(t, db, "quiet@example.edu")
	storetest.Watch(t, db, quiet.ID, term, "100", subj, catNbr)
	apply(t, db, course, at(0), []string{"100"}, sec(term, "100", 30))
	apply(t, db, course, at(1), []string{"100"}, sec(term, "100", 29))
	// Filled before the alert went out: no notice about an alert never sent.
	if res := apply(t, db, course, at(2), []string{"100"}, sec(term, "100", 30)); res.Claims != 0 {
		t.Fatalf("gone before the alert was sent: %+v", res)
	}
	if ns, err := db.ClaimDue(ctx, time.Minute, 10); err != nil || len(ns) != 0 {
		t.Fatalf("stale alerts leased: %d %v", len(ns), err)
	}
	apply(t, db, course, at(3), []string{"100"}, sec(term, "100", 28))
	if ns := sendAll(t, db); len(ns) != 2 {
		t.Fatalf("sent %d alerts, want 2", len(ns))
	}
	if res := apply(t, db, course, at(4), []string{"100"}, sec(term, "100", 30)); res.Claims != 1 {
		t.Fatalf("gone: %+v, want one notice", res)
	}
	apply(t, db, course, at(5), []string{"100"}, sec(term, "100", 30))
	ns := sendAll(t, db)
	if len(ns) != 1 || ns[0].WatchID != aw.ID || ns[0].Event != catalog.EventSeatGone || ns[0].Epoch != 2 {
		t.Fatalf("notices %+v", ns)
	}
}
