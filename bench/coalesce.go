package main

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"math/rand"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asusim"
	"github.com/pickmyclass/pickmyclass/pkg/check"
	"github.com/pickmyclass/pickmyclass/pkg/store"
	"github.com/pickmyclass/pickmyclass/pkg/stream"
)

// Course watches share the checks of section watches: the scheduler plans
// one check per watched course (store.DueCourses groups every watch of a
// course), and a course with a course or linked watch is checked whole by
// the same request or walk. This scenario measures it at the simulator with
// the real scheduler and worker, on one generated term, in three phases:
// (a) courses watched by section only, (b) the same courses with a course
// watch each, (c) course watches on courses not watched before.

// coalesceSizes is the term and the watches of the course-watch run.
type coalesceSizes struct {
	sections, subjects int // the generated term
	courses            int // courses watched by section, then by course too
	newCourses         int // courses given a course watch in phase (c)
}

const (
	// coalesceSweeps is how many sweeps each phase measures.
	coalesceSweeps = 2
	// coalesceSettle is how many sweeps a phase waits at most for the plan
	// to stop changing: the first plans price what no observation has
	// counted yet.
	coalesceSettle = 4
	// coalesceMode is the plan mode measured: the default one.
	coalesceMode = "auto"
	// coalesceFactor scales time as scaleFactor does (budgets × it,
	// intervals ÷ it): a sweep of this run needs a few seconds of the
	// budgets at the default politeness and lasts the floor, 1 minute.
	coalesceFactor = 10
)

// sweepSample is the simulator's and the worker's counters at a moment when
// a sweep's checks were all done and the next sweep had not begun.
type sweepSample struct {
	id      int
	hb      check.Heartbeat
	sim     asusim.State
	applied float64 // the worker's sections stored so far
}

// coalescePhase is what the measured sweeps of one phase cost, per sweep.
type coalescePhase struct {
	perSweep []float64 // upstream requests of each measured sweep
	// Measured at the simulator: every request, the sections served, the
	// scroll pages of walks, and the first pages by what they searched.
	requests, sections, scrollPages float64
	courseSearches, subjectWalks    float64
	termWalks, reserved             float64
	// applied is the sections the worker stored; rows counts section_states
	// at the end of the phase.
	applied float64
	rows    int
	planned check.Heartbeat // the last measured sweep's plan
	// settled says the plan did not change between the last sweep before
	// the measured ones and the first measured one.
	settled bool
	// from and to are the sweeps at whose idle moments the measure began
	// and ended.
	from, to int
}

// coalesceResult is the three phases of one run.
type coalesceResult struct {
	watchedCourses, sectionWatches int
	// courseSections counts every section of the watched courses: what
	// the worker must store once they are watched whole.
	courseSections int
	courseWatches  int // added in (b)
	filtered       int // of those, with a filter
	newCourses     int // course watches added in (c)
	a, b, c        coalescePhase
}

// coalesceRun is a running scheduler and worker on a dataset.
type coalesceRun struct {
	e      *env
	ds     *dataset
	keys   check.Keys
	worker *process
}

