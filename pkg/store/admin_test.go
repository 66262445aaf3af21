package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/pickmyclass/pickmyclass/pkg/store"
	"github.com/pickmyclass/pickmyclass/pkg/store/storetest"
)

func TestPromoteAdmin(t *testing.T) {
	t.Parallel()
	db, _ := storetest.NewDB(t)
	ctx := context.Background()
	u := storetest.User(t, db, "Ops@Example.com")
	if u.IsAdmin {
		t.Fatal("a new user is an admin")
	}
	other := storetest.User(t, db, "other@example.com")

	got, err := db.PromoteAdmin(ctx, "  OPS@example.COM ")
	if err != nil {
		t.Fatalf("PromoteAdmin: %v", err)
	}
	if got.ID != u.ID || !got.IsAdmin {
		t.Fatalf("PromoteAdmin returned %+v, want user %d as admin", got, u.ID)
	}
	if again, err := db.PromoteAdmin(ctx, "ops@example.com"); err != nil || !again.IsAdmin {
		t.Fatalf("promoting again: %+v, %v", again, err)
	}
	stored, err := db.GetUser(ctx, u.ID)
	if err != nil || !stored.IsAdmin {
		t.Fatalf("stored user: %+v, %v", stored, err)
	}
	if o, err := db.GetUser(ctx, other.ID); err != nil || o.IsAdmin {
		t.Fatalf("another user changed: %+v, %v", o, err)
	}

	if _, err := db.PromoteAdmin(ctx, "nobody@example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown email: err = %v, want ErrNotFound", err)
	}
	if _, err := db.Pool().Exec(ctx, `UPDATE users SET deleted_at = now(), is_admin = false WHERE id = $1`, other.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.PromoteAdmin(ctx, "other@example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted account: err = %v, want ErrNotFound", err)
	}

	// An account whose email is not confirmed may belong to whoever
	// registered the address first: it is refused, and stays a plain user.
	squatter, err := db.CreateUser(ctx, store.NewUser{Email: "boss@example.com", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.PromoteAdmin(ctx, "boss@example.com"); !errors.Is(err, store.ErrUnverified) {
		t.Fatalf("unverified account: err = %v, want ErrUnverified", err)
	}
	if s, err := db.GetUser(ctx, squatter.ID); err != nil || s.IsAdmin {
		t.Fatalf("unverified account after refused promotion: %+v, %v", s, err)
	}
}
