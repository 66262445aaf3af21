package sweep

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/check"
	"github.com/pickmyclass/pickmyclass/pkg/counts"
	"github.com/pickmyclass/pickmyclass/pkg/plan"
	"github.com/pickmyclass/pickmyclass/pkg/store"
	"github.com/pickmyclass/pickmyclass/pkg/stream"
	"github.com/pickmyclass/pickmyclass/pkg/testenv"
)

// due is a fixed list of watched courses.
type due []store.DueCourse

func (d *due) DueCourses(context.Context) ([]store.DueCourse, error) { return *d, nil }

func course(term, subject, nbr string, classNbrs ...string) store.DueCourse {
	return store.DueCourse{Course: catalog.CourseKey{Term: term, Subject: subject, CatalogNbr: nbr}, ClassNbrs: classNbrs, Watchers: 1}
}

type fixture struct {
	rdb  redis.UniversalClient
	keys check.Keys
	now  time.Time
	due  due
	s    *Sweeper
}

// newFixture returns a sweeper on a fresh Redis prefix whose clock is
// f.now, planning at 3 requests and 200 sections a second with a one-minute
// floor.
func newFixture(t *testing.T, mode plan.Mode) *fixture {
	t.Helper()
	rdb, prefix := testenv.Redis(t)
	f := &fixture{rdb: rdb, keys: check.Keys{Prefix: prefix}, now: time.Date(2026, 11, 29, 5, 0, 10, 0, time.UTC)}
	f.s = &Sweeper{
		Due:         &f.due,
		Counts:      counts.New(rdb, f.keys.Counts),
		Publisher:   stream.NewPublisher(rdb, f.keys.Stream(), stream.PublisherOptions{}),
		Redis:       rdb,
		Keys:        f.keys,
		Budget:      plan.Budget{RequestsPerSecond: 3, SectionsPerSecond: 200, PageSize: 200, Floor: time.Minute},
		Mode:        mode,
		MaxInterval: 30 * time.Minute,
		Now:         func() time.Time { return f.now },
		Log:         zerolog.Nop(),
		Metrics:     NewMetrics(prometheus.NewRegistry()),
	}
	return f
}

// entries decodes the stream: course checks by course, walks by walk key,
// each with its sweep.
func (f *fixture) entries(t *testing.T) (courses, walks map[string][]string) {
	t.Helper()
	all, err := f.rdb.XRange(context.Background(), f.keys.Stream(), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	courses, walks = map[string][]string{}, map[string][]string{}
	for _, en := range all {
		data := []byte(en.Values["data"].(string))
		switch typ := en.Values["type"]; typ {
		case check.MessageType:
			c, err := check.Decode(data)
			if err != nil {
				t.Fatal(err)
			}
			courses[c.Course.String()] = append(courses[c.Course.String()], c.Sweep)
		case check.WalkMessageType:
			w, err := check.DecodeWalk(data)
			if err != nil {
				t.Fatal(err)
			}
			walks[w.Scan.String()] = append(walks[w.Scan.String()], w.Sweep)
		default:
			t.Fatalf("entry of type %v", typ)
		}
	}
	return courses, walks
}

// deliverAll hands every entry of the stream to a consumer of the workers'
// group, as workers starting on them would.
func (f *fixture) deliverAll(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	if err := f.rdb.XGroupCreateMkStream(ctx, f.keys.Stream(), f.keys.Group(), "0").Err(); err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
		t.Fatal(err)
	}
	if err := f.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: f.keys.Group(), Consumer: "test", Streams: []string{f.keys.Stream(), ">"}, Count: 1000, Block: -1,
	}).Err(); err != nil && !errors.Is(err, redis.Nil) {
		t.Fatal(err)
	}
}

