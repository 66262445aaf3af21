package main

import (
	"context"
	"fmt"
	"time"
)

type logFunc func(format string, a ...any)

// pipelines measures every pipeline configuration of the run's sizes.
func (e *env) pipelines(ctx context.Context, rep *report, sz sizes, logf logFunc) {
	const area = "pipeline"
	for _, size := range sz.pipeline {
		courses, per := size[0], size[1]
		logf("pipeline: seeding %d courses × %d sections", courses, per)
		ds, err := e.newDataset(ctx, courses, per)
		if err != nil {
			e.closeDataset(ds)
			rep.failed(area, fmt.Sprintf("%d courses", courses), err)
			continue
		}
		// Warm-up: the first observation of every section inserts its state;
		// the measured cycles are the steady state that repeats all day.
		if _, err := e.runCycle(ctx, ds, 2, 0, 100000, nil); err != nil {
			e.closeDataset(ds)
			rep.failed(area, fmt.Sprintf("%d courses", courses), fmt.Errorf("warm-up: %w", err))
			continue
		}
		var cmds0 float64 // Redis commands per section with no budget limit
		for _, c := range []struct {
			latency time.Duration
			workers int
		}{{0, 1}, {0, 2}, {200 * time.Millisecond, 1}, {200 * time.Millisecond, 2}} {
			budget := 100000.0
			if c.latency > 0 {
				budget = sz.budget200
			}
			label := fmt.Sprintf("%s sections / %s courses, %d ms upstream, %d worker(s)", num(ds.sections), num(courses), c.latency.Milliseconds(), c.workers)
			if c.latency > 0 {
				label += fmt.Sprintf(", budget %.0f req/s", budget)
			}
			logf("pipeline: %s", label)
			var prof *profile
			if c.latency == 0 && c.workers == 1 {
				prof = &profile{seconds: min(max(ds.sections/4000, 1), 10)}
			}
			r, err := e.runCycle(ctx, ds, c.workers, c.latency, budget, prof)
			if err != nil {
				rep.failed(area, label, err)
				continue
			}
			perSec := r.perSecond()
			reqRate := float64(r.requests) / r.elapsed.Seconds()
			if c.latency == 0 {
				rep.addTarget(area, label, "sections checked/s", rate(perSec), "≥ 2,000/s", perSec >= 2000)
				if perSec < 2000 && prof != nil && prof.top != "" {
					rep.note("Pipeline below 2,000 sections/s (%s, %.0f/s). The worker's CPU profile over %d s of the cycle "+
						"says how busy it was (\"Total samples … (N%%)\" of one core): well under 100%% means the worker waits on "+
						"PostgreSQL, Redis or the simulator rather than computing, and the machine's load average (above) "+
						"competes for the same 2 cores. Top functions:\n\n```\n%s\n```", label, perSec, prof.seconds, prof.top)
				}
			} else {
				rep.add(area, label, "sections checked/s", rate(perSec))
				rep.addTarget(area, label, "upstream requests/s", rate(reqRate),
					fmt.Sprintf("at the budget (≥ 90%% of %.0f/s)", budget), reqRate >= 0.9*budget)
			}
			rep.addTarget(area, label, "upstream requests per cycle", num(int(r.requests)), "≤ "+num(courses)+" (distinct courses)", r.requests <= int64(courses))
			rep.add(area, label, "enqueue→done p50 / p99", ms(r.p50)+" / "+ms(r.p99))
			rep.add(area, label, "cycle time", secs(r.elapsed))
			cmds := float64(r.redisCmds) / float64(r.sections)
			rep.add(area, label, "Redis cmds/section", fmt.Sprintf("%.2f", cmds))
			if c.latency == 0 && cmds0 == 0 {
				cmds0 = cmds
			}
			if c.latency > 0 && cmds0 > 0 && cmds > 2*cmds0 {
				rep.note("%s: %.1f Redis commands per section against %.1f without a budget limit. Checks waiting for "+
					"the politeness budget poll the shared token bucket: `ratelimit.Bucket.Wait` sleeps until the next "+
					"token and calls `Take` again, so every waiter (up to WORKER_CONCURRENCY per worker) wakes at each token "+
					"and most find the bucket empty. A reservation (the Lua script hands out a future slot and the "+
					"caller sleeps until it, as `x/time/rate.Reserve` does) would make it one call per request.", label, cmds, cmds0)
			}
			rep.add(area, label, "PG xacts/section", fmt.Sprintf("%.2f", float64(r.pgXacts)/float64(r.sections)))
			rep.addTarget("memory", label, "worker RSS idle / peak (largest process)", mb(r.rssIdle)+" / "+mb(r.rssPeak), "< 50 MB", r.rssPeak < 50e6)
			if r.deadLetters > 0 {
				rep.note("%s: %d entries were dead-lettered", label, r.deadLetters)
			}
		}
		e.closeDataset(ds)
	}
}

