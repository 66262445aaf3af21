package jobs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/pickmyclass/pickmyclass/pkg/check"
	"github.com/pickmyclass/pickmyclass/pkg/store"
	"github.com/pickmyclass/pickmyclass/pkg/store/storetest"
	"github.com/pickmyclass/pickmyclass/pkg/stream"
	"github.com/pickmyclass/pickmyclass/pkg/testenv"
)

func TestCycle(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 29, 5, 44, 59, 0, time.FixedZone("MST", -7*3600))
	if got, want := Cycle(at, 30*time.Minute), "2026-11-29T12:30:00Z"; got != want {
		t.Errorf("Cycle = %s, want %s", got, want)
	}
}

// One run enqueues one check per watched course of a current term; running
// again in the same cycle enqueues nothing; the next cycle enqueues again.
func TestEnqueuerRun(t *testing.T) {
	t.Parallel()
	db, rdb, keys, u := fixture(t)
	storetest.Watch(t, db, u.ID, "2267", "70412", "CSE", "240")
	storetest.Watch(t, db, u.ID, "2267", "70413", "CSE", "240")
	storetest.Watch(t, db, u.ID, "2267", "71020", "MAT", "343")
	storetest.Watch(t, db, u.ID, "2251", "10001", "ENG", "101") // Spring 2025: over

	now := time.Date(2026, 11, 29, 5, 0, 10, 0, time.UTC)
	e := newEnqueuer(db, rdb, keys, &now)
	ctx := context.Background()
	res, err := e.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Courses != 2 || res.Sections != 3 || res.Enqueued != 2 || res.Skipped != 1 {
		t.Fatalf("first run = %+v, want 2 courses, 3 sections, 2 enqueued, 1 past", res)
	}
	entries, err := rdb.XRange(ctx, keys.Stream(), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, en := range entries {
		c, err := check.Decode([]byte(en.Values["data"].(string)))
		if err != nil {
			t.Fatal(err)
		}
		if c.Cycle != "2026-11-29T05:00:00Z" {
			t.Errorf("cycle stamp %q", c.Cycle)
		}
		got[c.Course.String()] = c.ClassNbrs
	}
	if len(got) != 2 || len(got["2267:CSE:240"]) != 2 || len(got["2267:MAT:343"]) != 1 {
		t.Errorf("enqueued checks = %v", got)
	}

	now = now.Add(20 * time.Minute) // same cycle
	if res, err = e.Run(ctx); err != nil || res.Enqueued != 0 || !res.Incremental {
		t.Fatalf("second run in the cycle = %+v, %v; want an incremental run, nothing enqueued", res, err)
	}
	deliverAll(t, rdb, keys)
	now = now.Add(10 * time.Minute) // next cycle
	if res, err = e.Run(ctx); err != nil || res.Enqueued != 2 {
		t.Fatalf("run in the next cycle = %+v, %v; want 2 enqueued", res, err)
	}
	hb, err := rdb.HGetAll(ctx, keys.Heartbeat()).Result()
	if err != nil {
		t.Fatal(err)
	}
	if hb["cycle"] != "2026-11-29T05:30:00Z" || hb["enqueued"] != "2" {
		t.Errorf("heartbeat = %v", hb)
	}
}

// fixture gives a test its database, Redis prefix and one user.
func fixture(t *testing.T) (*store.DB, redis.UniversalClient, check.Keys, store.User) {
	t.Helper()
	db, _ := storetest.NewDB(t)
	rdb, prefix := testenv.Redis(t)
	return db, rdb, check.Keys{Prefix: prefix}, storetest.User(t, db, "ana@example.edu")
}

// deliverAll hands every entry of the checks stream to a consumer of the
// workers' group, as workers starting on them would.
func deliverAll(t *testing.T, rdb redis.UniversalClient, keys check.Keys) {
	t.Helper()
	ctx := context.Background()
	if err := rdb.XGroupCreateMkStream(ctx, keys.Stream(), keys.Group(), "0").Err(); err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
		t.Fatal(err)
	}
	if err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: keys.Group(), Consumer: "test", Streams: []string{keys.Stream(), ">"}, Count: 1000, Block: -1,
	}).Err(); err != nil && !errors.Is(err, redis.Nil) {
		t.Fatal(err)
	}
}