// benchCoalesce seeds section watches on watch, runs a scheduler and a
// worker in the default plan mode, and measures sweeps before and after
// course watches are added, first on the watched courses, then on
// newCourses others.
func (e *env) benchCoalesce(ctx context.Context, sc asusim.Scenario, watch []asusim.SectionSpec, newCourses int, logf logFunc) (coalesceResult, error) {
	res := coalesceResult{sectionWatches: len(watch)}
	watched := map[catalog.CourseKey]bool{}
	var courses []catalog.CourseKey
	for _, s := range watch {
		k := catalog.CourseKey{Term: s.Term, Subject: s.Subject, CatalogNbr: s.CatalogNbr}
		if !watched[k] {
			watched[k] = true
			courses = append(courses, k)
		}
	}
	res.watchedCourses = len(courses)
	var others []catalog.CourseKey
	for _, s := range sc.Sections {
		k := catalog.CourseKey{Term: s.Term, Subject: s.Subject, CatalogNbr: s.CatalogNbr}
		switch {
		case watched[k]:
			res.courseSections++
		case len(others) == 0 || others[len(others)-1] != k:
			others = append(others, k) // sections come in catalog order
		}
	}
	rand.New(rand.NewSource(13)).Shuffle(len(others), func(i, j int) { others[i], others[j] = others[j], others[i] })
	others = others[:min(newCourses, len(others))]
	res.newCourses = len(others)

	ds := &dataset{courses: len(courses), sections: len(watch)}
	defer e.closeDataset(ds)
	var err error
	if ds.db, err = e.newDatabase(ctx); err != nil {
		return res, err
	}
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
	w, s, err := e.startScaled(ctx, "coalesce-", ds, prefix, coalesceMode, coalesceFactor)
	if err != nil {
		return res, err
	}
	defer w.stop()
	defer s.stop()
	r := &coalesceRun{e: e, ds: ds, keys: check.Keys{Prefix: prefix}, worker: w}

	if res.a, err = r.measure(ctx, 0); err != nil {
		return res, fmt.Errorf("(a) section watches only: %w", err)
	}
	logf("course watches: (a) %.0f requests per sweep, sweeps %d–%d", res.a.requests, res.a.from+1, res.a.to)

	// (b) One course watch per watched course, by users of their own; every
	// other one has a filter, which narrows its alerts but not its check.
	filters := []catalog.Filter{{Mode: catalog.ModeInPerson}, {Days: []string{"M", "W", "F"}, After: "09:00"}}
	nws := make([]store.NewWatch, len(courses))
	for i, k := range courses {
		nws[i] = store.NewWatch{Kind: catalog.WatchCourse, Term: k.Term, Subject: k.Subject, CatalogNbr: k.CatalogNbr}
		if i%2 == 1 {
			nws[i].Filter = filters[(i/2)%len(filters)]
			res.filtered++
		}
	}
	res.courseWatches = len(nws)
	after, err := r.addCourseWatches(ctx, "course", nws)
	if err != nil {
		return res, err
	}
	if res.b, err = r.measure(ctx, after); err != nil {
		return res, fmt.Errorf("(b) course watches added: %w", err)
	}
	logf("course watches: (b) %.0f requests per sweep, sweeps %d–%d", res.b.requests, res.b.from+1, res.b.to)

	// (c) Course watches on courses nobody watched: these cost requests.
	nws = make([]store.NewWatch, len(others))
	for i, k := range others {
		nws[i] = store.NewWatch{Kind: catalog.WatchCourse, Term: k.Term, Subject: k.Subject, CatalogNbr: k.CatalogNbr}
	}
	if after, err = r.addCourseWatches(ctx, "newcourse", nws); err != nil {
		return res, err
	}
	if res.c, err = r.measure(ctx, after); err != nil {
		return res, fmt.Errorf("(c) new courses: %w", err)
	}
	logf("course watches: (c) %.0f requests per sweep, sweeps %d–%d", res.c.requests, res.c.from+1, res.c.to)
	return res, nil
}

// addCourseWatches creates one user per watch, each with its watch, as the
// API does, and returns the current sweep: the sweeps after it plan them.
func (r *coalesceRun) addCourseWatches(ctx context.Context, tag string, nws []store.NewWatch) (int, error) {
	ids, err := seedUsers(ctx, r.ds.db, tag, len(nws))
	if err != nil {
		return 0, err
	}
	for i, nw := range nws {
		if _, err := r.ds.db.db.CreateWatch(ctx, ids[i], nw, store.DefaultWatchLimit); err != nil {
			return 0, err
		}
	}
	id, err := r.e.rdb.HGet(ctx, r.keys.Sweep(), "id").Result()
	if err != nil {
		return 0, fmt.Errorf("read sweep: %w", err)
	}
	return strconv.Atoi(id)
}

