package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/sync/errgroup"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/store"
	"github.com/pickmyclass/pickmyclass/pkg/store/storetest"
	"github.com/pickmyclass/pickmyclass/pkg/testenv"
)

func TestApplyFirstObservationStoresStateWithoutClaims(t *testing.T) {
	t.Parallel()
	db, _ := storetest.NewDB(t)
	u := storetest.User(t, db, "first@example.edu")
	storetest.Watch(t, db, u.ID, term, "12345", subj, catNbr)

	s := sec(term, "12345", 25, "Ada Lovelace")
	res := apply(t, db, course, at(0), []string{"12345"}, s, sec(term, "99999", 0))
	want := store.ApplyResult{Applied: 1, Changed: []catalog.SectionKey{key(term, "12345")}}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("ApplyCourse (-want +got):\n%s", diff)
	}
	if got := claims(t, db); len(got) != 0 {
		t.Errorf("claims after a first observation: %+v", got)
	}

	st, err := db.GetSectionState(context.Background(), key(term, "12345"))
	if err != nil {
		t.Fatalf("GetSectionState: %v", err)
	}
	five := 5
	wantState := store.SectionState{
		Section: s, OpenSeats: 5, ObservedAt: at(0).Truncate(time.Microsecond),
		ChangedAt: at(0).Truncate(time.Microsecond), GeneralOpen: &five,
	}
	if diff := cmp.Diff(wantState, st, timeEqual); diff != "" {
		t.Errorf("stored state (-want +got):\n%s", diff)
	}
	// An unwanted section of the same course is not stored.
	if _, err := db.GetSectionState(context.Background(), key(term, "99999")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unwanted section state: err = %v, want ErrNotFound", err)
	}
	hist, err := db.SeatHistory(context.Background(), key(term, "12345"))
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 1 || hist[0].OpenSeats != 5 {
		t.Errorf("seat history = %+v, want one point with 5 open", hist)
	}
}

// dueSections compares due courses by what they ask to check only.
var dueSections = cmpopts.IgnoreFields(store.DueCourse{}, "Watchers", "Full", "ChangedAt")

var timeEqual = cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })

