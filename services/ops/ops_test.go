package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/bcrypt"

	"github.com/pickmyclass/pickmyclass/pkg/breaker"
	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asu"
	"github.com/pickmyclass/pickmyclass/pkg/channel"
	"github.com/pickmyclass/pickmyclass/pkg/check"
	"github.com/pickmyclass/pickmyclass/pkg/store"
	"github.com/pickmyclass/pickmyclass/pkg/store/storetest"
	"github.com/pickmyclass/pickmyclass/pkg/stream"
	"github.com/pickmyclass/pickmyclass/pkg/testenv"
)

// ops runs one command with env as its whole environment.
func ops(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(testenv.Context(t, time.Minute), args, func(k string) string { return env[k] }, &out)
	return out.String(), err
}

// mustOps is ops for commands that must succeed.
func mustOps(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	out, err := ops(t, env, args...)
	if err != nil {
		t.Fatalf("ops %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// redisEnv returns a Redis client and the environment that points ops at
// the same server under a prefix of its own.
func redisEnv(t *testing.T) (*redis.Client, check.Keys, map[string]string) {
	t.Helper()
	rdb, prefix := testenv.Redis(t)
	return rdb, check.Keys{Prefix: prefix}, map[string]string{
		"REDIS_URL":    testenv.RedisURL(t),
		"REDIS_PREFIX": prefix,
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		nil,
		{"bogus"},
		{"admin"},
		{"admin", "create"},
		{"admin", "delete", "--email", "a@b.c"},
		{"dlq", "replay"},
		{"dlq", "discard", "1-1", "--all"},
		{"dlq", "replay", "--all", "1-1"},
		{"dlq", "list", "--count", "0"},
		{"breaker", "open"},
		{"sweep"},
		{"sweep", "later"},
		{"sweep", "now", "extra"},
		{"queue", "extra"},
		{"probe"},
		{"migrate", "--nope"},
	} {
		_, err := ops(t, nil, args...)
		if !errors.Is(err, errUsage) {
			t.Errorf("ops %q: err = %v, want a usage error", args, err)
		}
	}
}

func TestMissingConfigIsReported(t *testing.T) {
	t.Parallel()
	_, err := ops(t, map[string]string{}, "sweep", "now")
	if err == nil || !strings.Contains(err.Error(), "DATABASE_URL is required") || !strings.Contains(err.Error(), "REDIS_URL is required") {
		t.Fatalf("err = %v, want both URLs reported", err)
	}
	// sweep now reads the scheduler's sweep settings, checked as it checks them.
	_, err = ops(t, map[string]string{"SCHEDULER_PLAN": "fastest", "ASU_RATE": "0"}, "sweep", "now")
	if err == nil || !strings.Contains(err.Error(), "SCHEDULER_PLAN") || !strings.Contains(err.Error(), "ASU_RATE") {
		t.Fatalf("err = %v, want SCHEDULER_PLAN and ASU_RATE reported", err)
	}
	// A Redis-only command does not ask for the database.
	_, err = ops(t, map[string]string{"REDIS_URL": "http://x"}, "queue")
	if err == nil || strings.Contains(err.Error(), "DATABASE_URL") || !strings.Contains(err.Error(), "REDIS_URL") {
		t.Fatalf("err = %v, want only REDIS_URL reported", err)
	}
}

func TestVersionAndHelp(t *testing.T) {
	t.Parallel()
	if out := mustOps(t, nil, "version"); out != version+"\n" {
		t.Errorf("version = %q", out)
	}
	if out := mustOps(t, nil, "help"); !strings.Contains(out, "dlq replay") {
		t.Errorf("help lacks the commands:\n%s", out)
	}
}

func TestMigrateEmptyDatabase(t *testing.T) {
	t.Parallel()
	server := testenv.DatabaseURL(t)
	ctx := testenv.Context(t, time.Minute)
	name := "ops_" + testenv.RandomID()
	admin, err := pgx.Connect(ctx, server)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), server)
		if err != nil {
			t.Errorf("connect: %v", err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database: %v", err)
		}
	})
	u, err := url.Parse(server)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	env := map[string]string{"DATABASE_URL": u.String()}

	for range 2 { // the second run finds nothing to do
		if out := mustOps(t, env, "migrate"); !strings.Contains(out, "migrations applied") {
			t.Fatalf("migrate printed %q", out)
		}
	}
	db, err := store.Open(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.CreateUser(ctx, store.NewUser{Email: "a@example.com", PasswordHash: "x"}); err != nil {
		t.Fatalf("the migrated schema takes no user: %v", err)
	}
}

func TestAdminCreateAndPromote(t *testing.T) {
	t.Parallel()
	db, dbURL := storetest.NewDB(t)
	ctx := testenv.Context(t, time.Minute)
	env := map[string]string{"DATABASE_URL": dbURL}

	out := mustOps(t, env, "admin", "create", "--email", "Boss@Example.com")
	m := regexp.MustCompile(`user (\d+)\)\npassword: (\S+)\n`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("admin create printed %q", out)
	}
	var id int64
	fmt.Sscan(m[1], &id)
	u, err := db.GetUser(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if u.Email != "boss@example.com" || !u.IsAdmin || u.VerifiedAt == nil {
		t.Fatalf("created %+v, want a verified admin boss@example.com", u)
	}
	if len(m[2]) < 32 {
		t.Errorf("password %q is short", m[2])
	}
	if err := bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(m[2])); err != nil {
		t.Errorf("the printed password does not match the stored hash: %v", err)
	}
	if cost, err := bcrypt.Cost([]byte(u.PasswordHash)); err != nil || cost != 12 {
		t.Errorf("admin password hashed at cost %d (%v), want 12", cost, err)
	}
	if strings.Contains(u.PasswordHash, m[2]) {
		t.Error("the password is stored in clear")
	}
	// The account may be someone else's: the hint is a password reset
	// first, never a bare promote.
	if _, err := ops(t, env, "admin", "create", "--email", "boss@example.com"); !errors.Is(err, store.ErrConflict) ||
		!strings.Contains(err.Error(), "/forgot-password") {
		t.Errorf("creating twice: err = %v, want ErrConflict with the password-reset hint", err)
	}

	plain := storetest.User(t, db, "student@example.com")
	if out := mustOps(t, env, "admin", "promote", "--email", "STUDENT@example.com"); !strings.Contains(out, "is an admin") {
		t.Errorf("promote printed %q", out)
	}
	if u, err := db.GetUser(ctx, plain.ID); err != nil || !u.IsAdmin {
		t.Errorf("after promote: %+v, %v", u, err)
	}
	if _, err := ops(t, env, "admin", "promote", "--email", "ghost@example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("promoting an unknown email: err = %v, want ErrNotFound", err)
	}
	// Someone who registered the operator's address first never confirmed
	// it: promote refuses and says how to take the account back.
	squatter, err := db.CreateUser(ctx, store.NewUser{Email: "ops@example.com", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ops(t, env, "admin", "promote", "--email", "ops@example.com"); !errors.Is(err, store.ErrUnverified) ||
		!strings.Contains(err.Error(), "/forgot-password") {
		t.Errorf("promoting an unverified account: err = %v, want ErrUnverified with the password-reset hint", err)
	}
	if u, err := db.GetUser(ctx, squatter.ID); err != nil || u.IsAdmin {
		t.Errorf("unverified account after promote: %+v, %v", u, err)
	}
}

// addDeadLetter appends a dead letter as the consumer writes one.
func addDeadLetter(t *testing.T, rdb *redis.Client, keys check.Keys, key, reason string) string {
	t.Helper()
	id, err := rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: keys.DeadLetter(), Values: map[string]any{
		"type": check.MessageType, "data": "payload-" + key, "ts": time.Now().UnixMilli(), "key": key,
		"reason": reason, "deliveries": 3, "original_id": "1-1", "failed_at": time.Now().UnixMilli(),
	}}).Result()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestDLQ(t *testing.T) {
	t.Parallel()
	rdb, keys, env := redisEnv(t)
	ctx := testenv.Context(t, time.Minute)
	a := addDeadLetter(t, rdb, keys, "2267:CSE:240", "upstream: 500")
	b := addDeadLetter(t, rdb, keys, "2267:MAT:265", "max deliveries")
	c := addDeadLetter(t, rdb, keys, "2267:ENG:101", "invalid check")

	out := mustOps(t, env, "dlq", "list", "--count", "2")
	if !strings.Contains(out, c) || !strings.Contains(out, b) || strings.Contains(out, a) {
		t.Errorf("list --count 2 should show the two newest:\n%s", out)
	}
	if !strings.Contains(out, "max deliveries") || !strings.Contains(out, "2 of 3 dead letters") {
		t.Errorf("list lacks reasons or totals:\n%s", out)
	}

	mustOps(t, env, "dlq", "replay", a)
	entries, err := rdb.XRange(ctx, keys.Stream(), "-", "+").Result()
	if err != nil || len(entries) != 1 {
		t.Fatalf("stream after replay: %v, %v", entries, err)
	}
	if got := entries[0].Values["data"]; got != "payload-2267:CSE:240" {
		t.Errorf("replayed data = %v", got)
	}
	if _, ok := entries[0].Values["reason"]; ok {
		t.Error("the replayed entry kept its dead-letter reason")
	}
	if _, err := ops(t, env, "dlq", "replay", a); !errors.Is(err, stream.ErrNotFound) {
		t.Errorf("replaying twice: err = %v, want ErrNotFound", err)
	}

	mustOps(t, env, "dlq", "discard", b)
	if n := rdb.XLen(ctx, keys.DeadLetter()).Val(); n != 1 {
		t.Errorf("dead letters after discard = %d, want 1", n)
	}
	if n := rdb.XLen(ctx, keys.Stream()).Val(); n != 1 {
		t.Errorf("discard touched the stream: length %d", n)
	}

	for range 3 {
		addDeadLetter(t, rdb, keys, "2267:BIO:100", "x")
	}
	if out := mustOps(t, env, "dlq", "replay", "--all"); !strings.Contains(out, "replayed 4 dead letters") {
		t.Errorf("replay --all printed %q", out)
	}
	if n := rdb.XLen(ctx, keys.Stream()).Val(); n != 5 {
		t.Errorf("stream length after replay --all = %d, want 5", n)
	}
	addDeadLetter(t, rdb, keys, "2267:BIO:100", "x")
	addDeadLetter(t, rdb, keys, "2267:BIO:100", "x")
	if out := mustOps(t, env, "dlq", "discard", "--all"); !strings.Contains(out, "discarded 2 dead letters") {
		t.Errorf("discard --all printed %q", out)
	}
	if n := rdb.XLen(ctx, keys.DeadLetter()).Val(); n != 0 {
		t.Errorf("dead letters after discard --all = %d", n)
	}
	if out := mustOps(t, env, "dlq", "list"); !strings.Contains(out, "0 of 0 dead letters") {
		t.Errorf("empty list printed %q", out)
	}
}

func TestBreakerShowAndReset(t *testing.T) {
	t.Parallel()
	rdb, keys, env := redisEnv(t)
	ctx := testenv.Context(t, time.Minute)
	b, err := breaker.New(rdb, breaker.Config{Name: "asu", Key: keys.Breaker("asu"), FailureThreshold: 1, OpenTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if out := mustOps(t, env, "breaker", "show"); !regexp.MustCompile(`state\s+closed`).MatchString(out) {
		t.Fatalf("fresh breaker:\n%s", out)
	}
	done, err := b.Allow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	done(breaker.Failure)
	if err := rdb.Set(ctx, keys.Backoff("asu"), "x", 10*time.Minute).Err(); err != nil {
		t.Fatal(err)
	}

	out := mustOps(t, env, "breaker", "show")
	for _, want := range []string{`state\s+open`, `failures\s+1`, `half-open in\s+\d+m`, `429 back-off\s+\d+m\d+s left`} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("open breaker: no %q in\n%s", want, out)
		}
	}

	mustOps(t, env, "breaker", "reset")
	s, err := b.State(ctx)
	if err != nil || s.State != breaker.Closed {
		t.Errorf("after reset: %+v, %v", s, err)
	}
	if n := rdb.Exists(ctx, keys.Backoff("asu")).Val(); n != 0 {
		t.Error("reset left the back-off")
	}
	if out := mustOps(t, env, "breaker", "show"); !regexp.MustCompile(`429 back-off\s+none`).MatchString(out) {
		t.Errorf("after reset:\n%s", out)
	}
}

func TestSweepNow(t *testing.T) {
	t.Parallel()
	const future, past = "2997", "2107" // Fall 2099, Fall 2010
	for _, term := range []string{future, past} {
		if _, ok := asu.TermEnds(term); !ok {
			t.Fatalf("term %s is not in ASU's scheme", term)
		}
	}
	db, dbURL := storetest.NewDB(t)
	rdb, keys, env := redisEnv(t)
	env["DATABASE_URL"] = dbURL
	ctx := testenv.Context(t, time.Minute)
	u := storetest.User(t, db, "s@example.com")
	storetest.Watch(t, db, u.ID, future, "10001", "CSE", "240")
	storetest.Watch(t, db, u.ID, future, "10002", "CSE", "240")
	storetest.Watch(t, db, u.ID, future, "20001", "MAT", "265")
	storetest.Watch(t, db, u.ID, past, "30001", "ENG", "101")
	// The workers' group exists and has read nothing yet.
	if err := rdb.XGroupCreateMkStream(ctx, keys.Stream(), keys.Group(), "0").Err(); err != nil {
		t.Fatal(err)
	}

	out := mustOps(t, env, "sweep", "now")
	if !strings.Contains(out, "enqueued 2 units (2 course requests, 0 walks planned) for 3 watched sections in 2 courses; "+
		"0 units left to checks still waiting; 1 courses of past terms skipped") {
		t.Errorf("sweep now printed %q", out)
	}
	entries, err := rdb.XRange(ctx, keys.Stream(), "-", "+").Result()
	if err != nil || len(entries) != 2 {
		t.Fatalf("stream: %d entries, %v; want 2", len(entries), err)
	}
	got := map[string][]string{}
	for _, e := range entries {
		if typ := e.Values["type"]; typ != check.MessageType {
			t.Errorf("entry type %v", typ)
		}
		data, _ := e.Values["data"].(string)
		c, err := check.Decode([]byte(data))
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if !strings.HasPrefix(c.Sweep, "manual-") {
			t.Errorf("sweep stamp %q", c.Sweep)
		}
		got[c.Course.String()] = c.ClassNbrs
	}
	if len(got) != 2 || len(got[catalog.CourseKey{Term: future, Subject: "CSE", CatalogNbr: "240"}.String()]) != 2 {
		t.Errorf("enqueued %v", got)
	}

	// Run again before any worker read them: the waiting checks serve this
	// sweep too, as they would serve the scheduler's.
	out = mustOps(t, env, "sweep", "now")
	if !strings.Contains(out, "enqueued 0 units") || !strings.Contains(out, "2 units left to checks still waiting") {
		t.Errorf("second sweep now printed %q", out)
	}
	if n := rdb.XLen(ctx, keys.Stream()).Val(); n != 2 {
		t.Errorf("stream holds %d entries after the second sweep, want 2", n)
	}
}

func TestQueue(t *testing.T) {
	t.Parallel()
	rdb, keys, env := redisEnv(t)
	ctx := testenv.Context(t, time.Minute)
	pub := stream.NewPublisher(rdb, keys.Stream(), stream.PublisherOptions{})
	if _, err := pub.Publish(ctx,
		stream.Message{Type: "t", Data: []byte("1")}, stream.Message{Type: "t", Data: []byte("2")},
		stream.Message{Type: "t", Data: []byte("3")}); err != nil {
		t.Fatal(err)
	}
	if err := rdb.XGroupCreate(ctx, keys.Stream(), keys.Group(), "0").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: keys.Group(), Consumer: "w1", Streams: []string{keys.Stream(), ">"}, Count: 1,
	}).Err(); err != nil {
		t.Fatal(err)
	}
	addDeadLetter(t, rdb, keys, "k", "r")

	out := mustOps(t, env, "queue")
	for _, want := range []string{`length\s+3\n`, `pending\s+1\n`, `lag\s+2\n`, `dead letters\s+1\n`, `delayed\s+0\n`, `oldest pending\s+\d+s\n`} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
}

