package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"slices"
	"strconv"
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asusim"
	"github.com/pickmyclass/pickmyclass/pkg/check"
)

// Detection at the university's scale: a whole term of sections, thousands
// of watched courses, the default politeness budgets. Time is scaled down by
// a factor k (budgets × k, intervals ÷ k) so a run takes minutes; every
// delay and period is reported unscaled (× k). Walks move k × 200 sections
// a second through one worker, so their factor is smaller; one request per
// course is cheap to serve, and its sweeps are long, so its factor is larger.
const (
	scaleRate        = 3.0   // ASU_RATE, requests/s (default)
	scaleSectionRate = 200.0 // ASU_SECTIONS_RATE, sections/s (default)
)

// scaleFactor is the time scaling of a plan mode's run.
func scaleFactor(mode string) int {
	if mode == "per-course" {
		return 20
	}
	return 5
}

// scaleSizes is the catalog and the watches of one run.
type scaleSizes struct {
	sections, subjects, courses int // catalog; courses = watched courses
	opened                      int
}

// scaleResult is one plan's run.
type scaleResult struct {
	plan                    string
	watchedCourses, watched int
	// Measured at the simulator, unscaled: average requests, sections and
	// body bytes a second over the whole measured run.
	requestRate, sectionRate, byteRate float64
	// reservedRate is the part of requestRate that looked up reserved
	// seats; flagged counts the watched sections flagged with them.
	reservedRate float64
	flagged      int
	// Planned per sweep (the scheduler's heartbeat).
	plannedRequests, plannedSections int
	period                           time.Duration // unscaled
	opened, mailed                   int
	p50, p99                         time.Duration // unscaled
}

// scaleWatches picks about want watched courses of sc, courses of big
// subjects more likely, and about half the sections of each.
func scaleWatches(sc asusim.Scenario, want int, seed int64) []asusim.SectionSpec {
	bySubject := map[string]int{}
	courses := map[catalog.CourseKey][]asusim.SectionSpec{}
	var keys []catalog.CourseKey
	for _, s := range sc.Sections {
		bySubject[s.Subject]++
		k := catalog.CourseKey{Term: s.Term, Subject: s.Subject, CatalogNbr: s.CatalogNbr}
		if courses[k] == nil {
			keys = append(keys, k)
		}
		courses[k] = append(courses[k], s)
	}
	// Weighted sampling without replacement (Efraimidis–Spirakis): the
	// largest u^(1/w) win, w the subject's size.
	rng := rand.New(rand.NewSource(seed))
	type scored struct {
		k catalog.CourseKey
		s float64
	}
	all := make([]scored, len(keys))
	for i, k := range keys {
		all[i] = scored{k, math.Pow(rng.Float64(), 1/float64(bySubject[k.Subject]))}
	}
	slices.SortFunc(all, func(a, b scored) int {
		switch {
		case a.s > b.s:
			return -1
		case a.s < b.s:
			return 1
		}
		return 0
	})
	var out []asusim.SectionSpec
	for _, c := range all[:min(want, len(all))] {
		secs := courses[c.k]
		out = append(out, secs[:(len(secs)+1)/2]...)
	}
	return out
}