// newEnqueuer returns an Enqueuer on db and rdb whose clock is *now.
func newEnqueuer(db DueLister, rdb redis.UniversalClient, keys check.Keys, now *time.Time) *Enqueuer {
	return &Enqueuer{
		Due:       db,
		Publisher: stream.NewPublisher(rdb, keys.Stream(), stream.PublisherOptions{}),
		Redis:     rdb,
		Keys:      keys,
		Interval:  30 * time.Minute,
		Now:       func() time.Time { return *now },
		Log:       zerolog.Nop(),
		Metrics:   NewMetrics(prometheus.NewRegistry()),
	}
}

// A course whose check of an earlier cycle no worker has read yet is not
// enqueued again, unless the waiting check misses one of its watched
// sections; nor by a later run of the same cycle once the check is read.
func TestEnqueuerSkipsCoursesStillQueued(t *testing.T) {
	t.Parallel()
	db, rdb, keys, u := fixture(t)
	storetest.Watch(t, db, u.ID, "2267", "70412", "CSE", "240")
	storetest.Watch(t, db, u.ID, "2267", "71020", "MAT", "343")
	storetest.Watch(t, db, u.ID, "2267", "72000", "PHY", "121")
	now := time.Date(2026, 11, 29, 5, 0, 10, 0, time.UTC)
	e := newEnqueuer(db, rdb, keys, &now)
	ctx := context.Background()
	if res, err := e.Run(ctx); err != nil || res.Enqueued != 3 {
		t.Fatalf("first cycle = %+v, %v; want 3 enqueued", res, err)
	}
	// A worker has started on the first entry (CSE 240) only; MAT 343 gains
	// a section its waiting check lacks; PHY 121's check still covers it.
	if err := rdb.XGroupCreateMkStream(ctx, keys.Stream(), keys.Group(), "0").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: keys.Group(), Consumer: "test", Streams: []string{keys.Stream(), ">"}, Count: 1, Block: -1,
	}).Err(); err != nil {
		t.Fatal(err)
	}
	storetest.Watch(t, db, u.ID, "2267", "71021", "MAT", "343")

	now = now.Add(30 * time.Minute)
	res, err := e.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Enqueued != 2 || res.StillQueued != 1 || res.Courses != 3 {
		t.Fatalf("second cycle = %+v; want 2 enqueued (CSE 240, MAT 343), 1 still queued (PHY 121)", res)
	}
	if got := enqueuedCourses(t, rdb, keys, "2026-11-29T05:30:00Z"); !slices.Equal(got, []string{"2267:CSE:240 [70412]", "2267:MAT:343 [71020 71021]"}) {
		t.Errorf("second cycle's checks = %v", got)
	}
	// Once every check is read, a later run of the cycle still leaves
	// PHY 121 alone: its check began after the cycle did.
	deliverAll(t, rdb, keys)
	storetest.Watch(t, db, u.ID, "2267", "72001", "PHY", "121")
	now = now.Add(time.Minute)
	if res, err := e.Run(ctx); err != nil || res.Enqueued != 0 {
		t.Fatalf("later run of the second cycle = %+v, %v; want nothing enqueued", res, err)
	}
}