// measure waits for the first sweep after sweep after, then for the plan to
// settle (at most coalesceSettle sweeps), and measures coalesceSweeps
// sweeps between their idle moments.
func (r *coalesceRun) measure(ctx context.Context, after int) (coalescePhase, error) {
	var ph coalescePhase
	first, err := r.sample(ctx, after)
	if err != nil {
		return ph, err
	}
	samples := []sweepSample{first}
	for waited := 0; len(samples) <= coalesceSweeps; {
		s, err := r.sample(ctx, samples[len(samples)-1].id)
		if err != nil {
			return ph, err
		}
		if len(samples) == 1 && !samePlan(s.hb, samples[0].hb) && waited < coalesceSettle {
			samples[0] = s
			waited++
			continue
		}
		samples = append(samples, s)
	}
	ph.settled = samePlan(samples[0].hb, samples[1].hb)
	for i := 1; i < len(samples); i++ {
		n := float64(samples[i].id - samples[i-1].id)
		ph.perSweep = append(ph.perSweep, float64(samples[i].sim.Requests-samples[i-1].sim.Requests)/n)
	}
	a, b := samples[0], samples[len(samples)-1]
	n := float64(b.id - a.id)
	per := func(x, y int64) float64 { return float64(y-x) / n }
	ph.requests = per(a.sim.Requests, b.sim.Requests)
	ph.sections = per(a.sim.SectionsServed, b.sim.SectionsServed)
	ph.scrollPages = per(a.sim.ScrollPages, b.sim.ScrollPages)
	reserved := asusim.BasePath + "/reservedseatsadditionalinfo"
	ph.reserved = per(a.sim.RequestsByPath[reserved], b.sim.RequestsByPath[reserved])
	for k, v := range b.sim.Searches {
		d := per(a.sim.Searches[k], v)
		switch searchKind(k) {
		case "course":
			ph.courseSearches += d
		case "subject":
			ph.subjectWalks += d
		case "term":
			ph.termWalks += d
		}
	}
	ph.applied = (b.applied - a.applied) / n
	ph.planned, ph.from, ph.to = b.hb, a.id, b.id
	err = r.ds.db.db.Pool().QueryRow(ctx, "SELECT count(*) FROM section_states").Scan(&ph.rows)
	return ph, err
}

// sample waits until a sweep later than after has been enqueued and every
// check in the stream is done, and reads the counters then. It waits on if
// the next sweep began meanwhile, since its first requests could have been
// counted.
func (r *coalesceRun) sample(ctx context.Context, after int) (sweepSample, error) {
	var s sweepSample
	err := poll(ctx, 5*time.Minute, 50*time.Millisecond, func() (bool, error) {
		hb, err := r.e.heartbeat(ctx, r.keys)
		if err != nil {
			return false, err
		}
		id, err := strconv.Atoi(hb.Sweep)
		if err != nil || id <= after {
			return false, nil // no run yet, or not the sweep waited for
		}
		st, err := stream.Inspect(ctx, r.e.rdb, r.keys.Stream(), r.keys.Group(), r.keys.DeadLetter())
		if err != nil {
			return false, err
		}
		if st.Lag != 0 || st.Pending != 0 || st.Delayed != 0 {
			return false, nil
		}
		sim := r.ds.sim.State(false)
		applied, err := counter(ctx, r.worker.ops, `pickmyclass_sections_checked_total{result="applied"}`)
		if err != nil {
			return false, err
		}
		cur, err := r.e.rdb.HGet(ctx, r.keys.Sweep(), "id").Result()
		if err != nil || cur != hb.Sweep {
			return false, err
		}
		s = sweepSample{id: id, hb: hb, sim: sim, applied: applied}
		return true, nil
	})
	if err != nil {
		return s, fmt.Errorf("sweep after %d: %w", after, err)
	}
	return s, nil
}

// samePlan reports whether two sweeps planned the same queries.
func samePlan(a, b check.Heartbeat) bool {
	return a.Courses == b.Courses && a.Sections == b.Sections && a.Units == b.Units &&
		a.Requests == b.Requests && a.SectionsFetched == b.SectionsFetched
}

// searchKind classifies a key of asusim.State.Searches: "course"
// ("2271:CSE:240"), "subject" ("2271:CSE:*"), "term" ("2271:*") or
// "other".
func searchKind(key string) string {
	parts := strings.Split(key, ":")
	switch {
	case len(parts) == 2 && parts[1] == "*":
		return "term"
	case len(parts) == 3 && parts[2] == "*":
		return "subject"
	case len(parts) == 3:
		return "course"
	}
	return "other"
}