// schedulers measures the enqueue of a whole cycle.
func (e *env) schedulers(ctx context.Context, rep *report, sz sizes, logf logFunc) {
	const area = "scheduler"
	logf("scheduler: seeding %d courses × 5 sections", sz.schedCourses)
	ds, err := e.newDataset(ctx, sz.schedCourses, 5)
	defer e.closeDataset(ds)
	label := fmt.Sprintf("enqueue %s sections / %s courses", num(sz.schedCourses*5), num(sz.schedCourses))
	if err != nil {
		rep.failed(area, label, err)
		return
	}
	r, err := e.benchScheduler(ctx, ds)
	if err != nil {
		rep.failed(area, label, err)
		return
	}
	rep.addTarget(area, label, "enqueue run (scheduler's log)", ms(r.took), "< 2 s", r.took < 2*time.Second)
	rep.add(area, label, "breakdown: due-courses query / PublishOnce", ms(r.due)+" / "+ms(r.publish))
	rep.add(area, label, "process start → sweep enqueued", ms(r.wall))
	rep.add("memory", label, "scheduler RSS at start / peak", mb(r.rssIdle)+" / "+mb(r.rssPeak))
}

// streams compares the stream core with asynq and the bare loop.
func (e *env) streams(ctx context.Context, rep *report, sz sizes, logf logFunc) {
	const area = "stream"
	logf("stream: pkg/stream, %d messages", sz.streamN)
	core, err := e.benchStreamCore(ctx, sz.streamN)
	if err != nil {
		rep.failed(area, "pkg/stream", err)
		return
	}
	logf("stream: asynq, %d tasks", sz.asynqN)
	aq, err := e.benchAsynq(ctx, sz.asynqN)
	if err != nil {
		rep.failed(area, "asynq", err)
	}
	logf("stream: bare loop, %d messages", sz.bareN)
	bare, err := e.benchBare(ctx, sz.bareN)
	if err != nil {
		rep.failed(area, "bare loop", err)
	}
	for _, r := range []queueResult{core, aq, bare} {
		if r.processD == 0 {
			continue
		}
		label := fmt.Sprintf("%s, %s no-op messages", r.name, num(r.messages))
		rep.add(area, label, "enqueue", rate(r.enqueue))
		rep.add(area, label, "process (consume + ack)", rate(r.process))
	}
	if aq.process > 0 {
		x := core.process / aq.process
		rep.addTarget(area, "pkg/stream ÷ asynq", "processing ratio", fmt.Sprintf("%.1f×", x), "≥ 10×", x >= 10)
	}
	if bare.process > 0 {
		x := core.process / bare.process
		rep.addTarget(area, "pkg/stream ÷ bare loop", "processing ratio", fmt.Sprintf("%.0f%%", 100*x), "≥ 25%", x >= 0.25)
	}
}

// detects measures detection delay.
func (e *env) detects(ctx context.Context, rep *report, sz sizes, logf logFunc) {
	const area = "detection"
	label := fmt.Sprintf("SCHEDULER_INTERVAL=%s, %d seats opened over %s", sz.detectEvery, sz.detectOpened, sz.detectWindow)
	logf("detection: %s", label)
	r, err := e.benchDetect(ctx, sz.detectEvery, sz.detectWindow, sz.detectOpened)
	if err != nil {
		rep.failed(area, label, err)
		return
	}
	i := r.interval
	rep.addTarget(area, label, "alerts received", fmt.Sprintf("%d of %d", r.mailed, r.opened), "all", r.mailed == r.opened)
	rep.addTarget(area, label, "delay p50", fmt.Sprintf("%s (%.2f × interval)", secs(r.p50), r.p50.Seconds()/i.Seconds()),
		"≤ "+secs(i/2+10*time.Second), r.p50 <= i/2+10*time.Second)
	rep.addTarget(area, label, "delay p99", fmt.Sprintf("%s (%.2f × interval)", secs(r.p99), r.p99.Seconds()/i.Seconds()),
		"≤ "+secs(i+30*time.Second), r.p99 <= i+30*time.Second)
	rep.add(area, label, "delay max", secs(r.max))
	rep.add("memory", "detection run (idle after the first cycle / peak)", "worker RSS", mb(r.workerRSS)+" / "+mb(r.workerPeak))
	rep.add("memory", "detection run (idle after the first cycle / peak)", "scheduler RSS", mb(r.schedRSS)+" / "+mb(r.schedPeak))
}
