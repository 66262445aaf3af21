package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"slices"
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/catalog/asusim"
)

// detectResult is the distribution of (email accepted by SMTP − seat
// opened) over sections opened at random moments.
type detectResult struct {
	interval              time.Duration
	opened, mailed        int
	p50, p99, max         time.Duration
	workerRSS, schedRSS   int64 // idle, after the first cycle
	workerPeak, schedPeak int64
}

// benchDetect runs a scheduler and a worker on a catalog of full sections,
// opens seats in opened sections at uniformly random moments over window,
// and waits for each section's watcher to be mailed.
func (e *env) benchDetect(ctx context.Context, interval, window time.Duration, opened int) (detectResult, error) {
	res := detectResult{interval: interval, opened: opened}
	sc := asusim.Generate(benchTerm, max(opened/5, 1)*2, 5, 1.0, 7)
	ds := &dataset{courses: len(sc.Sections) / 5, sections: len(sc.Sections)}
	defer e.closeDataset(ds)
	// One section per user: the recipient names the section.
	prefix, err := e.seed(ctx, ds, sc, sc)
	if err != nil {
		return res, err
	}
	defer e.deletePrefix(prefix)
	w, err := e.start(ctx, "detect-worker-"+prefix[6:18], "worker", ds.workerEnv(e, prefix, "detect", 1000), "WORKER_OPS_ADDR")
	if err != nil {
		return res, err
	}
	defer w.stop()
	s, err := e.start(ctx, "detect-scheduler-"+prefix[6:18], "scheduler", map[string]string{
		"DATABASE_URL": ds.db.url, "REDIS_URL": e.redisURL, "REDIS_PREFIX": prefix,
		"LOG_LEVEL": "warn", "MIGRATE_ON_START": "false", "SCHEDULER_INTERVAL": interval.String(),
	}, "SCHEDULER_OPS_ADDR")
	if err != nil {
		return res, err
	}
	defer s.stop()

	// The first observation of a section raises no event: wait for it.
	err = poll(ctx, 2*interval+time.Minute, 50*time.Millisecond, func() (bool, error) {
		var n int
		err := ds.db.db.Pool().QueryRow(ctx, "SELECT count(*) FROM section_states").Scan(&n)
		return n == ds.sections, err
	})
	if err != nil {
		return res, fmt.Errorf("first cycle: %w", err)
	}
	res.workerRSS, _, _ = w.memory()
	res.schedRSS, _, _ = s.memory()

	delays, err := ds.openSeats(ctx, sc.Sections, opened, window, 2*interval+time.Minute, 42)
	if err != nil {
		return res, err
	}
	res.mailed = len(delays)
	_, res.workerPeak, _ = w.memory()
	_, res.schedPeak, _ = s.memory()
	if len(delays) == 0 {
		return res, errors.New("no alert arrived")
	}
	res.p50, res.p99, res.max = quantile(delays, 0.5), quantile(delays, 0.99), delays[len(delays)-1]
	return res, nil
}

// openSeats opens a seat in n of secs, picked at random (seeded), each at a
// uniformly random moment of window, then waits up to wait for their
// alerts (watcher bench<i+1> watches secs[i]). It returns the delays, seat
// opened → email accepted, sorted; an alert that never came is left out.
func (ds *dataset) openSeats(ctx context.Context, secs []asusim.SectionSpec, n int, window, wait time.Duration, seed int64) ([]time.Duration, error) {
	rng := rand.New(rand.NewSource(seed))
	type opening struct {
		at  time.Duration
		idx int
	}
	plan := make([]opening, n)
	for i, idx := range rng.Perm(len(secs))[:n] {
		plan[i] = opening{at: time.Duration(rng.Int63n(int64(window))), idx: idx}
	}
	slices.SortFunc(plan, func(a, b opening) int { return int(a.at - b.at) })
	openedAt := map[string]time.Time{} // recipient → when its seat opened
	start := time.Now()
	for _, o := range plan {
		t := time.NewTimer(time.Until(start.Add(o.at)))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		sec := secs[o.idx]
		if err := ds.sim.SetSeats(sec.Key(), sec.Capacity-1, sec.Capacity); err != nil {
			return nil, err
		}
		openedAt[fmt.Sprintf("bench%d@bench.test", o.idx+1)] = time.Now()
	}
	// Missing alerts show as fewer delays than openings.
	_ = poll(ctx, wait, 50*time.Millisecond, func() (bool, error) {
		_, got := ds.sink.received()
		return got >= n, nil
	})
	got, _ := ds.sink.received()
	var delays []time.Duration
	for to, at := range openedAt {
		if times := got[to]; len(times) > 0 {
			delays = append(delays, times[0].Sub(at))
		}
	}
	slices.Sort(delays)
	return delays, ctx.Err()
}

// quantile returns the q-quantile of sorted by the nearest-rank method.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
