package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/store/storetest"
)

// reservedSec is sec flagged with reserved seats; groups, when not nil, are
// read and applied.
func reservedSec(classNbr string, enrolled int, groups []catalog.ReservedGroup) catalog.Section {
	s := sec(term, classNbr, enrolled)
	s.HasReservedSeats = true
	if groups != nil {
		s.SetReserved(groups)
	}
	return s
}

func TestApplyReservedSeats(t *testing.T) {
	t.Parallel()
	db, _ := storetest.NewDB(t)
	ctx := context.Background()
	const nbr = "22222"
	plain := storetest.Watch(t, db, storetest.User(t, db, "plain@example.edu").ID, term, nbr, subj, catNbr)
	wants := storetest.Watch(t, db, storetest.User(t, db, "wants@example.edu").ID, term, nbr, subj, catNbr)
	if err := db.SetNotifyReserved(ctx, wants.UserID, wants.ID, true); err != nil {
		t.Fatalf("SetNotifyReserved: %v", err)
	}
	if err := db.SetNotifyReserved(ctx, plain.UserID, wants.ID, true); err == nil {
		t.Error("SetNotifyReserved of another user's watch succeeded")
	}
	majors := func(enrolled int) []catalog.ReservedGroup {
		return []catalog.ReservedGroup{{Name: "CS majors", Capacity: 5, Enrolled: enrolled}}
	}

	apply(t, db, course, at(0), []string{nbr}, reservedSec(nbr, 30, nil))
	// Three seats open, all of them the majors': only the watch that asked
	// for reserved seats is told.
	if res := apply(t, db, course, at(1), []string{nbr}, reservedSec(nbr, 27, majors(2))); res.Claims != 1 {
		t.Fatalf("reserved-only opening: %+v; want 1 claim", res)
	}
	// The claim still holds when it is sent: its seats are open to the
	// group, which is what its watcher asked about.
	leased, err := db.ClaimPending(ctx, []catalog.SectionKey{key(term, nbr)}, time.Minute, 10)
	if err != nil || len(leased) != 1 || leased[0].WatchID != wants.ID || len(leased[0].Section.ReservedGroups) != 1 {
		t.Fatalf("ClaimPending = %+v, %v; want the reserved-only claim of the watch that asked, with its group", leased, err)
	}
	if err := db.Release(ctx, leased[0].ID, "test"); err != nil {
		t.Fatal(err)
	}
	st, err := db.GetSectionState(ctx, key(term, nbr))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(majors(2), st.Section.ReservedGroups); diff != "" || st.Section.NonReservedOpen == nil || *st.Section.NonReservedOpen != 0 {
		t.Errorf("stored groups (-want +got):\n%s; open to everyone %v", diff, st.Section.NonReservedOpen)
	}
	// The groups cannot be read for a while, and meanwhile a seat opens to
	// everyone: unknown is no alert...
	if res := apply(t, db, course, at(2), []string{nbr}, reservedSec(nbr, 26, nil)); res.Claims != 0 {
		t.Fatalf("unknown groups: %+v; want no claim", res)
	}
	// ...and once they are read the opening is detected against the last
	// known count, and everyone is told.
	if res := apply(t, db, course, at(3), []string{nbr}, reservedSec(nbr, 26, majors(2))); res.Claims != 2 {
		t.Fatalf("opening to everyone: %+v; want 2 claims", res)
	}
	want := []claimRow{
		{WatchID: plain.ID, Term: term, ClassNbr: nbr, Event: "seat_available", Epoch: 2, Status: "pending"},
		{WatchID: wants.ID, Term: term, ClassNbr: nbr, Event: "seat_available", Epoch: 1, Status: "pending"},
		{WatchID: wants.ID, Term: term, ClassNbr: nbr, Event: "seat_available", Epoch: 2, Status: "pending"},
	}
	if diff := cmp.Diff(want, claims(t, db)); diff != "" {
		t.Errorf("claims (-want +got):\n%s", diff)
	}
	views, err := db.ListWatches(ctx, wants.UserID)
	if err != nil || len(views) != 1 || !views[0].NotifyReserved {
		t.Errorf("ListWatches = %+v, %v; want one watch with reserved alerts", views, err)
	}
	states, err := db.SectionStates(ctx, term, []string{nbr, "99999"})
	if err != nil || len(states) != 1 || states[nbr] == nil || len(states[nbr].Section.ReservedGroups) != 1 {
		t.Errorf("SectionStates = %+v, %v; want the one observed section with its group", states, err)
	}
}
