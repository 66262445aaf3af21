package jobs

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/pickmyclass/pickmyclass/pkg/check"
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
	db, _ := storetest.NewDB(t)
	rdb, prefix := testenv.Redis(t)
	keys := check.Keys{Prefix: prefix}
	u := storetest.User(t, db, "ana@example.edu")
	storetest.Watch(t, db, u.ID, "2267", "70412", "CSE", "240")
	storetest.Watch(t, db, u.ID, "2267", "70413", "CSE", "240")
	storetest.Watch(t, db, u.ID, "2267", "71020", "MAT", "343")
	storetest.Watch(t, db, u.ID, "2251", "10001", "ENG", "101") // Spring 2025: over

	now := time.Date(2026, 11, 29, 5, 0, 10, 0, time.UTC)
	e := &Enqueuer{
		Due:       db,
		Publisher: stream.NewPublisher(rdb, keys.Stream(), stream.PublisherOptions{}),
		Redis:     rdb,
		Keys:      keys,
		Interval:  30 * time.Minute,
		Now:       func() time.Time { return now },
		Log:       zerolog.Nop(),
		Metrics:   NewMetrics(prometheus.NewRegistry()),
	}
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
	if res, err = e.Run(ctx); err != nil || res.Enqueued != 0 {
		t.Fatalf("second run in the cycle = %+v, %v; want nothing enqueued", res, err)
	}
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