// benchScale runs a scheduler and a worker in the given plan mode on the
// term sc, with watched sections watch, opens opened seats at random moments
// over one sweep period and waits for every alert.
func (e *env) benchScale(ctx context.Context, mode string, sc asusim.Scenario, watch []asusim.SectionSpec, opened int) (scaleResult, error) {
	res := scaleResult{plan: mode, watched: len(watch), opened: opened}
	seen := map[catalog.CourseKey]bool{}
	for _, s := range watch {
		seen[catalog.CourseKey{Term: s.Term, Subject: s.Subject, CatalogNbr: s.CatalogNbr}] = true
	}
	res.watchedCourses = len(seen)
	for _, s := range watch {
		if s.Reserved {
			res.flagged++
		}
	}
	ds := &dataset{courses: res.watchedCourses, sections: len(watch)}
	defer e.closeDataset(ds)
	var err error
	if ds.db, err = e.newDatabase(ctx); err != nil {
		return res, err
	}
	// One watched section per user: the recipient names the section.
	if _, err = seedWatches(ctx, ds.db, asusim.Scenario{Sections: watch}, 1); err != nil {
		return res, err
	}
	if ds.sim, err = startSim(sc); err != nil {
		return res, err
	}
	if ds.sink, err = startSink(); err != nil {
		return res, err
	}
	prefix := "bench:" + randomID() + ":"
	defer e.deletePrefix(prefix)
	factor := time.Duration(scaleFactor(mode))
	w, s, err := e.startScaled(ctx, "scale-", ds, prefix, mode, scaleFactor(mode))
	if err != nil {
		return res, err
	}
	defer w.stop()
	defer s.stop()

	keys := check.Keys{Prefix: prefix}
	heartbeat := func() (check.Heartbeat, error) { return e.heartbeat(ctx, keys) }
	// The first observation of a section raises no event: wait for all.
	err = poll(ctx, 10*time.Minute, 100*time.Millisecond, func() (bool, error) {
		var n int
		err := ds.db.db.Pool().QueryRow(ctx, "SELECT count(*) FROM section_states").Scan(&n)
		return n == len(watch), err
	})
	if err != nil {
		return res, fmt.Errorf("first sweep: %w", err)
	}
	// From the second sweep on, the planner knows the section counts.
	first, err := heartbeat()
	if err != nil {
		return res, err
	}
	err = poll(ctx, 10*time.Minute, 50*time.Millisecond, func() (bool, error) {
		hb, err := heartbeat()
		return err == nil && hb.Sweep != first.Sweep, err
	})
	if err != nil {
		return res, fmt.Errorf("second sweep: %w", err)
	}
	hb, err := heartbeat()
	if err != nil {
		return res, err
	}
	window := hb.Period
	startState, measureFrom := ds.sim.State(false), time.Now()

	delays, err := ds.openSeats(ctx, watch, opened, window, 3*window+time.Minute, 11)
	if err != nil {
		return res, err
	}
	for i := range delays {
		delays[i] *= factor
	}
	res.mailed = len(delays)
	if len(delays) == 0 {
		return res, errors.New("no alert arrived")
	}
	end, err := heartbeat()
	if err != nil {
		return res, err
	}
	endState := ds.sim.State(false)
	// Rates over the measured run rather than totals per sweep: the run
	// does not start or end on a sweep's boundary.
	elapsed := time.Since(measureFrom).Seconds() * float64(factor)
	res.requestRate = float64(endState.Requests-startState.Requests) / elapsed
	res.sectionRate = float64(endState.SectionsServed-startState.SectionsServed) / elapsed
	res.byteRate = float64(endState.BytesServed-startState.BytesServed) / elapsed
	reserved := asusim.BasePath + "/reservedseatsadditionalinfo"
	res.reservedRate = float64(endState.RequestsByPath[reserved]-startState.RequestsByPath[reserved]) / elapsed
	res.plannedRequests, res.plannedSections = end.Requests, end.SectionsFetched
	res.period = end.Period * factor
	res.p50, res.p99 = quantile(delays, 0.5), quantile(delays, 0.99)
	return res, nil
}

// startScaled starts a worker and a scheduler (names prefixed with name) on
// ds under the Redis key prefix, in plan mode, with the default politeness
// budgets × factor and the default intervals ÷ factor. The caller stops
// both.
func (e *env) startScaled(ctx context.Context, name string, ds *dataset, prefix, mode string, factor int) (w, s *process, err error) {
	k := float64(factor)
	rate, sections := strconv.FormatFloat(scaleRate*k, 'f', -1, 64), strconv.FormatFloat(scaleSectionRate*k, 'f', -1, 64)
	wenv := ds.workerEnv(e, prefix, "scale", scaleRate*k)
	wenv["ASU_SECTIONS_RATE"] = sections
	if w, err = e.start(ctx, name+"worker-"+mode, "worker", wenv, "WORKER_OPS_ADDR"); err != nil {
		return nil, nil, err
	}
	f := time.Duration(factor)
	s, err = e.start(ctx, name+"scheduler-"+mode, "scheduler", map[string]string{
		"DATABASE_URL": ds.db.url, "REDIS_URL": e.redisURL, "REDIS_PREFIX": prefix,
		"LOG_LEVEL": "info", "MIGRATE_ON_START": "false",
		"SCHEDULER_INTERVAL":     (30 * time.Minute / f).String(),
		"SCHEDULER_MIN_INTERVAL": (time.Minute / f).String(),
		"SCHEDULER_TICK":         "100ms",
		"SCHEDULER_PLAN":         mode,
		"ASU_RATE":               rate, "ASU_SECTIONS_RATE": sections,
	}, "SCHEDULER_OPS_ADDR")
	if err != nil {
		w.stop()
		return nil, nil, err
	}
	return w, s, nil
}

