package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/store"
	"github.com/pickmyclass/pickmyclass/pkg/store/storetest"
)

func TestOutboxClaimRetryAndExpiry(t *testing.T) {
	t.Parallel()
	db, _ := storetest.NewDB(t)
	ctx := context.Background()
	// Mail is due from the moment it is queued (by the database's clock).
	now := time.Now().Add(time.Second)
	for _, m := range []store.OutboxMail{
		{To: "a@example.edu", Subject: "one", Text: "1", ExpiresAt: now.Add(time.Hour)},
		{To: "b@example.edu", Subject: "two", Text: "2", ExpiresAt: now.Add(time.Hour)},
		{To: "c@example.edu", Subject: "stale", Text: "3", ExpiresAt: now.Add(-time.Second)},
	} {
		if err := db.QueueMail(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.ClaimMail(ctx, now, now.Add(time.Minute), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Attempts != 1 {
		t.Fatalf("claimed %+v, want the two live mails, first attempt", got)
	}
	// Leased: a second sender finds nothing.
	if again, err := db.ClaimMail(ctx, now, now.Add(time.Minute), 10); err != nil || len(again) != 0 {
		t.Fatalf("claimed while leased: %+v, %v", again, err)
	}
	if err := db.MailDone(ctx, got[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := db.RetryMail(ctx, got[1].ID, now.Add(time.Minute), "451 later"); err != nil {
		t.Fatal(err)
	}
	if early, err := db.ClaimMail(ctx, now.Add(30*time.Second), now.Add(time.Minute), 10); err != nil || len(early) != 0 {
		t.Fatalf("claimed before its retry time: %+v, %v", early, err)
	}
	retry, err := db.ClaimMail(ctx, now.Add(time.Minute), now.Add(2*time.Minute), 10)
	if err != nil || len(retry) != 1 || retry[0].ID != got[1].ID || retry[0].Attempts != 2 {
		t.Fatalf("retry claim: %+v, %v", retry, err)
	}
	if n, err := db.PruneExpiredMail(ctx, now); err != nil || n != 1 {
		t.Errorf("pruned %d expired mails, %v; want 1", n, err)
	}
}

// TestRequestPasswordReset queues a link for an account and nothing for an
// unknown or deleted address.
func TestRequestPasswordReset(t *testing.T) {
	t.Parallel()
	db, _ := storetest.NewDB(t)
	ctx := context.Background()
	u := storetest.User(t, db, "reset@example.edu")
	gone := storetest.User(t, db, "gone@example.edu")
	if err := db.DeleteAccount(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	for i, email := range []string{"nobody@example.edu", "gone@example.edu", " Reset@Example.edu"} {
		if err := db.RequestPasswordReset(ctx, email, []byte{byte(i)}, store.OutboxMail{Subject: "reset", Text: "link", ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
	}
	mails, err := db.ClaimMail(ctx, time.Now().Add(time.Second), exp, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(mails) != 1 || mails[0].To != "reset@example.edu" {
		t.Fatalf("queued %+v, want one mail to reset@example.edu", mails)
	}
	if uid, err := db.ConsumeToken(ctx, []byte{2}, store.PurposeResetPassword, time.Now()); err != nil || uid != u.ID {
		t.Errorf("the queued link's token: %d, %v", uid, err)
	}
}

// TestRegisterQueuesOneMailEitherWay: a new address gets an unverified
// account, its token and the welcome mail; a taken one only the mail to its
// owner; a deleted account's address registers anew.
func TestRegisterQueuesOneMailEitherWay(t *testing.T) {
	t.Parallel()
	db, _ := storetest.NewDB(t)
	ctx := context.Background()
	taken := storetest.User(t, db, "taken@example.edu")
	gone := storetest.User(t, db, "gone@example.edu")
	if err := db.DeleteAccount(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	welcome := store.OutboxMail{Subject: "welcome", Text: "link", ExpiresAt: exp}
	existing := store.OutboxMail{Subject: "already", Text: "sign in", ExpiresAt: exp}
	for i, email := range []string{" New@Example.edu", "TAKEN@example.edu", "gone@example.edu"} {
		na := store.NewAccount{Email: email, PasswordHash: "h", AgeConfirmedAt: exp, TermsAcceptedAt: exp}
		if err := db.Register(ctx, na, []byte{byte(i)}, welcome, existing); err != nil {
			t.Fatal(err)
		}
	}
	mails, err := db.ClaimMail(ctx, time.Now().Add(time.Second), exp, 10)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, m := range mails {
		got[m.To] = m.Subject
	}
	want := map[string]string{"new@example.edu": "welcome", "taken@example.edu": "already", "gone@example.edu": "welcome"}
	if len(mails) != 3 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("queued %v, want %v", got, want)
	}
	u, err := db.GetUserByEmail(ctx, "new@example.edu")
	if err != nil || u.VerifiedAt != nil || u.IsAdmin {
		t.Fatalf("new account %+v, %v; want unverified, not admin", u, err)
	}
	if uid, err := db.ConsumeToken(ctx, []byte{0}, store.PurposeVerifyEmail, time.Now()); err != nil || uid != u.ID {
		t.Errorf("the welcome link's token: %d, %v", uid, err)
	}
	if again, err := db.GetUserByEmail(ctx, "taken@example.edu"); err != nil || again.ID != taken.ID || again.PasswordHash == "h" {
		t.Errorf("the taken account changed: %+v, %v", again, err)
	}
	if fresh, err := db.GetUserByEmail(ctx, "gone@example.edu"); err != nil || fresh.ID == gone.ID {
		t.Errorf("the deleted account's address: %+v, %v; want a new account", fresh, err)
	}
}
