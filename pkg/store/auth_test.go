package store_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/store"
	"github.com/pickmyclass/pickmyclass/pkg/store/storetest"
)

// t0us is t0 at PostgreSQL's precision.
var t0us = t0.Truncate(time.Microsecond)

func TestRegisterRecordsConsentsAndIsNeverAdmin(t *testing.T) {
	t.Parallel()
	db, _ := storetest.NewDB(t)
	ctx := context.Background()
	mail := store.OutboxMail{Subject: "s", ExpiresAt: time.Now().Add(time.Hour)}
	if err := db.Register(ctx, store.NewAccount{Email: " New@Example.edu", PasswordHash: "h", AgeConfirmedAt: t0us, TermsAcceptedAt: t0us}, []byte("t1"), mail, mail); err != nil {
		t.Fatal(err)
	}
	u, err := db.GetUserByEmail(ctx, "new@example.edu")
	if err != nil || u.IsAdmin || u.VerifiedAt != nil || u.Email != "new@example.edu" {
		t.Fatalf("created %+v, %v", u, err)
	}
	if err := db.Register(ctx, store.NewAccount{Email: "NEW@example.edu", PasswordHash: "other"}, []byte("t2"), mail, mail); err != nil {
		t.Errorf("duplicate: %v", err)
	}
	if again, err := db.GetUserByEmail(ctx, "new@example.edu"); err != nil || again.ID != u.ID || again.PasswordHash != "h" {
		t.Errorf("a second registration changed the account: %+v, %v", again, err)
	}
	x, err := db.ExportUser(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if x.Account.AgeConfirmedAt == nil || !x.Account.AgeConfirmedAt.Equal(t0us) || x.Account.TermsAcceptedAt == nil {
		t.Errorf("consents not recorded: %+v", x.Account)
	}
	if err := db.MarkVerified(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	got, err := db.GetUserByEmail(ctx, "NEW@EXAMPLE.EDU")
	if err != nil || got.VerifiedAt == nil {
		t.Errorf("GetUserByEmail = %+v, %v", got, err)
	}
	if _, err := db.GetUserByEmail(ctx, "missing@example.edu"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing email: %v", err)
	}
}

func TestSessionsEndWithDisableAndPasswordChange(t *testing.T) {
	t.Parallel()
	db, _ := storetest.NewDB(t)
	ctx := context.Background()
	u := storetest.User(t, db, "s@example.edu")
	now := time.Now()
	for _, id := range []string{"a", "b", "c"} {
		if err := db.CreateSession(ctx, store.NewSession{ID: []byte(id), UserID: u.ID, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := db.Session(ctx, []byte("a"), now); err != nil || got.User.ID != u.ID {
		t.Fatalf("Session = %+v, %v", got, err)
	}
	if _, err := db.Session(ctx, []byte("a"), now.Add(2*time.Hour)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("expired session: %v", err)
	}
	if err := db.TouchSession(ctx, []byte("a"), now, now.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Session(ctx, []byte("a"), now.Add(2*time.Hour)); err != nil {
		t.Errorf("touched session should be extended: %v", err)
	}
	if err := db.DeleteSession(ctx, []byte("c")); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Session(ctx, []byte("c"), now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted session: %v", err)
	}
	if err := db.SetPassword(ctx, u.ID, "new", []byte("a")); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Session(ctx, []byte("a"), now); err != nil {
		t.Errorf("kept session ended: %v", err)
	}
	if _, err := db.Session(ctx, []byte("b"), now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("other session survived a password change: %v", err)
	}
	if err := db.SetDisabled(ctx, u.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Session(ctx, []byte("a"), now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("disabled user's session: %v", err)
	}
	if err := db.SetDisabled(ctx, u.ID, false); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.GetUser(ctx, u.ID); got.DisabledAt != nil {
		t.Error("enable left disabled_at set")
	}
	if err := db.SetDisabled(ctx, u.ID+99, true); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("disable missing user: %v", err)
	}
}

func TestTokensAreSingleUseExpiringAndLatestOnly(t *testing.T) {
	t.Parallel()
	db, _ := storetest.NewDB(t)
	ctx := context.Background()
	u := storetest.User(t, db, "t@example.edu")
	now := time.Now()
	if err := db.CreateToken(ctx, []byte("old"), u.ID, store.PurposeResetPassword, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateToken(ctx, []byte("new"), u.ID, store.PurposeResetPassword, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ConsumeToken(ctx, []byte("old"), store.PurposeResetPassword, now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("superseded token: %v", err)
	}
	if _, err := db.ConsumeToken(ctx, []byte("new"), store.PurposeVerifyEmail, now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("token for another purpose: %v", err)
	}
	if _, err := db.ConsumeToken(ctx, []byte("new"), store.PurposeResetPassword, now.Add(2*time.Hour)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("expired token: %v", err)
	}
	uid, err := db.ConsumeToken(ctx, []byte("new"), store.PurposeResetPassword, now)
	if err != nil || uid != u.ID {
		t.Fatalf("ConsumeToken = %d, %v", uid, err)
	}
	if _, err := db.ConsumeToken(ctx, []byte("new"), store.PurposeResetPassword, now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second use: %v", err)
	}
}

func TestLockoutPerEmailAndClientInWindowSinceLastSuccess(t *testing.T) {
	t.Parallel()
	db, _ := storetest.NewDB(t)
	ctx := context.Background()
	const window = 15 * time.Minute
	reserve := func(email, ip string, at time.Duration) store.LoginReservation {
		t.Helper()
		r, err := db.ReserveLoginAttempt(ctx, email, ip, t0.Add(at), window, 5)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for i := range 4 {
		if r := reserve("lock@example.edu", "1.2.3.4", time.Duration(i)*time.Minute); r.ID == 0 || !r.LockedUntil.IsZero() {
			t.Fatalf("attempt %d: %+v, want a reservation that does not lock", i+1, r)
		}
	}
	// The fifth is reserved and, should it fail, locks the pair until the
	// oldest of the five leaves the window.
	if r := reserve("LOCK@example.edu", "1.2.3.4", 5*time.Minute); r.ID == 0 || !r.LockedUntil.Equal(t0us.Add(window)) {
		t.Fatalf("fifth attempt: %+v, want a reservation locking until %v", r, t0us.Add(window))
	}
	if r := reserve("lock@example.edu", "1.2.3.4", 6*time.Minute); r.ID != 0 || !r.LockedUntil.Equal(t0us.Add(window)) {
		t.Fatalf("sixth attempt: %+v, want none reserved, locked until %v", r, t0us.Add(window))
	}
	// Another client trying the same email is not locked out.
	if r := reserve("lock@example.edu", "5.6.7.8", 6*time.Minute); r.ID == 0 {
		t.Fatal("another client is locked out by failures it did not make")
	}
	// The first failure leaves the window at t0+15m: four remain.
	ok := reserve("lock@example.edu", "1.2.3.4", 15*time.Minute+time.Second)
	if ok.ID == 0 {
		t.Fatal("still locked after the oldest failure left the window")
	}
	if err := db.LoginSucceeded(ctx, ok.ID); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if r := reserve("lock@example.edu", "1.2.3.4", 16*time.Minute+time.Duration(i)*time.Second); r.ID == 0 || !r.LockedUntil.IsZero() {
			t.Fatalf("after a success, attempt %d: %+v; a success should reset the count", i+1, r)
		}
	}
	if n, err := db.PruneLoginAttempts(ctx, t0.Add(time.Hour)); err != nil || n != 11 {
		t.Errorf("pruned %d, %v", n, err)
	}
}

// TestLoginReservationsRace: however many checks race for one pair, at
// most five are reserved.
func TestLoginReservationsRace(t *testing.T) {
	t.Parallel()
	db, _ := storetest.NewDB(t)
	ctx := context.Background()
	var reserved atomic.Int32
	var wg sync.WaitGroup
	for range 30 {
		wg.Go(func() {
			r, err := db.ReserveLoginAttempt(ctx, "race@example.edu", "9.9.9.9", time.Now(), 15*time.Minute, 5)
			if err != nil {
				t.Error(err)
			}
			if r.ID != 0 {
				reserved.Add(1)
			}
		})
	}
	wg.Wait()
	if n := reserved.Load(); n != 5 {
		t.Errorf("%d reservations of 30 racing attempts, want 5", n)
	}
}

// TestNewPasswordLiftsLockout: a password reset (or change) clears the
// failures of every client.
func TestNewPasswordLiftsLockout(t *testing.T) {
	t.Parallel()
	db, _ := storetest.NewDB(t)
	ctx := context.Background()
	u := storetest.User(t, db, "locked@example.edu")
	now := time.Now()
	for range 5 {
		if _, err := db.ReserveLoginAttempt(ctx, u.Email, "1.1.1.1", now, time.Hour, 5); err != nil {
			t.Fatal(err)
		}
	}
	if r, err := db.ReserveLoginAttempt(ctx, u.Email, "1.1.1.1", now, time.Hour, 5); err != nil || r.ID != 0 {
		t.Fatalf("not locked: %+v, %v", r, err)
	}
	if err := db.SetPassword(ctx, u.ID, "new hash", nil); err != nil {
		t.Fatal(err)
	}
	if r, err := db.ReserveLoginAttempt(ctx, u.Email, "1.1.1.1", now, time.Hour, 5); err != nil || r.ID == 0 {
		t.Fatalf("still locked after a new password: %+v, %v", r, err)
	}
}

func TestDeleteAccountStopsChecksAtOnceAndPurgeRemovesIt(t *testing.T) {
	t.Parallel()
	db, _ := storetest.NewDB(t)
	ctx := context.Background()
	u := storetest.User(t, db, "gone@example.edu")
	storetest.Watch(t, db, u.ID, term, "70412", subj, catNbr)
	if err := db.CreateSession(ctx, store.NewSession{ID: []byte("s"), UserID: u.ID, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteAccount(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if due, err := db.DueCourses(ctx); err != nil || len(due) != 0 {
		t.Errorf("due after delete = %v, %v", due, err)
	}
	if _, err := db.Session(ctx, []byte("s"), time.Now()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("session after delete: %v", err)
	}
	if _, err := db.GetUserByEmail(ctx, u.Email); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted user still found by email: %v", err)
	}
	if err := db.DeleteAccount(ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	if n, err := db.PurgeDeletedAccounts(ctx, time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Errorf("purge before the schedule: %d, %v", n, err)
	}
	if n, err := db.PurgeDeletedAccounts(ctx, time.Now().Add(time.Hour)); err != nil || n != 1 {
		t.Errorf("purge: %d, %v", n, err)
	}
}

func TestSetNotificationsLiftsUnsubscribe(t *testing.T) {
	t.Parallel()
	db, _ := storetest.NewDB(t)
	ctx := context.Background()
	u := storetest.User(t, db, "n@example.edu")
	if err := db.MarkUnsubscribed(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if err := db.SetNotifications(ctx, u.ID, true); err != nil {
		t.Fatal(err)
	}
	got, _ := db.GetUser(ctx, u.ID)
	if !got.NotifyEmail || got.UnsubscribedAt != nil {
		t.Errorf("after turning on: %+v", got)
	}
	if err := db.SetNotifications(ctx, u.ID, false); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.GetUser(ctx, u.ID); got.NotifyEmail {
		t.Error("still on")
	}
}

func TestAdminQueries(t *testing.T) {
	t.Parallel()
	db, _ := storetest.NewDB(t)
	ctx := context.Background()
	a := storetest.User(t, db, "a_b@example.edu")
	b := storetest.User(t, db, "axb@example.edu")
	storetest.Watch(t, db, a.ID, term, "70412", subj, catNbr)
	storetest.Watch(t, db, b.ID, term, "70412", subj, catNbr)
	storetest.Watch(t, db, b.ID, term, "70413", subj, catNbr)
	if err := db.SetNotifications(ctx, b.ID, false); err != nil {
		t.Fatal(err)
	}

	found, err := db.SearchUsers(ctx, "A_B", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 1 || found[0].ID != a.ID || found[0].Watches != 1 {
		t.Errorf("search a_b (underscore is literal) = %+v", found)
	}
	all, err := db.SearchUsers(ctx, "", 10)
	if err != nil || len(all) != 2 {
		t.Errorf("search all = %d, %v", len(all), err)
	}

	o, err := db.AdminOverview(ctx, t0)
	if err != nil {
		t.Fatal(err)
	}
	if o.Users != 2 || o.Watches != 3 || o.Sections != 2 || o.VerifiedUsers != 2 {
		t.Errorf("overview = %+v", o)
	}

	secs, err := db.WatchedSections(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(secs) != 2 || secs[0].Key.ClassNbr != "70412" || secs[0].Watchers != 2 || secs[0].State != nil {
		t.Errorf("watched sections = %+v", secs)
	}
	ws, err := db.SectionWatchers(ctx, catalog.SectionKey{Term: term, ClassNbr: "70412"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 2 || !ws[0].Notifiable || ws[1].Notifiable || ws[1].Email != b.Email {
		t.Errorf("watchers = %+v", ws)
	}
	if err := db.Audit(ctx, a.ID, "user.disable", "user:2", map[string]any{"reason": "test"}); err != nil {
		t.Fatal(err)
	}
}