// A sweep enqueues each watched course of a current term once; running
// again within it enqueues nothing; the next sweep starts when the period
// is over, and the heartbeat tells which.
func TestSweepsFollowEachOther(t *testing.T) {
	t.Parallel()
	f := newFixture(t, plan.PerCourse)
	f.due = due{
		course("2267", "CSE", "240", "70412", "70413"),
		course("2267", "MAT", "343", "71020"),
		course("2251", "ENG", "101", "10001"), // Spring 2025: over
	}
	ctx := context.Background()
	res, err := f.s.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Sweep != "1" || !res.Started || res.Courses != 2 || res.Sections != 3 || res.Enqueued != 2 || res.Skipped != 1 {
		t.Fatalf("first run = %+v; want sweep 1 started, 2 courses, 3 sections, 2 enqueued, 1 past", res)
	}
	if res.Period != time.Minute {
		t.Fatalf("period %s; want the one-minute floor for 2 requests", res.Period)
	}
	f.now = f.now.Add(30 * time.Second)
	if res, err := f.s.Run(ctx); err != nil || res.Sweep != "" || res.Enqueued != 0 {
		t.Fatalf("run within the sweep = %+v, %v; want nothing to do", res, err)
	}
	f.deliverAll(t)
	f.now = f.now.Add(31 * time.Second)
	if res, err := f.s.Run(ctx); err != nil || res.Sweep != "2" || !res.Started || res.Enqueued != 2 {
		t.Fatalf("run after the period = %+v, %v; want sweep 2 with 2 enqueued", res, err)
	}
	courses, _ := f.entries(t)
	if fmt.Sprint(courses) != "map[2267:CSE:240:[1 2] 2267:MAT:343:[1 2]]" {
		t.Fatalf("entries per course = %v; want each course once in sweeps 1 and 2", courses)
	}
	hb, err := f.rdb.HGetAll(ctx, f.keys.Heartbeat()).Result()
	if err != nil {
		t.Fatal(err)
	}
	got, err := check.ParseHeartbeat(hb)
	if err != nil {
		t.Fatal(err)
	}
	if got.Sweep != "2" || got.Enqueued != 2 || got.Requests != 2 || got.Period != time.Minute {
		t.Fatalf("heartbeat = %+v; want sweep 2, 2 enqueued, 2 requests, 1m period", got)
	}
}

// A leader that died after beginning a sweep but before finishing its
// enqueue leaves it to the next run, which completes it without doubling
// what was already published.
func TestHalfDoneSweepIsCompleted(t *testing.T) {
	t.Parallel()
	f := newFixture(t, plan.PerCourse)
	f.due = due{course("2267", "CSE", "240", "70412"), course("2267", "MAT", "343", "71020")}
	ctx := context.Background()
	// The dying leader began sweep 1 and published CSE 240 only.
	if _, _, err := f.s.begin(ctx, f.now, time.Minute); err != nil {
		t.Fatal(err)
	}
	msg, err := check.Message(check.Check{Course: f.due[0].Course, ClassNbrs: f.due[0].ClassNbrs, Sweep: "1", EnqueuedAt: f.now})
	if err != nil {
		t.Fatal(err)
	}
	pub := stream.NewPublisher(f.rdb, f.keys.Stream(), stream.PublisherOptions{})
	if _, err := pub.PublishOnce(ctx, f.keys.SweepDedup("1"), time.Hour, msg); err != nil {
		t.Fatal(err)
	}
	f.now = f.now.Add(5 * time.Second)
	res, err := f.s.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Sweep != "1" || res.Started || res.Enqueued != 1 {
		t.Fatalf("run after the crash = %+v; want sweep 1 completed with the 1 missing course", res)
	}
	courses, _ := f.entries(t)
	if fmt.Sprint(courses) != "map[2267:CSE:240:[1] 2267:MAT:343:[1]]" {
		t.Fatalf("entries = %v; want each course once in sweep 1", courses)
	}
	if res, err := f.s.Run(ctx); err != nil || res.Sweep != "" {
		t.Fatalf("run after completion = %+v, %v; want nothing to do", res, err)
	}
}

