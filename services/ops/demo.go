package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asu"
	"github.com/pickmyclass/pickmyclass/pkg/envconf"
	"github.com/pickmyclass/pickmyclass/pkg/store"
)

// demoUsers watch the demo catalog's sections ("term:class number"), a
// course ("course:term:subject:catalog number") or a lecture with its labs
// ("linked:term:class number"). Both watch some of the same sections, to
// show that every watcher gets exactly one email.
var demoUsers = map[string][]string{
	"demo@pickmyclass.test": {"2267:70412", "2267:81777", "2267:66445", "2267:66447", "2267:71020", "2267:72100", "2271:70412",
		"course:2267:ENG:101", "linked:2267:76100"},
	"friend@pickmyclass.test": {"2267:70412", "2267:66445", "2267:72102", "2267:73300", "2267:74010"},
}

// demoPassword is the demo accounts' password, printed by deploy/demo.sh.
const demoPassword = "demo-password"

// demo seeds the demo users and their watches (`ops demo seed`, run by
// deploy/demo.sh), each section looked up in the catalog (the simulator, in
// the demo) as the web app does. The accounts have a published password, so
// it refuses a database that is not on this machine. It can run again: an
// account left by an earlier demo gets back its password, its alert emails
// and any watch removed since, so the printed login always works.
func demo(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	verb, rest, err := subcommand("demo", args, "seed")
	if err != nil {
		return err
	}
	fs := newFlags("demo "+verb, stdout)
	if err := parse(fs, rest); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: ops demo seed takes no arguments", errUsage)
	}
	r := envconf.New(getenv)
	dbURL := r.URL("DATABASE_URL", "", "postgres", "postgresql")
	base := r.URL("ASU_API_BASE_URL", asu.DefaultBaseURL, "http", "https")
	if err := r.Err(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if !localDatabase(dbURL) {
		return fmt.Errorf("ops demo seed creates accounts with a published password; it only runs against a database on this machine, not %s", envconf.Redact(dbURL))
	}
	if err := store.Migrate(ctx, dbURL); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	db, err := store.Open(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer db.Close()
	src, err := asu.New(asu.Config{BaseURL: base, Timeout: 10 * time.Second})
	if err != nil {
		return fmt.Errorf("catalog: %w", err)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(demoPassword), bcrypt.DefaultCost)
	if err != nil {
		return fmt.Errorf("hash demo password: %w", err)
	}
	for email, watches := range demoUsers {
		u, err := db.CreateUser(ctx, store.NewUser{Email: email, PasswordHash: string(hash), Verified: true})
		if errors.Is(err, store.ErrConflict) {
			u, err = resetDemoUser(ctx, db, email, string(hash))
			fmt.Fprintf(stdout, "seed: %s exists; password, alerts and watches restored\n", email)
		}
		if err != nil {
			return fmt.Errorf("create %s: %w", email, err)
		}
		for _, w := range watches {
			if err := seedWatch(ctx, db, src, u.ID, w); err != nil {
				return fmt.Errorf("watch %s for %s: %w", w, email, err)
			}
			fmt.Fprintf(stdout, "seed: %s watches %s\n", email, w)
		}
	}
	return nil
}

// seedWatch adds one demo watch (see demoUsers), looked up in the catalog
// as the web app does; one the user has already is left as it is.
func seedWatch(ctx context.Context, db *store.DB, src *asu.Client, userID int64, spec string) error {
	nw := store.NewWatch{Kind: catalog.WatchSection}
	parts := strings.Split(spec, ":")
	switch {
	case parts[0] == "course" && len(parts) == 4:
		nw = store.NewWatch{Kind: catalog.WatchCourse, Term: parts[1], Subject: parts[2], CatalogNbr: parts[3]}
	case parts[0] == "linked" && len(parts) == 3:
		nw.Kind, nw.Term, nw.ClassNbr = catalog.WatchLinked, parts[1], parts[2]
	case len(parts) == 2:
		nw.Term, nw.ClassNbr = parts[0], parts[1]
	default:
		return fmt.Errorf("bad demo watch %q", spec)
	}
	if nw.ClassNbr != "" {
		sec, err := src.Section(ctx, catalog.SectionKey{Term: nw.Term, ClassNbr: nw.ClassNbr})
		if err != nil {
			return fmt.Errorf("look up: %w", err)
		}
		nw.Subject, nw.CatalogNbr = sec.Subject, sec.CatalogNbr
	}
	if _, err := db.CreateWatch(ctx, userID, nw, store.DefaultWatchLimit); err != nil && !errors.Is(err, store.ErrConflict) {
		return err
	}
	return nil
}

// resetDemoUser restores an existing demo account to what the demo banner
// promises: the demo password (ending its old sessions), enabled, alert
// emails on. Its watches are then re-added by the caller.
func resetDemoUser(ctx context.Context, db *store.DB, email, hash string) (store.User, error) {
	u, err := db.GetUserByEmail(ctx, email)
	if err != nil {
		return store.User{}, err
	}
	if err := db.SetPassword(ctx, u.ID, hash, nil); err != nil {
		return store.User{}, err
	}
	if err := db.SetDisabled(ctx, u.ID, false); err != nil {
		return store.User{}, err
	}
	if err := db.SetNotifications(ctx, u.ID, true); err != nil {
		return store.User{}, err
	}
	return u, nil
}

// localDatabase reports whether a PostgreSQL URL names a server on this
// machine only: a loopback address, localhost, or a Unix socket.
func localDatabase(dbURL string) bool {
	u, err := url.Parse(dbURL)
	if err != nil {
		return false
	}
	hosts := []string{u.Hostname()}
	if h := u.Query().Get("host"); h != "" {
		hosts = strings.Split(h, ",")
	} else if strings.Contains(u.Host, ",") {
		return false // several servers
	}
	for _, h := range hosts {
		switch ip := net.ParseIP(h); {
		case strings.HasPrefix(h, "/"), h == "localhost", ip != nil && ip.IsLoopback():
		default:
			return false
		}
	}
	return true
}