// enqueuedCourses lists the checks of cycle in the stream as "course [nbrs]".
func enqueuedCourses(t *testing.T, rdb redis.UniversalClient, keys check.Keys, cycle string) []string {
	t.Helper()
	entries, err := rdb.XRange(context.Background(), keys.Stream(), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, en := range entries {
		c, err := check.Decode([]byte(en.Values["data"].(string)))
		if err != nil {
			t.Fatal(err)
		}
		if c.Cycle == cycle {
			out = append(out, fmt.Sprintf("%s %v", c.Course, c.ClassNbrs))
		}
	}
	slices.Sort(out)
	return out
}

// After a complete run, later runs of the cycle look only at courses with
// new watches, enqueue those, and keep the complete run's heartbeat figures.
func TestEnqueuerIncrementalRuns(t *testing.T) {
	t.Parallel()
	db, rdb, keys, u := fixture(t)
	ctx := context.Background()
	storetest.Watch(t, db, u.ID, "2267", "70412", "CSE", "240")
	storetest.Watch(t, db, u.ID, "2267", "71020", "MAT", "343")
	// The watches are older than the margin for clock differences.
	if _, err := db.Pool().Exec(ctx, "UPDATE class_watches SET created_at = now() - interval '1 hour'"); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	e := newEnqueuer(db, rdb, keys, &now)
	if res, err := e.Run(ctx); err != nil || res.Incremental || res.Enqueued != 2 {
		t.Fatalf("first run = %+v, %v; want a complete run enqueuing 2", res, err)
	}
	if res, err := e.Run(ctx); err != nil || !res.Incremental || res.Courses != 0 {
		t.Fatalf("idle run = %+v, %v; want an incremental run over no course", res, err)
	}
	storetest.Watch(t, db, u.ID, "2267", "80001", "ENG", "102")
	res, err := e.Run(ctx)
	if err != nil || !res.Incremental || res.Courses != 1 || res.Enqueued != 1 {
		t.Fatalf("run after a new watch = %+v, %v; want 1 course looked at and enqueued", res, err)
	}
	hb, err := rdb.HGetAll(ctx, keys.Heartbeat()).Result()
	if err != nil {
		t.Fatal(err)
	}
	if hb["enqueued"] != "2" || hb["courses"] != "2" {
		t.Errorf("heartbeat = %v; want the complete run's figures", hb)
	}
}

// A check deferred while the university is unavailable counts as waiting:
// the next cycle does not enqueue its course again.
func TestEnqueuerSkipsCoursesDeferred(t *testing.T) {
	t.Parallel()
	db, rdb, keys, u := fixture(t)
	storetest.Watch(t, db, u.ID, "2267", "70412", "CSE", "240")
	now := time.Date(2026, 11, 29, 5, 0, 10, 0, time.UTC)
	e := newEnqueuer(db, rdb, keys, &now)
	ctx := context.Background()
	if res, err := e.Run(ctx); err != nil || res.Enqueued != 1 {
		t.Fatalf("first cycle = %+v, %v; want 1 enqueued", res, err)
	}
	// A worker reads the check and defers it, as the stream does: acked,
	// and parked in the delayed set with its fields.
	deliverAll(t, rdb, keys)
	entries, err := rdb.XRange(ctx, keys.Stream(), "-", "+").Result()
	if err != nil || len(entries) != 1 {
		t.Fatalf("stream: %v, %v", entries, err)
	}
	en := entries[0]
	if err := rdb.XAck(ctx, keys.Stream(), keys.Group(), en.ID).Err(); err != nil {
		t.Fatal(err)
	}
	park := redis.NewScript(`return redis.call('ZADD', KEYS[1], ARGV[1], cmsgpack.pack({'type', ARGV[2], 'data', ARGV[3], 'ts', ARGV[4], 'key', ARGV[5]}))`)
	if err := park.Run(ctx, rdb, []string{keys.Delayed()}, time.Now().Add(time.Hour).UnixMilli(),
		en.Values["type"], en.Values["data"], en.Values["ts"], en.Values["key"]).Err(); err != nil {
		t.Fatal(err)
	}

	now = now.Add(30 * time.Minute)
	res, err := e.Run(ctx)
	if err != nil || res.Enqueued != 0 || res.StillQueued != 1 {
		t.Fatalf("second cycle = %+v, %v; want nothing enqueued, 1 still queued", res, err)
	}
}