// A half-done sweep whose time ran out before any scheduler ran again is
// started again under its own id, not skipped: ids stay one after another
// and what it published is not published twice.
func TestHalfDoneSweepPastItsTimeIsResumed(t *testing.T) {
	t.Parallel()
	f := newFixture(t, plan.PerCourse)
	f.due = due{course("2267", "CSE", "240", "70412"), course("2267", "MAT", "343", "71020")}
	ctx := context.Background()
	if _, _, err := f.s.begin(ctx, f.now, time.Minute); err != nil {
		t.Fatal(err)
	}
	msg, err := check.Message(check.Check{Course: f.due[0].Course, ClassNbrs: f.due[0].ClassNbrs, Sweep: "1", EnqueuedAt: f.now})
	if err != nil {
		t.Fatal(err)
	}
	pub := stream.NewPublisher(f.rdb, f.keys.Stream(), stream.PublisherOptions{})
	if _, err := pub.PublishOnce(ctx, f.keys.SweepDedup("1"), time.Hour, msg); err != nil {
		t.Fatal(err)
	}
	f.now = f.now.Add(2 * time.Minute)
	res, err := f.s.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Sweep != "1" || !res.Started || res.Enqueued != 1 {
		t.Fatalf("run long after the crash = %+v; want sweep 1 started again with the 1 missing course", res)
	}
	f.now = f.now.Add(2 * time.Minute)
	// No worker read sweep 1's checks, so sweep 2 counts them as still queued.
	if res, err := f.s.Run(ctx); err != nil || res.Sweep != "2" || !res.Started || res.Enqueued+res.StillQueued != 2 {
		t.Fatalf("next run = %+v, %v; want sweep 2 started over both courses", res, err)
	}
}

// A unit whose sections are all covered by a check still waiting in the
// stream (unread, or deferred while the university is unavailable) is not
// enqueued again; a unit with a newly watched section is.
func TestWaitingChecksAreNotDoubled(t *testing.T) {
	t.Parallel()
	f := newFixture(t, plan.PerCourse)
	f.due = due{
		course("2267", "CSE", "240", "70412"),
		course("2267", "MAT", "343", "71020"),
		course("2267", "PHY", "121", "72000"),
	}
	ctx := context.Background()
	if res, err := f.s.Run(ctx); err != nil || res.Enqueued != 3 {
		t.Fatalf("first sweep = %+v, %v; want 3 enqueued", res, err)
	}
	// A worker reads only the first entry (CSE 240); PHY 121 gets a new
	// watched section. The others stay unread.
	if err := f.rdb.XGroupCreateMkStream(ctx, f.keys.Stream(), f.keys.Group(), "0").Err(); err != nil {
		t.Fatal(err)
	}
	if err := f.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: f.keys.Group(), Consumer: "w", Streams: []string{f.keys.Stream(), ">"}, Count: 1, Block: -1}).Err(); err != nil {
		t.Fatal(err)
	}
	f.due[2] = course("2267", "PHY", "121", "72000", "72001")
	f.now = f.now.Add(61 * time.Second)
	res, err := f.s.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Sweep != "2" || res.Enqueued != 2 || res.StillQueued != 1 {
		t.Fatalf("second sweep = %+v; want CSE 240 and PHY 121 enqueued, MAT 343 still queued", res)
	}
	courses, _ := f.entries(t)
	if fmt.Sprint(courses["2267:MAT:343"]) != "[1]" || fmt.Sprint(courses["2267:PHY:121"]) != "[1 2]" || fmt.Sprint(courses["2267:CSE:240"]) != "[1 2]" {
		t.Fatalf("entries = %v", courses)
	}
	if got := testutil.ToFloat64(f.s.Metrics.stillQueued); got != 1 {
		t.Fatalf("still-queued metric %v; want 1", got)
	}
}

