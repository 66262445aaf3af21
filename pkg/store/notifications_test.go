package store_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sync/errgroup"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/store"
	"github.com/pickmyclass/pickmyclass/pkg/store/storetest"
	"github.com/pickmyclass/pickmyclass/pkg/testenv"
)

// openSection gives n verified watchers of term:nbr a pending seat claim each.
func openSection(t *testing.T, db *store.DB, nbr string, n int) []store.User {
	t.Helper()
	users := make([]store.User, n)
	for i := range users {
		users[i] = storetest.User(t, db, fmt.Sprintf("w%d-%s@example.edu", i, nbr))
		storetest.Watch(t, db, users[i].ID, term, nbr, subj, catNbr)
	}
	apply(t, db, course, at(0), []string{nbr}, sec(term, nbr, 30, "Staff"))
	if res := apply(t, db, course, at(1), []string{nbr}, sec(term, nbr, 27, "Staff")); res.Claims != n {
		t.Fatalf("open %s: %+v, want %d claims", nbr, res, n)
	}
	return users
}

func TestClaimPendingReturnsWhatTheEmailNeeds(t *testing.T) {
	t.Parallel()
	db, _ := storetest.NewDB(t)
	users := openSection(t, db, "100", 1)
	openSection(t, db, "200", 1) // another section: not claimed below

	got, err := db.ClaimPending(context.Background(), []catalog.SectionKey{key(term, "100")}, time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("ClaimPending returned %d, want 1", len(got))
	}
	n := got[0]
	want := store.Notification{
		ID: n.ID, WatchID: n.WatchID, UserID: users[0].ID, Email: users[0].Email,
		Event: catalog.EventSeatAvailable, Epoch: 1, Attempts: 1, CreatedAt: n.CreatedAt,
		Section: sec(term, "100", 27, "Staff"), OpenSeats: 3, Watch: store.WatchAbout{Kind: catalog.WatchSection},
	}
	if diff := cmp.Diff(want, n); diff != "" {
		t.Errorf("notification (-want +got):\n%s", diff)
	}
	if n.IdempotencyKey() != fmt.Sprintf("pmc-%d-seat_available-1", n.WatchID) {
		t.Errorf("IdempotencyKey = %q", n.IdempotencyKey())
	}
}