// counter reads one sample, series as the text exposition writes it, from
// the /metrics of the ops listener at addr; a series not exported yet is 0.
func counter(ctx context.Context, addr, series string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("metrics of %s: %w", addr, err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, sc.Err()
}

// coalesces measures what course watches cost upstream on courses already
// watched by section, and on new ones.
func (e *env) coalesces(ctx context.Context, rep *report, sz coalesceSizes, logf logFunc) {
	const area = "course watches"
	sc := asusim.GenerateTerm(benchTerm, sz.sections, sz.subjects, 5)
	watch := scaleWatches(sc, sz.courses, 5)
	factor := coalesceFactor
	base := fmt.Sprintf("%s sections in %d subjects, ASU_RATE=%g, ASU_SECTIONS_RATE=%g, SCHEDULER_PLAN=%s (time ÷%d)",
		num(len(sc.Sections)), sz.subjects, scaleRate, scaleSectionRate, coalesceMode, factor)
	logf("%s: %s", area, base)
	r, err := e.benchCoalesce(ctx, sc, watch, sz.newCourses, logf)
	if err != nil {
		rep.failed(area, base, err)
		return
	}
	labelA := fmt.Sprintf("%s; (a) %s courses watched by section only (%s section watches)", base, num(r.watchedCourses), num(r.sectionWatches))
	labelB := fmt.Sprintf("%s; (b) (a) + one course watch on each of those %s courses (%s with a filter)", base, num(r.courseWatches), num(r.filtered))
	labelC := fmt.Sprintf("%s; (c) (b) + course watches on %s courses not watched before", base, num(r.newCourses))
	for _, p := range []struct {
		label string
		ph    coalescePhase
	}{{labelA, r.a}, {labelB, r.b}, {labelC, r.c}} {
		ph := p.ph
		perSweep := make([]string, len(ph.perSweep))
		for i, x := range ph.perSweep {
			perSweep[i] = fmt.Sprintf("%.0f", x)
		}
		rep.add(area, p.label, "upstream requests per sweep (measured, each sweep; planned)",
			fmt.Sprintf("%.0f (%s); %d", ph.requests, strings.Join(perSweep, ", "), ph.planned.Requests))
		rep.add(area, p.label, "first pages per sweep: course searches / subject walks / term walks; walk scroll pages; reserved seat lookups",
			fmt.Sprintf("%.0f / %.0f / %.0f; %.0f; %.0f", ph.courseSearches, ph.subjectWalks, ph.termWalks, ph.scrollPages, ph.reserved))
		rep.add(area, p.label, "sections fetched per sweep (measured; planned)", fmt.Sprintf("%s; %s", count(ph.sections), num(ph.planned.SectionsFetched)))
		rep.add(area, p.label, "sections stored per sweep (worker); stored sections (rows)", fmt.Sprintf("%s; %s", count(ph.applied), num(ph.rows)))
		rep.add(area, p.label, "sweep period", secs(ph.planned.Period*time.Duration(factor)))
		if !ph.settled {
			rep.note("%s / %s: the plan still changed %d sweeps after the watches were added; the figures are of the sweeps after.",
				area, p.label, coalesceSettle)
		}
	}
	rep.addTarget(area, labelB, "upstream requests per sweep, (b) against (a)", fmt.Sprintf("%.0f against %.0f", r.b.requests, r.a.requests),
		"≤ (a), equal expected", r.b.requests <= r.a.requests)
	rep.addTarget(area, labelB, "sections fetched per sweep, (b) against (a)", count(r.b.sections)+" against "+count(r.a.sections),
		"≤ (a), equal expected", r.b.sections <= r.a.sections)
	rep.addTarget(area, labelB, "stored sections (rows)", num(r.b.rows),
		fmt.Sprintf("= %s, every section of the watched courses", num(r.courseSections)), r.b.rows == r.courseSections)
	extra := r.c.requests - r.b.requests
	rep.add(area, labelC, "extra upstream requests per sweep, (c) less (b)",
		fmt.Sprintf("%+.0f (%.2f per new course)", extra, extra/float64(max(r.newCourses, 1))))
	if r.b.requests > r.a.requests {
		rep.note("%s: adding course watches on courses already watched by section raised the requests per sweep from %.0f to %.0f; "+
			"the scheduler should check such a course whole with the request or walk it already makes.", area, r.a.requests, r.b.requests)
	}
}

// count formats a measured count, rounded, as num does.
func count(x float64) string { return num(int(math.Round(x))) }