// heartbeat reads the scheduler's record of its last enqueue run.
func (e *env) heartbeat(ctx context.Context, keys check.Keys) (check.Heartbeat, error) {
	m, err := e.rdb.HGetAll(ctx, keys.Heartbeat()).Result()
	if err != nil {
		return check.Heartbeat{}, err
	}
	return check.ParseHeartbeat(m)
}

// scales measures detection at the university's scale, walks against one
// request per course, in the same run.
func (e *env) scales(ctx context.Context, rep *report, sz scaleSizes, logf logFunc) {
	const area = "detection at ASU scale"
	sc := asusim.GenerateTerm(benchTerm, sz.sections, sz.subjects, 5)
	watch := scaleWatches(sc, sz.courses, 5)
	results := map[string]scaleResult{}
	var label string
	for _, mode := range []string{"auto", "per-course"} {
		r, err := e.benchScale(ctx, mode, sc, watch, sz.opened)
		label = fmt.Sprintf("%s sections in %d subjects, %s watched courses (%s sections), ASU_RATE=%g, ASU_SECTIONS_RATE=%g",
			num(len(sc.Sections)), sz.subjects, num(r.watchedCourses), num(r.watched), scaleRate, scaleSectionRate)
		logf("%s: SCHEDULER_PLAN=%s", area, mode)
		if err != nil {
			rep.failed(area, label+", SCHEDULER_PLAN="+mode, err)
			continue
		}
		results[mode] = r
		l := fmt.Sprintf("%s, SCHEDULER_PLAN=%s (time ÷%d)", label, mode, scaleFactor(mode))
		p := r.period.Seconds()
		rep.add(area, l, "requests per sweep (measured; planned)", fmt.Sprintf("%.0f; %d", r.requestRate*p, r.plannedRequests))
		rep.add(area, l, "sections fetched per sweep (measured; planned)", fmt.Sprintf("%.0f (%.1f MB of JSON); %d", r.sectionRate*p, r.byteRate*p/1e6, r.plannedSections))
		rep.add(area, l, "reserved seat lookups per sweep (measured)", fmt.Sprintf("%.0f of %.0f requests, %d of %d watched sections flagged (%.0f%%)",
			r.reservedRate*p, r.requestRate*p, r.flagged, r.watched, 100*float64(r.flagged)/float64(max(r.watched, 1))))
		rep.add(area, l, "requests per sweep without reserved lookups", fmt.Sprintf("%.0f", (r.requestRate-r.reservedRate)*p))
		rep.add(area, l, "sweep period", secs(r.period))
		rep.add(area, l, "requests per second (average)", fmt.Sprintf("%.2f (ASU_RATE=%g)", r.requestRate, scaleRate))
		rep.addTarget(area, l, "sections fetched per second (average)", fmt.Sprintf("%.0f", r.sectionRate), fmt.Sprintf("≤ %g", scaleSectionRate), r.sectionRate <= scaleSectionRate)
		rep.add(area, l, "transfer from the university", fmt.Sprintf("%.2f MB/s average, %.0f GB/day", r.byteRate/1e6, r.byteRate*86400/1e9))
		rep.addTarget(area, l, "alerts received", fmt.Sprintf("%d of %d", r.mailed, r.opened), "all", r.mailed == r.opened)
		if mode == "auto" {
			rep.addTarget(area, l, "delay p50 (seat opened → email accepted)", secs(r.p50), "≤ 90 s", r.p50 <= 90*time.Second)
			rep.addTarget(area, l, "delay p99", secs(r.p99), "≤ 240 s", r.p99 <= 4*time.Minute)
		} else {
			rep.add(area, l, "delay p50 (seat opened → email accepted)", secs(r.p50))
			rep.add(area, l, "delay p99", secs(r.p99))
		}
	}
	a, okA := results["auto"]
	p, okP := results["per-course"]
	if okA && okP && a.p50 > 0 && p.requestRate > 0 {
		x := p.p50.Seconds() / a.p50.Seconds()
		rep.addTarget(area, label, "p50 delay, per-course ÷ planned", fmt.Sprintf("%.1f×", x), "≥ 10×", x >= 10)
		r := a.requestRate * a.period.Seconds() / (p.requestRate * p.period.Seconds())
		rep.addTarget(area, label, "requests per sweep, planned ÷ per-course", fmt.Sprintf("%.2f", r), "≤ 0.15", r <= 0.15)
	}
}