func TestClaimPendingLeases(t *testing.T) {
	t.Parallel()
	db, _ := storetest.NewDB(t)
	ctx := context.Background()
	openSection(t, db, "100", 6)
	sections := []catalog.SectionKey{key(term, "100")}

	// Two concurrent claimers share the six claims without overlap.
	var first, second []store.Notification
	var g errgroup.Group
	g.Go(func() (err error) { first, err = db.ClaimPending(ctx, sections, time.Minute, 4); return err })
	g.Go(func() (err error) { second, err = db.ClaimPending(ctx, sections, time.Minute, 4); return err })
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	ids := map[int64]bool{}
	for _, n := range append(first, second...) {
		if ids[n.ID] {
			t.Errorf("notification %d leased twice", n.ID)
		}
		ids[n.ID] = true
	}
	if len(ids) != 6 {
		t.Fatalf("leased %d distinct notifications, want 6", len(ids))
	}
	if again, err := db.ClaimPending(ctx, sections, time.Minute, 10); err != nil || len(again) != 0 {
		t.Fatalf("ClaimPending while leased = %d, %v; want none", len(again), err)
	}
	if due, err := db.ClaimDue(ctx, time.Minute, 10); err != nil || len(due) != 0 {
		t.Fatalf("ClaimDue while leased = %d, %v; want none", len(due), err)
	}

	// A released claim comes back, with its error recorded; a sent one
	// never does, even if released afterwards.
	all := append(first, second...)
	released, sent := all[0], all[1]
	if err := db.Release(ctx, released.ID, "smtp: 451 try later"); err != nil {
		t.Fatal(err)
	}
	if err := db.MarkSent(ctx, sent.ID, "<msg-1@pickmyclass>"); err != nil {
		t.Fatal(err)
	}
	if err := db.Release(ctx, sent.ID, "late failure"); err != nil {
		t.Fatalf("Release after MarkSent: %v", err)
	}
	if err := db.MarkSent(ctx, sent.ID, "<msg-2@pickmyclass>"); err != nil {
		t.Fatalf("MarkSent twice: %v", err)
	}
	// The released one waits out its back-off (see
	// TestReleaseBacksOffThenExpires); end it to claim it again.
	if again, err := db.ClaimPending(ctx, sections, time.Minute, 10); err != nil || len(again) != 0 {
		t.Fatalf("claimed during the back-off: %+v, %v", again, err)
	}
	if _, err := db.Pool().Exec(ctx, `UPDATE notifications SET lease_until = now() - interval '1 second' WHERE id = $1`, released.ID); err != nil {
		t.Fatal(err)
	}
	again, err := db.ClaimPending(ctx, sections, time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != 1 || again[0].ID != released.ID || again[0].Attempts != 2 {
		t.Fatalf("after Release: %+v, want notification %d on attempt 2", again, released.ID)
	}
	var status, messageID, lastErr string
	if err := db.Pool().QueryRow(ctx, `SELECT status, message_id FROM notifications WHERE id = $1`, sent.ID).Scan(&status, &messageID); err != nil {
		t.Fatal(err)
	}
	if status != store.StatusSent || messageID != "<msg-1@pickmyclass>" {
		t.Errorf("sent notification: status %q message %q, want sent with the first message id", status, messageID)
	}
	if err := db.Pool().QueryRow(ctx, `SELECT last_error FROM notifications WHERE id = $1`, released.ID).Scan(&lastErr); err != nil {
		t.Fatal(err)
	}
	if lastErr != "smtp: 451 try later" {
		t.Errorf("last_error = %q", lastErr)
	}

	if err := db.MarkSent(ctx, 1<<40, "x"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("MarkSent of a missing notification: %v, want ErrNotFound", err)
	}
	if err := db.Release(ctx, 1<<40, "x"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Release of a missing notification: %v, want ErrNotFound", err)
	}
}

func TestClaimAfterLeaseExpires(t *testing.T) {
	t.Parallel()
	db, _ := storetest.NewDB(t)
	ctx := context.Background()
	openSection(t, db, "100", 1)
	first, err := db.ClaimDue(ctx, 50*time.Millisecond, 10)
	if err != nil || len(first) != 1 {
		t.Fatalf("ClaimDue = %d, %v; want 1", len(first), err)
	}
	// The sender "died": no Release. The sweeper picks it up once the
	// lease has passed.
	testenv.Eventually(t, 5*time.Second, func() error {
		again, err := db.ClaimDue(ctx, time.Minute, 10)
		if err != nil {
			return err
		}
		if len(again) == 0 {
			return testenv.ErrNotYet
		}
		if again[0].ID != first[0].ID || again[0].Attempts != 2 {
			return fmt.Errorf("reclaimed %+v, want notification %d on attempt 2", again[0], first[0].ID)
		}
		return nil
	})
}

func TestClaimSkipsUsersNoLongerEligible(t *testing.T) {
	t.Parallel()
	db, _ := storetest.NewDB(t)
	ctx := context.Background()
	users := openSection(t, db, "100", 3)
	if err := db.MarkUnsubscribed(ctx, users[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := db.MarkBounced(ctx, users[1].Email); err != nil {
		t.Fatal(err)
	}
	got, err := db.ClaimPending(ctx, []catalog.SectionKey{key(term, "100")}, time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].UserID != users[2].ID {
		t.Fatalf("claimed %+v, want only user %d", got, users[2].ID)
	}
	var statuses []string
	for _, c := range claims(t, db) {
		statuses = append(statuses, c.Status)
	}
	sort.Strings(statuses)
	if diff := cmp.Diff([]string{"pending", "skipped", "skipped"}, statuses); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
}

// A released claim waits out a growing back-off before it is claimed again,
// and keeps being retried until it is older than MaxSendAge.
func TestReleaseBacksOffThenExpires(t *testing.T) {
	t.Parallel()
	db, _ := storetest.NewDB(t)
	ctx := context.Background()
	openSection(t, db, "100", 1)
	backoff := func() time.Duration {
		var d time.Duration
		err := db.Pool().QueryRow(ctx, `SELECT extract(epoch FROM lease_until - now())::float8 * 1e9 FROM notifications`).Scan(&d)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	expireLease := func() {
		if _, err := db.Pool().Exec(ctx, `UPDATE notifications SET lease_until = now() - interval '1 second'`); err != nil {
			t.Fatal(err)
		}
	}
	for i, want := range []time.Duration{15 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute} {
		got, err := db.ClaimDue(ctx, time.Minute, 10)
		if err != nil || len(got) != 1 {
			t.Fatalf("attempt %d: ClaimDue = %d, %v", i+1, len(got), err)
		}
		if err := db.Release(ctx, got[0].ID, "451 try later"); err != nil {
			t.Fatal(err)
		}
		if d := backoff(); d < want-2*time.Second || d > want {
			t.Errorf("back-off after attempt %d = %s, want about %s", i+1, d, want)
		}
		if again, err := db.ClaimDue(ctx, time.Minute, 10); err != nil || len(again) != 0 {
			t.Fatalf("claimed again during the back-off: %d, %v", len(again), err)
		}
		expireLease()
	}
	// Many attempts later the wait is capped at 15 minutes.
	if _, err := db.Pool().Exec(ctx, `UPDATE notifications SET attempts = 30`); err != nil {
		t.Fatal(err)
	}
	got, err := db.ClaimDue(ctx, time.Minute, 10)
	if err != nil || len(got) != 1 {
		t.Fatalf("ClaimDue = %d, %v", len(got), err)
	}
	if err := db.Release(ctx, got[0].ID, "451"); err != nil {
		t.Fatal(err)
	}
	if d := backoff(); d > 15*time.Minute || d < 14*time.Minute {
		t.Errorf("capped back-off = %s, want 15m", d)
	}
	// A day-old claim is given up.
	expireLease()
	if _, err := db.Pool().Exec(ctx, `UPDATE notifications SET created_at = now() - interval '25 hours'`); err != nil {
		t.Fatal(err)
	}
	if got, err := db.ClaimDue(ctx, time.Minute, 10); err != nil || len(got) != 0 {
		t.Fatalf("ClaimDue of an expired claim = %d, %v; want none", len(got), err)
	}
	if c := claims(t, db); len(c) != 1 || c[0].Status != store.StatusFailed {
		t.Errorf("claims = %+v, want one failed", c)
	}
}

func TestClaimPendingEmpty(t *testing.T) {
	t.Parallel()
	db, _ := storetest.NewDB(t)
	got, err := db.ClaimPending(context.Background(), nil, time.Minute, 10)
	if err != nil || len(got) != 0 {
		t.Errorf("ClaimPending(nil) = %v, %v", got, err)
	}
}

// TestDelayedAlertIsCheckedAgainstTheCurrentState: an alert whose send
// failed is sent later only if it is still true: the seat is still open
// (and no later opening superseded it), and the section was observed within
// the last hour (MaxUnconfirmedAlertAge) or the alert itself is that recent.
func TestDelayedAlertIsCheckedAgainstTheCurrentState(t *testing.T) {
	t.Parallel()
	db, _ := storetest.NewDB(t)
	ctx := context.Background()
	failFirst := func(nbr string) store.Notification {
		t.Helper()
		got, err := db.ClaimPending(ctx, []catalog.SectionKey{key(term, nbr)}, time.Minute, 10)
		if err != nil || len(got) != 1 {
			t.Fatalf("claim %s: %+v, %v", nbr, got, err)
		}
		if _, err := db.Pool().Exec(ctx, `UPDATE notifications SET lease_until = NULL, last_error = 'smtp down' WHERE id = $1`, got[0].ID); err != nil {
			t.Fatal(err)
		}
		return got[0]
	}
	status := func(id int64) (string, string) {
		t.Helper()
		var st, lastErr string
		if err := db.Pool().QueryRow(ctx, `SELECT status, last_error FROM notifications WHERE id = $1`, id).Scan(&st, &lastErr); err != nil {
			t.Fatal(err)
		}
		return st, lastErr
	}

	// 100: the seat is taken again before the retry.
	openSection(t, db, "100", 1)
	gone := failFirst("100")
	apply(t, db, course, at(2), []string{"100"}, sec(term, "100", 30, "Staff"))
	// 200: filled and opened again: only the newer alert is sent.
	openSection(t, db, "200", 1)
	superseded := failFirst("200")
	apply(t, db, course, at(2), []string{"200"}, sec(term, "200", 30, "Staff"))
	apply(t, db, course, at(3), []string{"200"}, sec(term, "200", 28, "Staff"))
	// 300: still open, but nobody has looked for hours and the alert is
	// hours old.
	openSection(t, db, "300", 1)
	unvouched := failFirst("300")
	if _, err := db.Pool().Exec(ctx, `UPDATE notifications SET created_at = now() - interval '3 hours' WHERE id = $1`, unvouched.ID); err != nil {
		t.Fatal(err)
	}
	// 400: hours old too, but seen open a minute ago: still worth sending.
	openSection(t, db, "400", 1)
	vouched := failFirst("400")
	if _, err := db.Pool().Exec(ctx, `UPDATE notifications SET created_at = now() - interval '3 hours' WHERE id = $1`, vouched.ID); err != nil {
		t.Fatal(err)
	}
	apply(t, db, course, time.Now().Add(-time.Minute), []string{"400"}, sec(term, "400", 26, "Staff"))

	due, err := db.ClaimDue(ctx, time.Minute, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range due {
		got = append(got, fmt.Sprintf("%s/%d", n.Section.ClassNbr, n.Epoch))
		if n.OpenSeats <= 0 {
			t.Errorf("claimed %s with %d open seats", n.Section.ClassNbr, n.OpenSeats)
		}
	}
	sort.Strings(got)
	if diff := cmp.Diff([]string{"200/2", "400/1"}, got); diff != "" {
		t.Errorf("sent after the delay (-want +got):\n%s", diff)
	}
	for _, n := range []store.Notification{gone, superseded, unvouched} {
		if st, why := status(n.ID); st != store.StatusSkipped || why == "" {
			t.Errorf("%s epoch %d: %s (%q), want skipped with a reason", n.Section.ClassNbr, n.Epoch, st, why)
		}
	}
}
