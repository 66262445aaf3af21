package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"text/tabwriter"
	"time"

	webpush "github.com/SherClockHolmes/webpush-go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"

	"github.com/pickmyclass/pickmyclass/pkg/breaker"
	"github.com/pickmyclass/pickmyclass/pkg/check"
	"github.com/pickmyclass/pickmyclass/pkg/envconf"
	"github.com/pickmyclass/pickmyclass/pkg/store"
	"github.com/pickmyclass/pickmyclass/pkg/stream"
	"github.com/pickmyclass/pickmyclass/pkg/sweep"
)

// migrate applies the embedded migrations. It is what the compose stack's
// one-shot migrate service runs before the services start.
func migrate(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if err := parse(newFlags("migrate", stdout), args); err != nil {
		return err
	}
	r := envconf.New(getenv)
	url := r.URL("DATABASE_URL", "", "postgres", "postgresql")
	if err := r.Err(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := store.Migrate(ctx, url); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "migrations applied")
	return nil
}

// resetHint is what an operator does with an account for their address
// that may not be theirs: anyone could have registered it first and knows
// its password. A password reset proves the mailbox, confirms the address
// and ends every session; only then is promoting it safe.
const resetHint = "reset its password with the link from /forgot-password (that confirms the address and ends every session), then run ops admin promote"

// passwordBytes of randomness make a 32-character URL-safe password.
const passwordBytes = 24

// passwordCost is the bcrypt cost of the API's password hashes
// (web.DefaultPasswordCost).
const passwordCost = 12

// admin creates or promotes an administrator account.
func admin(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	verb, rest, err := subcommand("admin", args, "create", "promote")
	if err != nil {
		return err
	}
	fs := newFlags("admin "+verb, stdout)
	email := fs.String("email", "", "the account's email address")
	if err := parse(fs, rest); err != nil {
		return err
	}
	if *email == "" || fs.NArg() > 0 {
		return fmt.Errorf("%w: ops admin %s --email E", errUsage, verb)
	}
	e, closeAll, err := connect(ctx, getenv, need{db: true})
	if err != nil {
		return err
	}
	defer closeAll()

	if verb == "promote" {
		u, err := e.DB.PromoteAdmin(ctx, *email)
		if errors.Is(err, store.ErrUnverified) {
			return fmt.Errorf("%w: %s", err, resetHint)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s (user %d) is an admin\n", u.Email, u.ID)
		return nil
	}
	password, err := newPassword()
	if err != nil {
		return err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), passwordCost)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	u, err := e.DB.CreateUser(ctx, store.NewUser{Email: *email, PasswordHash: string(hash), Verified: true, IsAdmin: true})
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("%w: an account already has this email; %s", err, resetHint)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created admin %s (user %d)\npassword: %s\n", u.Email, u.ID, password)
	return nil
}

