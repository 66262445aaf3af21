package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/pickmyclass/pickmyclass/pkg/catalog/asusim"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asusim/asusimtest"
	"github.com/pickmyclass/pickmyclass/pkg/store"
	"github.com/pickmyclass/pickmyclass/pkg/store/storetest"
)

func TestLocalDatabase(t *testing.T) {
	t.Parallel()
	for url, want := range map[string]bool{
		"postgres://u:p@localhost:5432/pmc":                       true,
		"postgres://u:p@127.0.0.1/pmc?sslmode=disable":            true,
		"postgres://u:p@127.10.0.3:5433/pmc":                      true,
		"postgres://u:p@[::1]:5432/pmc":                           true,
		"postgres:///pmc?host=/var/run/postgresql":                true,
		"postgres://u:p@db.example.com/pmc":                       false,
		"postgres://u:p@10.0.0.5/pmc":                             false,
		"postgres://u:p@localhost.example.com/pmc":                false,
		"postgres://u:p@localhost,db.example.com/pmc":             false,
		"postgres://u:p@localhost/pmc?host=db.example.com":        false,
		"postgres://u:p@/pmc?host=/var/run/postgresql,db.example": false,
	} {
		if got := localDatabase(url); got != want {
			t.Errorf("localDatabase(%q) = %t, want %t", url, got, want)
		}
	}
}

func TestDemoSeedRefusesRemoteDatabase(t *testing.T) {
	t.Parallel()
	_, err := ops(t, map[string]string{"DATABASE_URL": "postgres://pmc:s3cret-pw@db.example.com:5432/pmc"}, "demo", "seed")
	if err == nil || !strings.Contains(err.Error(), "only runs against a database on this machine") {
		t.Fatalf("err = %v, want a refusal", err)
	}
	if strings.Contains(err.Error(), "s3cret-pw") {
		t.Errorf("the refusal shows the password: %v", err)
	}
}

// TestDemoSeed seeds the demo accounts against the demo catalog, then again
// after the demo account was disabled, muted and lost a watch: the second
// run restores what the demo banner promises.
func TestDemoSeed(t *testing.T) {
	t.Parallel()
	sc, err := asusim.LoadScenario(filepath.Join("..", "asusim", "scenarios", "demo.json"))
	if err != nil {
		t.Fatal(err)
	}
	_, simURL := asusimtest.Start(t, sc)
	db, dbURL := storetest.NewDB(t)
	if !localDatabase(dbURL) {
		t.Fatalf("the test database is not local: the seed would refuse it")
	}
	env := map[string]string{"DATABASE_URL": dbURL, "ASU_API_BASE_URL": simURL}
	ctx := context.Background()

	verify := func() store.User {
		t.Helper()
		for email, watches := range demoUsers {
			u, err := db.GetUserByEmail(ctx, email)
			if err != nil {
				t.Fatalf("%s: %v", email, err)
			}
			if u.VerifiedAt == nil || u.DisabledAt != nil || !u.NotifyEmail || u.IsAdmin {
				t.Errorf("%s: %+v, want verified, enabled, alerts on, not an admin", email, u)
			}
			if bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(demoPassword)) != nil {
				t.Errorf("%s: the demo password does not sign in", email)
			}
			ws, err := db.ListWatches(ctx, u.ID)
			if err != nil || len(ws) != len(watches) {
				t.Errorf("%s: %d watches, %v; want %d", email, len(ws), err, len(watches))
			}
		}
		u, _ := db.GetUserByEmail(ctx, "demo@pickmyclass.test")
		return u
	}
	mustOps(t, env, "demo", "seed")
	u := verify()

	if err := db.SetDisabled(ctx, u.ID, true); err != nil {
		t.Fatal(err)
	}
	if err := db.SetNotifications(ctx, u.ID, false); err != nil {
		t.Fatal(err)
	}
	ws, err := db.ListWatches(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteWatch(ctx, u.ID, ws[0].ID); err != nil {
		t.Fatal(err)
	}
	out := mustOps(t, env, "demo", "seed")
	if !strings.Contains(out, "demo@pickmyclass.test exists; password, alerts and watches restored") {
		t.Errorf("second seed printed %q", out)
	}
	verify()
}