// With the section counts known, many watched courses of one subject are
// served by one walk of the subject, and a term watched nearly everywhere
// by one walk of the term.
func TestSweepPlansWalks(t *testing.T) {
	t.Parallel()
	f := newFixture(t, plan.Auto)
	ctx := context.Background()
	// A CSE walk of 150 sections (one page) told us its size; MAT is one
	// watched course, fetched on its own.
	cse := catalog.Scan{Key: catalog.ScanKey{Term: "2267", Subject: "CSE"}, Total: 150, Pages: 1}
	for i := range 150 {
		cse.Sections = append(cse.Sections, catalog.Section{Term: "2267", Subject: "CSE", CatalogNbr: fmt.Sprint(100 + i/3), ClassNbr: fmt.Sprint(10000 + i)})
	}
	if err := counts.New(f.rdb, f.keys.Counts).RecordScan(ctx, cse); err != nil {
		t.Fatal(err)
	}
	for i := range 12 {
		f.due = append(f.due, course("2267", "CSE", fmt.Sprint(100+i), fmt.Sprint(10000+3*i)))
	}
	f.due = append(f.due, course("2267", "MAT", "343", "71020"))
	res, err := f.s.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	courses, walks := f.entries(t)
	if fmt.Sprint(walks) != "map[2267:CSE:*:[1]]" || len(courses) != 1 || courses["2267:MAT:343"] == nil {
		t.Fatalf("entries: courses %v, walks %v; want one CSE walk and the MAT course", courses, walks)
	}
	if res.Plan.Requests != 2 || res.Sections != 13 {
		t.Fatalf("plan: %d requests for %d watched sections; want 2 for 13", res.Plan.Requests, res.Sections)
	}
	all, err := f.rdb.XRange(ctx, f.keys.Stream(), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range all {
		if en.Values["type"] != check.WalkMessageType {
			continue
		}
		w, err := check.DecodeWalk([]byte(en.Values["data"].(string)))
		if err != nil {
			t.Fatal(err)
		}
		if len(w.Courses) != 12 || w.ClassNbrs() != 12 {
			t.Fatalf("the CSE walk carries %d courses, %d sections; want 12 and 12", len(w.Courses), w.ClassNbrs())
		}
	}
}

// A plan the budgets cannot serve within SCHEDULER_INTERVAL is counted, and
// the sweep lasts as long as the budgets need rather than the interval.
func TestSweepOverIntervalIsCounted(t *testing.T) {
	t.Parallel()
	f := newFixture(t, plan.PerCourse)
	f.s.MaxInterval = 2 * time.Minute
	for i := range 600 { // 600 requests at 3/s: 200 s
		f.due = append(f.due, course("2267", "CSE", fmt.Sprint(1000+i), fmt.Sprint(20000+i)))
	}
	res, err := f.s.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Plan.Duration != 200*time.Second || res.Period != 220*time.Second {
		t.Fatalf("plan lasts %s, period %s; want 200s and 220s", res.Plan.Duration, res.Period)
	}
	if got := testutil.ToFloat64(f.s.Metrics.overBudget); got != 1 {
		t.Fatalf("over-interval metric %v; want 1", got)
	}
}

// RunNow enqueues under its own stamp, beside the scheduler's sweeps, and
// does not double checks still waiting.
func TestRunNow(t *testing.T) {
	t.Parallel()
	f := newFixture(t, plan.PerCourse)
	f.due = due{course("2267", "CSE", "240", "70412"), course("2267", "MAT", "343", "71020")}
	ctx := context.Background()
	if res, err := f.s.RunNow(ctx, "manual-1"); err != nil || res.Enqueued != 2 || res.Sweep != "manual-1" {
		t.Fatalf("RunNow = %+v, %v; want 2 enqueued under manual-1", res, err)
	}
	if res, err := f.s.RunNow(ctx, "manual-2"); err != nil || res.Enqueued != 0 || res.StillQueued != 2 {
		t.Fatalf("second RunNow = %+v, %v; want nothing enqueued, 2 still queued", res, err)
	}
}