func TestApplySeatOpensClaimsOncePerEligibleWatcher(t *testing.T) {
	t.Parallel()
	db, _ := storetest.NewDB(t)
	ctx := context.Background()
	const nbr = "12345"

	active := storetest.User(t, db, "active@example.edu")
	active2 := storetest.User(t, db, "active2@example.edu")
	wActive := storetest.Watch(t, db, active.ID, term, nbr, subj, catNbr)
	wActive2 := storetest.Watch(t, db, active2.ID, term, nbr, subj, catNbr)

	ineligible := map[string]func(store.User) error{
		"disabled":     func(u store.User) error { return db.SetDisabled(ctx, u.ID, true) },
		"unsubscribed": func(u store.User) error { return db.MarkUnsubscribed(ctx, u.ID) },
		"bounced":      func(u store.User) error { return db.MarkBounced(ctx, u.Email) },
		"complained":   func(u store.User) error { return db.MarkComplained(ctx, u.Email) },
		"notify-off":   func(u store.User) error { return db.SetNotifications(ctx, u.ID, false) },
	}
	for name, mark := range ineligible {
		u := storetest.User(t, db, name+"@example.edu")
		storetest.Watch(t, db, u.ID, term, nbr, subj, catNbr)
		if err := mark(u); err != nil {
			t.Fatalf("mark %s: %v", name, err)
		}
	}
	unverified, err := db.CreateUser(ctx, store.NewUser{Email: "unverified@example.edu", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	storetest.Watch(t, db, unverified.ID, term, nbr, subj, catNbr)

	apply(t, db, course, at(0), []string{nbr}, sec(term, nbr, 30))
	res := apply(t, db, course, at(10), []string{nbr}, sec(term, nbr, 29))
	if res.Applied != 1 || res.Claims != 2 {
		t.Errorf("full → open: %+v, want 1 applied and 2 claims", res)
	}
	if diff := cmp.Diff([]catalog.SectionKey{key(term, nbr)}, res.Notify); diff != "" {
		t.Errorf("Notify (-want +got):\n%s", diff)
	}
	want := []claimRow{
		{WatchID: wActive.ID, Term: term, ClassNbr: nbr, Event: "seat_available", Epoch: 1, Status: "pending"},
		{WatchID: wActive2.ID, Term: term, ClassNbr: nbr, Event: "seat_available", Epoch: 1, Status: "pending"},
	}
	if diff := cmp.Diff(want, claims(t, db)); diff != "" {
		t.Fatalf("claims (-want +got):\n%s", diff)
	}

	// Redelivery of the same observation is stale: nothing new.
	before, err := db.GetSectionState(ctx, key(term, nbr))
	if err != nil {
		t.Fatal(err)
	}
	res = apply(t, db, course, at(10), []string{nbr}, sec(term, nbr, 29))
	if diff := cmp.Diff(store.ApplyResult{Stale: 1}, res); diff != "" {
		t.Errorf("redelivery (-want +got):\n%s", diff)
	}
	// An older observation is rejected and changes nothing, even though it
	// differs (full, then "open" would fire again).
	res = apply(t, db, course, at(5), []string{nbr}, sec(term, nbr, 30))
	if diff := cmp.Diff(store.ApplyResult{Stale: 1}, res); diff != "" {
		t.Errorf("stale observation (-want +got):\n%s", diff)
	}
	after, err := db.GetSectionState(ctx, key(term, nbr))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, after, timeEqual); diff != "" {
		t.Errorf("stale observation changed the state (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(want, claims(t, db)); diff != "" {
		t.Fatalf("claims after redelivery (-want +got):\n%s", diff)
	}

	// Filling up re-arms; opening again claims epoch 2.
	apply(t, db, course, at(20), []string{nbr}, sec(term, nbr, 30))
	res = apply(t, db, course, at(30), []string{nbr}, sec(term, nbr, 28))
	if res.Claims != 2 {
		t.Errorf("second opening: %+v, want 2 claims", res)
	}
	want = []claimRow{
		{WatchID: wActive.ID, Term: term, ClassNbr: nbr, Event: "seat_available", Epoch: 1, Status: "pending"},
		{WatchID: wActive.ID, Term: term, ClassNbr: nbr, Event: "seat_available", Epoch: 2, Status: "pending"},
		{WatchID: wActive2.ID, Term: term, ClassNbr: nbr, Event: "seat_available", Epoch: 1, Status: "pending"},
		{WatchID: wActive2.ID, Term: term, ClassNbr: nbr, Event: "seat_available", Epoch: 2, Status: "pending"},
	}
	if diff := cmp.Diff(want, claims(t, db)); diff != "" {
		t.Errorf("claims after reopening (-want +got):\n%s", diff)
	}

	// Seat history has a point per seat change only: 30, 29, 30, 28 (the
	// stale and redelivered observations add nothing).
	hist, err := db.SeatHistory(ctx, key(term, nbr))
	if err != nil {
		t.Fatal(err)
	}
	var enrolled []int
	for _, p := range hist {
		enrolled = append(enrolled, p.Enrolled)
	}
	if diff := cmp.Diff([]int{30, 29, 30, 28}, enrolled); diff != "" {
		t.Errorf("seat history enrolled (-want +got):\n%s", diff)
	}
}

func TestApplyUnchangedKeepsChangedAt(t *testing.T) {
	t.Parallel()
	db, _ := storetest.NewDB(t)
	apply(t, db, course, at(0), []string{"1"}, sec(term, "1", 10))
	res := apply(t, db, course, at(5), []string{"1"}, sec(term, "1", 10))
	if res.Applied != 1 || len(res.Changed) != 0 {
		t.Errorf("unchanged observation: %+v, want applied and not changed", res)
	}
	st, err := db.GetSectionState(context.Background(), key(term, "1"))
	if err != nil {
		t.Fatal(err)
	}
	if !st.ChangedAt.Equal(at(0).Truncate(time.Microsecond)) || !st.ObservedAt.Equal(at(5).Truncate(time.Microsecond)) {
		t.Errorf("changed_at %v observed_at %v, want %v and %v", st.ChangedAt, st.ObservedAt, at(0), at(5))
	}
}

func TestApplyInstructorAssigned(t *testing.T) {
	t.Parallel()
	db, _ := storetest.NewDB(t)
	u := storetest.User(t, db, "prof@example.edu")
	w := storetest.Watch(t, db, u.ID, term, "777", subj, catNbr)

	apply(t, db, course, at(0), []string{"777"}, sec(term, "777", 30, "Staff"))
	res := apply(t, db, course, at(1), []string{"777"}, sec(term, "777", 30, "Grace Hopper"))
	if res.Claims != 1 {
		t.Errorf("Staff → name: %+v, want 1 claim", res)
	}
	// Both events at once: back to Staff and full, then named and open.
	apply(t, db, course, at(2), []string{"777"}, sec(term, "777", 30))
	res = apply(t, db, course, at(3), []string{"777"}, sec(term, "777", 20, "Alan Turing"))
	if res.Claims != 2 {
		t.Errorf("both events: %+v, want 2 claims", res)
	}
	want := []claimRow{
		{WatchID: w.ID, Term: term, ClassNbr: "777", Event: "instructor_assigned", Epoch: 1, Status: "pending"},
		{WatchID: w.ID, Term: term, ClassNbr: "777", Event: "instructor_assigned", Epoch: 2, Status: "pending"},
		{WatchID: w.ID, Term: term, ClassNbr: "777", Event: "seat_available", Epoch: 1, Status: "pending"},
	}
	if diff := cmp.Diff(want, claims(t, db)); diff != "" {
		t.Errorf("claims (-want +got):\n%s", diff)
	}
}

func TestApplySameClassNbrInTwoTermsIsIndependent(t *testing.T) {
	t.Parallel()
	db, _ := storetest.NewDB(t)
	const spring, fall, nbr = "2261", "2267", "12345"
	springCourse := catalog.CourseKey{Term: spring, Subject: subj, CatalogNbr: catNbr}
	uSpring := storetest.User(t, db, "spring@example.edu")
	uFall := storetest.User(t, db, "fall@example.edu")
	wSpring := storetest.Watch(t, db, uSpring.ID, spring, nbr, subj, catNbr)
	storetest.Watch(t, db, uFall.ID, fall, nbr, subj, catNbr)

	apply(t, db, course, at(0), []string{nbr}, sec(fall, nbr, 5))
	apply(t, db, springCourse, at(1), []string{nbr}, sec(spring, nbr, 30))
	// Fall being open must not look like Spring opening, and vice versa.
	res := apply(t, db, springCourse, at(2), []string{nbr}, sec(spring, nbr, 29))
	if res.Claims != 1 {
		t.Errorf("spring opens: %+v, want 1 claim", res)
	}
	want := []claimRow{{WatchID: wSpring.ID, Term: spring, ClassNbr: nbr, Event: "seat_available", Epoch: 1, Status: "pending"}}
	if diff := cmp.Diff(want, claims(t, db)); diff != "" {
		t.Errorf("claims (-want +got):\n%s", diff)
	}
	fallState, err := db.GetSectionState(context.Background(), key(fall, nbr))
	if err != nil {
		t.Fatal(err)
	}
	if fallState.Section.Enrolled != 5 || fallState.SeatEpoch != 0 {
		t.Errorf("fall state was touched: %+v", fallState)
	}
	// Sections of another term in the answer are ignored.
	res = apply(t, db, course, at(3), []string{nbr}, sec(spring, nbr, 0))
	if res.NotFound != 1 || res.Applied != 0 {
		t.Errorf("answer with another term's section: %+v, want not found", res)
	}
}

func TestApplyNotFound(t *testing.T) {
	t.Parallel()
	db, _ := storetest.NewDB(t)
	ctx := context.Background()
	u := storetest.User(t, db, "nf@example.edu")
	storetest.Watch(t, db, u.ID, term, "1", subj, catNbr)
	storetest.Watch(t, db, u.ID, term, "2", subj, catNbr)

	apply(t, db, course, at(0), []string{"1", "2"}, sec(term, "1", 30), sec(term, "2", 30))
	res := apply(t, db, course, at(1), []string{"1", "2"}, sec(term, "1", 30))
	if res.NotFound != 1 || res.Applied != 1 || res.Claims != 0 {
		t.Errorf("one missing: %+v, want 1 applied and 1 not found", res)
	}
	views, err := db.ListWatches(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(views) != 2 || views[0].NotFoundAt != nil || views[1].NotFoundAt == nil ||
		views[1].State == nil || views[1].State.NotFoundAt == nil {
		t.Fatalf("watches after not found: %+v", views)
	}
	due, err := db.DueCourses(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]store.DueCourse{{Course: course, ClassNbrs: []string{"1"}}}, due, dueSections); diff != "" {
		t.Errorf("DueCourses skips the not-found watch (-want +got):\n%s", diff)
	}

	// Six hours later the not-found watch is due again, in case it is back.
	if _, err := db.Pool().Exec(ctx, `UPDATE class_watches SET not_found_at = now() - interval '7 hours' WHERE not_found_at IS NOT NULL`); err != nil {
		t.Fatal(err)
	}
	due, err = db.DueCourses(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]store.DueCourse{{Course: course, ClassNbrs: []string{"1", "2"}}}, due, dueSections); diff != "" {
		t.Errorf("DueCourses rechecks an old not-found watch (-want +got):\n%s", diff)
	}

	// The section comes back, open: marks clear and no event fires for
	// the gap (seats were 0 before it vanished, so it does fire for 0 → 1).
	res = apply(t, db, course, at(2), []string{"1", "2"}, sec(term, "1", 30), sec(term, "2", 29))
	if res.NotFound != 0 || res.Applied != 2 || res.Claims != 1 {
		t.Errorf("reappears: %+v", res)
	}
	views, err = db.ListWatches(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if views[1].NotFoundAt != nil || views[1].State.NotFoundAt != nil {
		t.Errorf("not-found marks survived the section's return: %+v", views[1])
	}

	// A wanted section never observed and not found marks just the watch.
	storetest.Watch(t, db, u.ID, term, "3", subj, catNbr)
	res = apply(t, db, course, at(3), []string{"3"})
	if res.NotFound != 1 {
		t.Errorf("never-seen section: %+v, want not found", res)
	}
}

func TestApplyConcurrentRedeliveryClaimsOnce(t *testing.T) {
	t.Parallel()
	db, _ := storetest.NewDB(t)
	u := storetest.User(t, db, "race@example.edu")
	storetest.Watch(t, db, u.ID, term, "5", subj, catNbr)
	apply(t, db, course, at(0), []string{"5"}, sec(term, "5", 30))

	obs := store.CourseObservation{Course: course, ObservedAt: at(1), Sections: []catalog.Section{sec(term, "5", 10)}, Wanted: []string{"5"}}
	results := make([]store.ApplyResult, 8)
	var g errgroup.Group
	for i := range results {
		g.Go(func() (err error) {
			results[i], err = db.ApplyCourse(context.Background(), obs)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	var applied, stale, claimed int
	for _, r := range results {
		applied += r.Applied
		stale += r.Stale
		claimed += r.Claims
	}
	if applied != 1 || stale != 7 || claimed != 1 {
		t.Errorf("8 concurrent deliveries: applied %d stale %d claims %d, want 1, 7, 1", applied, stale, claimed)
	}
}

func TestApplyRejectsBadObservation(t *testing.T) {
	t.Parallel()
	db, _ := storetest.NewDB(t)
	_, err := db.ApplyCourse(context.Background(), store.CourseObservation{Course: course, Wanted: []string{"1"}})
	if err == nil {
		t.Error("ApplyCourse without ObservedAt succeeded")
	}
}

func TestDueCourses(t *testing.T) {
	t.Parallel()
	db, _ := storetest.NewDB(t)
	ctx := context.Background()
	a := storetest.User(t, db, "a@example.edu")
	b := storetest.User(t, db, "b@example.edu")
	off := storetest.User(t, db, "off@example.edu")
	bounced := storetest.User(t, db, "bounced@example.edu")
	storetest.Watch(t, db, bounced.ID, term, "8", subj, catNbr)
	if err := db.MarkBounced(ctx, "Bounced@Example.edu"); err != nil {
		t.Fatal(err)
	}
	storetest.Watch(t, db, a.ID, term, "3", subj, catNbr)
	storetest.Watch(t, db, a.ID, term, "1", subj, catNbr)
	storetest.Watch(t, db, b.ID, term, "1", subj, catNbr) // same section, two watchers
	storetest.Watch(t, db, b.ID, term, "50", "MAT", "265")
	storetest.Watch(t, db, b.ID, "2261", "1", subj, catNbr)
	storetest.Watch(t, db, off.ID, term, "9", subj, catNbr)
	storetest.Watch(t, db, off.ID, term, "70", "PHY", "121")
	if err := db.SetDisabled(ctx, off.ID, true); err != nil {
		t.Fatal(err)
	}

	got, err := db.DueCourses(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.DueCourse{
		{Course: catalog.CourseKey{Term: "2261", Subject: subj, CatalogNbr: catNbr}, ClassNbrs: []string{"1"}, Watchers: 1},
		{Course: course, ClassNbrs: []string{"1", "3"}, Watchers: 3},
		{Course: catalog.CourseKey{Term: term, Subject: "MAT", CatalogNbr: "265"}, ClassNbrs: []string{"50"}, Watchers: 1},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("DueCourses (-want +got):\n%s", diff)
	}
}

// ApplyCourses stores a walk's many courses in batches of whole courses,
// claims once per opening and marks not found per course.
func TestApplyCoursesAcrossBatches(t *testing.T) {
	t.Parallel()
	db, _ := storetest.NewDB(t)
	ctx := testenv.Context(t, time.Minute)
	u := storetest.User(t, db, "walk@example.edu")
	// 40 courses of 20 sections: 800 wanted sections, more than one batch.
	var first, second []store.CourseObservation
	for c := range 40 {
		ck := catalog.CourseKey{Term: term, Subject: subj, CatalogNbr: fmt.Sprint(100 + c)}
		var wanted []string
		var full, opened []catalog.Section
		for i := range 20 {
			nbr := fmt.Sprint(10000 + c*20 + i)
			wanted = append(wanted, nbr)
			s := sec(term, nbr, 30)
			s.CatalogNbr = ck.CatalogNbr
			full = append(full, s)
			if c == 7 && i == 3 {
				s = sec(term, nbr, 29)
				s.CatalogNbr = ck.CatalogNbr
			}
			if !(c == 39 && i == 19) { // gone from the second walk
				opened = append(opened, s)
			}
		}
		storetest.Watch(t, db, u.ID, term, wanted[3], subj, ck.CatalogNbr)
		first = append(first, store.CourseObservation{Course: ck, ObservedAt: at(0), Sections: full, Wanted: wanted})
		second = append(second, store.CourseObservation{Course: ck, ObservedAt: at(1), Sections: opened, Wanted: wanted})
	}
	res, err := db.ApplyCourses(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	if res.Applied != 800 || res.Claims != 0 || len(res.Changed) != 800 {
		t.Fatalf("first walk: applied %d, claims %d, changed %d; want 800, 0, 800", res.Applied, res.Claims, len(res.Changed))
	}
	res, err = db.ApplyCourses(ctx, second)
	if err != nil {
		t.Fatal(err)
	}
	if res.Applied != 799 || res.NotFound != 1 || res.Claims != 1 || len(res.Notify) != 1 || res.Notify[0].ClassNbr != "10143" {
		t.Errorf("second walk: applied %d, not found %d, claims %d, notify %v; want 799, 1, 1, [10143]", res.Applied, res.NotFound, res.Claims, res.Notify)
	}
	st, err := db.GetSectionState(ctx, key(term, "10799"))
	if err != nil || st.NotFoundAt == nil {
		t.Errorf("section missing from the walk: %+v, %v; want marked not found", st, err)
	}
	// Applying the same walk again is stale throughout.
	res, err = db.ApplyCourses(ctx, second)
	if err != nil || res.Stale != 800 || res.Claims != 0 {
		t.Errorf("repeated walk: %+v, %v; want 800 stale, no claims", res, err)
	}
	// Observations of different terms are refused, not mixed.
	mixed := []store.CourseObservation{second[0], {Course: catalog.CourseKey{Term: "2271", Subject: subj, CatalogNbr: "1"}, ObservedAt: at(1), Wanted: []string{"1"}}}
	mixed[0].ObservedAt = at(2)
	mixed[1].ObservedAt = at(2)
	if _, err := db.ApplyCourses(ctx, mixed); err == nil {
		t.Error("ApplyCourses mixed two terms in one batch")
	}
}

func TestDueCoursesUrgency(t *testing.T) {
	t.Parallel()
	db, _ := storetest.NewDB(t)
	ctx := testenv.Context(t, 30*time.Second)
	a := storetest.User(t, db, "a@example.edu")
	b := storetest.User(t, db, "b@example.edu")
	storetest.Watch(t, db, a.ID, term, "1", subj, catNbr)
	storetest.Watch(t, db, b.ID, term, "1", subj, catNbr)
	storetest.Watch(t, db, a.ID, term, "2", subj, catNbr)
	storetest.Watch(t, db, a.ID, term, "3", subj, catNbr)
	apply(t, db, course, at(0), []string{"1", "2", "3"}, sec(term, "1", 30), sec(term, "2", 30), sec(term, "3", 10))
	apply(t, db, course, at(5), []string{"1", "2", "3"}, sec(term, "1", 30), sec(term, "2", 29), sec(term, "3", 10))
	got, err := db.DueCourses(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Watchers != 4 || got[0].Full != 1 || !got[0].ChangedAt.Equal(at(5).Truncate(time.Microsecond)) {
		t.Errorf("DueCourses = %+v; want 4 watchers, 1 full section, changed at %s", got, at(5))
	}
}

// TestApplyStaleBaselineAlertsOnlyThoseWhoWereWatching: a section's state
// observed long ago (more than the scheduler's interval) is no baseline for
// a watcher who started watching since; it still is for one who was
// watching then. A fresh state is everyone's baseline.
func TestApplyStaleBaselineAlertsOnlyThoseWhoWereWatching(t *testing.T) {
	t.Parallel()
	db, _ := storetest.NewDB(t)
	ctx := context.Background()
	now := time.Now()
	veteran := storetest.User(t, db, "veteran@example.edu")
	newcomer := storetest.User(t, db, "newcomer@example.edu")
	wVeteran := storetest.Watch(t, db, veteran.ID, term, "12345", subj, catNbr)
	wNewcomer := storetest.Watch(t, db, newcomer.ID, term, "12345", subj, catNbr)
	wFresh := storetest.Watch(t, db, newcomer.ID, term, "12346", subj, catNbr)
	setCreated := func(w store.Watch, when time.Time) {
		t.Helper()
		if _, err := db.Pool().Exec(ctx, `UPDATE class_watches SET created_at = $2 WHERE id = $1`, w.ID, when); err != nil {
			t.Fatal(err)
		}
	}
	// 12345 was last seen full three hours ago; the veteran watched it then,
	// the newcomer started an hour ago. 12346 was seen full ten minutes ago.
	setCreated(wVeteran, now.Add(-4*time.Hour))
	setCreated(wNewcomer, now.Add(-time.Hour))
	setCreated(wFresh, now.Add(-time.Hour))
	apply(t, db, course, now.Add(-3*time.Hour), []string{"12345"}, sec(term, "12345", 30))
	apply(t, db, course, now.Add(-10*time.Minute), []string{"12346"}, sec(term, "12346", 30))

	apply(t, db, course, now, []string{"12345", "12346"}, sec(term, "12345", 20), sec(term, "12346", 20))
	want := []claimRow{
		{WatchID: wVeteran.ID, Term: term, ClassNbr: "12345", Event: "seat_available", Epoch: 1, Status: "pending"},
		{WatchID: wFresh.ID, Term: term, ClassNbr: "12346", Event: "seat_available", Epoch: 1, Status: "pending"},
	}
	if diff := cmp.Diff(want, claims(t, db)); diff != "" {
		t.Errorf("claims (-want +got):\n%s", diff)
	}
}

// TestApplyUnknownSeatsAreNoEvidence: a read without seat counts neither
// alerts nor replaces the last known counts, so the next read with counts
// is compared with what was last known.
func TestApplyUnknownSeatsAreNoEvidence(t *testing.T) {
	t.Parallel()
	db, _ := storetest.NewDB(t)
	u := storetest.User(t, db, "unknown@example.edu")
	w := storetest.Watch(t, db, u.ID, term, "12345", subj, catNbr)
	storetest.Watch(t, db, u.ID, term, "12346", subj, catNbr)
	unknown := func(nbr string) catalog.Section {
		s := sec(term, nbr, 0)
		s.Capacity, s.Enrolled, s.Status = 0, 0, catalog.StatusUnknown
		return s
	}
	both := []string{"12345", "12346"}
	// 12345 is open, then read without counts, then open as before: no
	// alert. 12346 is first read without counts, then open: no alert.
	apply(t, db, course, at(0), both, sec(term, "12345", 25), unknown("12346"))
	apply(t, db, course, at(1), both, unknown("12345"), unknown("12346"))
	st, err := db.GetSectionState(context.Background(), key(term, "12345"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Section.Status != catalog.StatusOpen || st.OpenSeats != 5 {
		t.Errorf("after a read without counts: %+v; want the last known 5 open seats", st)
	}
	apply(t, db, course, at(2), both, sec(term, "12345", 25), sec(term, "12346", 25))
	if got := claims(t, db); len(got) != 0 {
		t.Fatalf("claims after reads without counts: %+v", got)
	}
	// Full, unknown, open: the seat did open since it was last known full.
	apply(t, db, course, at(3), both, sec(term, "12345", 30), sec(term, "12346", 25))
	apply(t, db, course, at(4), both, unknown("12345"), sec(term, "12346", 25))
	apply(t, db, course, at(5), both, sec(term, "12345", 29), sec(term, "12346", 25))
	want := []claimRow{{WatchID: w.ID, Term: term, ClassNbr: "12345", Event: "seat_available", Epoch: 1, Status: "pending"}}
	if diff := cmp.Diff(want, claims(t, db)); diff != "" {
		t.Errorf("claims (-want +got):\n%s", diff)
	}
}

// TestPruneSectionStates deletes the state and history of sections nobody
// watches, observed before the cutoff, and nothing else.
func TestPruneSectionStates(t *testing.T) {
	t.Parallel()
	db, _ := storetest.NewDB(t)
	ctx := context.Background()
	u := storetest.User(t, db, "pruner@example.edu")
	w := storetest.Watch(t, db, u.ID, term, "100", subj, catNbr)
	storetest.Watch(t, db, u.ID, term, "200", subj, catNbr)
	storetest.Watch(t, db, u.ID, term, "300", subj, catNbr)
	all := []string{"100", "200", "300"}
	apply(t, db, course, at(0), all, sec(term, "100", 30), sec(term, "200", 30), sec(term, "300", 30))
	apply(t, db, course, at(60), []string{"300"}, sec(term, "300", 20))
	// 100 stays watched; 200 and 300 are unwatched, 300 seen since the cutoff.
	if err := db.DeleteWatch(ctx, u.ID, w.ID+1); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteWatch(ctx, u.ID, w.ID+2); err != nil {
		t.Fatal(err)
	}
	n, err := db.PruneSectionStates(ctx, at(30))
	if err != nil || n != 1 {
		t.Fatalf("pruned %d, %v; want 1", n, err)
	}
	for nbr, kept := range map[string]bool{"100": true, "200": false, "300": true} {
		_, err := db.GetSectionState(ctx, key(term, nbr))
		if got := err == nil; got != kept {
			t.Errorf("state of %s kept = %v (%v), want %v", nbr, got, err, kept)
		}
		hist, err := db.SeatHistory(ctx, key(term, nbr))
		if err != nil || (len(hist) > 0) != kept {
			t.Errorf("history of %s: %d points (%v), kept = %v", nbr, len(hist), err, kept)
		}
	}
}
