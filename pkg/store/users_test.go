package store_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"golang.org/x/sync/errgroup"

	"github.com/pickmyclass/pickmyclass/pkg/store"
	"github.com/pickmyclass/pickmyclass/pkg/store/storetest"
)

func TestCreateUser(t *testing.T) {
	t.Parallel()
	db, _ := storetest.NewDB(t)
	ctx := context.Background()
	u, err := db.CreateUser(ctx, store.NewUser{Email: "  Ada@Example.EDU ", PasswordHash: "h", IsAdmin: true})
	if err != nil {
		t.Fatal(err)
	}
	if u.Email != "ada@example.edu" || !u.IsAdmin || u.VerifiedAt != nil || !u.NotifyEmail {
		t.Errorf("created %+v", u)
	}
	if _, err := db.CreateUser(ctx, store.NewUser{Email: "ADA@example.edu", PasswordHash: "h"}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("duplicate email: %v, want ErrConflict", err)
	}
	got, err := db.GetUser(ctx, u.ID)
	if err != nil || got.Email != u.Email {
		t.Errorf("GetUser = %+v, %v", got, err)
	}
	if _, err := db.GetUser(ctx, u.ID+1000); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetUser of a missing user: %v, want ErrNotFound", err)
	}
	if err := db.MarkComplained(ctx, "nobody@example.edu"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("MarkComplained of a missing user: %v, want ErrNotFound", err)
	}
	if err := db.SetDisabled(ctx, u.ID, true); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.GetUser(ctx, u.ID); got.DisabledAt == nil {
		t.Error("SetDisabled did not set disabled_at")
	}
}

func TestCreateWatchCapUnderRace(t *testing.T) {
	t.Parallel()
	db, _ := storetest.NewDB(t)
	u := storetest.User(t, db, "racer@example.edu")
	var ok, limited atomic.Int32
	var g errgroup.Group
	for i := range 20 {
		g.Go(func() error {
			_, err := db.CreateWatch(context.Background(), u.ID, store.NewWatch{
				Term: term, ClassNbr: string(rune('a'+i)) + "1", Subject: subj, CatalogNbr: catNbr,
			}, store.DefaultWatchLimit)
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, store.ErrLimitReached):
				limited.Add(1)
			default:
				return err
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	if ok.Load() != 10 || limited.Load() != 10 {
		t.Errorf("20 racing creates: %d created, %d limited; want 10 and 10", ok.Load(), limited.Load())
	}
	views, err := db.ListWatches(context.Background(), u.ID)
	if err != nil || len(views) != 10 {
		t.Errorf("ListWatches = %d, %v; want 10", len(views), err)
	}
}

func TestWatchLifecycle(t *testing.T) {
	t.Parallel()
	db, _ := storetest.NewDB(t)
	ctx := context.Background()
	u := storetest.User(t, db, "owner@example.edu")
	other := storetest.User(t, db, "other@example.edu")

	w, err := db.CreateWatch(ctx, u.ID, store.NewWatch{Term: term, ClassNbr: "12345", Subject: "cse", CatalogNbr: "240"}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if w.Subject != "CSE" {
		t.Errorf("subject stored as %q, want upper case", w.Subject)
	}
	if _, err := db.CreateWatch(ctx, u.ID, store.NewWatch{Term: term, ClassNbr: "12345", Subject: subj, CatalogNbr: catNbr}, 10); !errors.Is(err, store.ErrConflict) {
		t.Errorf("duplicate watch: %v, want ErrConflict", err)
	}
	// The same class number in another term is another section.
	if _, err := db.CreateWatch(ctx, u.ID, store.NewWatch{Term: "2261", ClassNbr: "12345", Subject: subj, CatalogNbr: catNbr}, 10); err != nil {
		t.Errorf("same class number, other term: %v", err)
	}
	if _, err := db.CreateWatch(ctx, u.ID+1000, store.NewWatch{Term: term, ClassNbr: "1", Subject: subj, CatalogNbr: catNbr}, 10); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("watch for a missing user: %v, want ErrNotFound", err)
	}
	if _, err := db.CreateWatch(ctx, u.ID, store.NewWatch{Term: term, ClassNbr: "9"}, 10); err == nil {
		t.Error("watch without a course succeeded")
	}

	views, err := db.ListWatches(ctx, u.ID)
	if err != nil || len(views) != 2 || views[0].State != nil {
		t.Fatalf("ListWatches before any check = %+v, %v", views, err)
	}
	apply(t, db, course, at(0), []string{"12345"}, sec(term, "12345", 12))
	views, err = db.ListWatches(ctx, u.ID)
	if err != nil || views[0].State == nil || views[0].State.OpenSeats != 18 || views[1].State != nil {
		t.Fatalf("ListWatches after a check = %+v, %v", views, err)
	}

	if err := db.DeleteWatch(ctx, other.ID, w.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleting another user's watch: %v, want ErrNotFound", err)
	}
	if err := db.DeleteWatch(ctx, u.ID, w.ID); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteWatch(ctx, u.ID, w.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleting twice: %v, want ErrNotFound", err)
	}
}