func TestProbe(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	if out := mustOps(t, nil, "probe", srv.URL+"/readyz"); !strings.Contains(out, "200") {
		t.Errorf("probe printed %q", out)
	}
	if _, err := ops(t, nil, "probe", srv.URL+"/other"); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("probe of a 503: err = %v", err)
	}
	if _, err := ops(t, nil, "probe", "http://127.0.0.1:1/"); err == nil {
		t.Error("probe of a closed port succeeded")
	}
}

func TestVAPIDGenerate(t *testing.T) {
	t.Parallel()
	out := mustOps(t, nil, "vapid", "generate")
	m := regexp.MustCompile(`^VAPID_PUBLIC_KEY=(\S+)\nVAPID_PRIVATE_KEY=(\S+)\n$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("output = %q", out)
	}
	v := channel.VAPID{PublicKey: m[1], PrivateKey: m[2], Subject: "mailto:ops@example.org"}
	if err := v.Check(); err != nil {
		t.Errorf("generated keys: %v", err)
	}
	if again := mustOps(t, nil, "vapid", "generate"); again == out {
		t.Error("two runs printed the same keys")
	}
	if _, err := ops(t, nil, "vapid"); !errors.Is(err, errUsage) {
		t.Errorf("ops vapid: %v, want a usage error", err)
	}
}