// newPassword returns a random password; it is shown once and only its
// bcrypt hash is stored.
func newPassword() (string, error) {
	b := make([]byte, passwordBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate password: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// dlq lists, replays and discards dead letters.
func dlq(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	verb, rest, err := subcommand("dlq", args, "list", "replay", "discard")
	if err != nil {
		return err
	}
	fs := newFlags("dlq "+verb, stdout)
	count := fs.Int64("count", 20, "how many dead letters to list")
	all := fs.Bool("all", false, "every dead letter")
	if err := parse(fs, rest); err != nil {
		return err
	}
	ids := fs.Args()
	switch {
	case verb == "list" && (len(ids) > 0 || *all || *count < 1):
		return fmt.Errorf("%w: ops dlq list [--count N] (N ≥ 1)", errUsage)
	case verb != "list" && *all == (len(ids) > 0):
		return fmt.Errorf("%w: ops dlq %s ID... | --all", errUsage, verb)
	}
	e, closeAll, err := connect(ctx, getenv, need{redis: true})
	if err != nil {
		return err
	}
	defer closeAll()
	dead := e.Keys.DeadLetter()

	if verb == "list" {
		letters, err := stream.DeadLetters(ctx, e.Redis, dead, *count)
		if err != nil {
			return err
		}
		total, err := e.Redis.XLen(ctx, dead).Result()
		if err != nil {
			return fmt.Errorf("count dead letters: %w", err)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tFAILED AT\tDELIVERIES\tKEY\tREASON")
		for _, d := range letters {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", d.ID, stamp(d.FailedAt), d.Deliveries, d.Key, d.Reason)
		}
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("write list: %w", err)
		}
		fmt.Fprintf(stdout, "%d of %d dead letters\n", len(letters), total)
		return nil
	}

	if *all {
		if ids, err = allIDs(ctx, e, dead); err != nil {
			return err
		}
	}
	done := 0
	for _, id := range ids {
		if verb == "replay" {
			err = stream.Replay(ctx, e.Redis, dead, e.Keys.Stream(), id)
		} else {
			err = stream.Discard(ctx, e.Redis, dead, id)
		}
		if err != nil {
			return fmt.Errorf("%w (%d of %d done)", err, done, len(ids))
		}
		done++
	}
	past := map[string]string{"replay": "replayed", "discard": "discarded"}[verb]
	fmt.Fprintf(stdout, "%s %d dead letters\n", past, done)
	return nil
}

// allIDs returns the IDs of the dead letters present now, oldest first;
// entries dead-lettered while a replay runs are left for the next one.
func allIDs(ctx context.Context, e env, dead string) ([]string, error) {
	var ids []string
	start := "-"
	for {
		msgs, err := e.Redis.XRangeN(ctx, dead, start, "+", 500).Result()
		if err != nil {
			return nil, fmt.Errorf("list dead letters of %s: %w", dead, err)
		}
		for _, m := range msgs {
			ids = append(ids, m.ID)
		}
		if len(msgs) < 500 {
			return ids, nil
		}
		start = "(" + msgs[len(msgs)-1].ID
	}
}

// upstream is the breaker every worker shares (check.University).
const upstream = check.University

// breakerCmd shows or resets the shared circuit breaker.
func breakerCmd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	verb, rest, err := subcommand("breaker", args, "show", "reset")
	if err != nil {
		return err
	}
	fs := newFlags("breaker "+verb, stdout)
	if err := parse(fs, rest); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: ops breaker %s takes no arguments", errUsage, verb)
	}
	e, closeAll, err := connect(ctx, getenv, need{redis: true})
	if err != nil {
		return err
	}
	defer closeAll()
	b, err := breaker.New(e.Redis, breaker.Config{Name: upstream, Key: e.Keys.Breaker(upstream)})
	if err != nil {
		return fmt.Errorf("breaker %s: %w", upstream, err)
	}
	backoff := e.Keys.Backoff(upstream)

	if verb == "reset" {
		if err := b.Reset(ctx); err != nil {
			return err
		}
		if err := e.Redis.Del(ctx, backoff).Err(); err != nil {
			return fmt.Errorf("clear back-off %s: %w", backoff, err)
		}
		fmt.Fprintf(stdout, "breaker %s reset: closed, back-off cleared\n", upstream)
		return nil
	}
	s, err := b.State(ctx)
	if err != nil {
		return err
	}
	wait, err := e.Redis.PTTL(ctx, backoff).Result()
	if err != nil {
		return fmt.Errorf("read back-off %s: %w", backoff, err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "breaker\t%s\n", upstream)
	fmt.Fprintf(tw, "state\t%s\n", s.State)
	fmt.Fprintf(tw, "failures\t%d\n", s.Failures)
	fmt.Fprintf(tw, "successes\t%d\n", s.Successes)
	fmt.Fprintf(tw, "opened at\t%s\n", stamp(s.OpenedAt))
	if s.State == breaker.Open {
		fmt.Fprintf(tw, "half-open in\t%s\n", s.RetryIn.Round(time.Second))
	}
	// PTTL is negative when the key is missing or never expires.
	if wait > 0 {
		fmt.Fprintf(tw, "429 back-off\t%s left\n", wait.Round(time.Second))
	} else {
		fmt.Fprintf(tw, "429 back-off\tnone\n")
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write breaker state: %w", err)
	}
	return nil
}

// sweepNow enqueues one sweep at once, planned as the scheduler plans its
// sweeps (sweep.Sweeper.RunNow, configured from the same variables), under
// a stamp of its own ("manual-<unix>"). Units whose sections all have a
// check still waiting in the stream are not enqueued again.
func sweepNow(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	verb, rest, err := subcommand("sweep", args, "now")
	if err != nil {
		return err
	}
	fs := newFlags("sweep "+verb, stdout)
	if err := parse(fs, rest); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: ops sweep now takes no arguments", errUsage)
	}
	r := envconf.New(getenv)
	cfg := sweep.ReadConfig(r)
	if err := r.Err(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	e, closeAll, err := connect(ctx, getenv, need{db: true, redis: true})
	if err != nil {
		return err
	}
	defer closeAll()

	log := zerolog.New(zerolog.ConsoleWriter{Out: stdout, NoColor: true}).Level(zerolog.WarnLevel)
	sw := sweep.New(cfg, e.DB, e.Redis, e.Keys, log, prometheus.NewRegistry())
	stamp := "manual-" + strconv.FormatInt(time.Now().Unix(), 10)
	res, err := sw.RunNow(ctx, stamp)
	if err != nil {
		return fmt.Errorf("sweep %s: %w", stamp, err)
	}
	walks := 0
	for _, u := range res.Plan.Units {
		if u.IsScan() {
			walks++
		}
	}
	fmt.Fprintf(stdout, "sweep %s: enqueued %d units (%d course requests, %d walks planned) for %d watched sections in %d courses; "+
		"%d units left to checks still waiting; %d courses of past terms skipped\n",
		res.Sweep, res.Enqueued, len(res.Plan.Units)-walks, walks, res.Sections, res.Courses, res.StillQueued, res.Skipped)
	return nil
}

// queue prints the stream's state.
func queue(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := newFlags("queue", stdout)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: ops queue takes no arguments", errUsage)
	}
	e, closeAll, err := connect(ctx, getenv, need{redis: true})
	if err != nil {
		return err
	}
	defer closeAll()
	s, err := stream.Inspect(ctx, e.Redis, e.Keys.Stream(), e.Keys.Group(), e.Keys.DeadLetter())
	if err != nil {
		return err
	}
	lag := strconv.FormatInt(s.Lag, 10)
	if s.Lag < 0 {
		lag = "unknown"
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "stream\t%s\n", e.Keys.Stream())
	fmt.Fprintf(tw, "length\t%d\n", s.Length)
	fmt.Fprintf(tw, "pending\t%d\n", s.Pending)
	fmt.Fprintf(tw, "lag\t%s\n", lag)
	fmt.Fprintf(tw, "dead letters\t%d\n", s.DeadLetters)
	fmt.Fprintf(tw, "delayed\t%d\n", s.Delayed)
	fmt.Fprintf(tw, "oldest pending\t%s\n", s.OldestPendingAge.Round(time.Second))
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write queue state: %w", err)
	}
	return nil
}

// probeTimeout bounds a health probe; Docker's own timeout is longer.
const probeTimeout = 3 * time.Second

// probe is the health check of the distroless images, which have no shell
// or curl: it GETs the URL and fails unless the answer is 2xx.
func probe(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("probe", stdout)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: ops probe URL", errUsage)
	}
	url := fs.Arg(0)
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("probe %s: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("probe %s: status %s", url, resp.Status)
	}
	fmt.Fprintf(stdout, "%s: %s\n", url, resp.Status)
	return nil
}

// stamp formats a time for tables; "-" when unset.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// vapid prints a new VAPID key pair as .env lines. Browsers' subscriptions
// are bound to the public key: replacing it ends every subscription.
func vapid(args []string, stdout io.Writer) error {
	if _, _, err := subcommand("vapid", args, "generate"); err != nil {
		return err
	}
	priv, pub, err := webpush.GenerateVAPIDKeys()
	if err != nil {
		return fmt.Errorf("generate VAPID keys: %w", err)
	}
	fmt.Fprintf(stdout, "VAPID_PUBLIC_KEY=%s\nVAPID_PRIVATE_KEY=%s\n", pub, priv)
	return nil
}
