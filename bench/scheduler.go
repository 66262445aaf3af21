package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/check"
	"github.com/pickmyclass/pickmyclass/pkg/stream"
)

// schedulerResult is one enqueue of every watched course of a dataset.
type schedulerResult struct {
	sections, courses int
	took              time.Duration // the scheduler's own measure of its run
	wall              time.Duration // process start → entries in the stream
	due, publish      time.Duration // in-process breakdown: query, PublishOnce
	rssIdle, rssPeak  int64
}

// cycleLog is the scheduler's "sweep enqueued" log line.
type cycleLog struct {
	Message  string  `json:"message"`
	Sections int     `json:"sections"`
	Enqueued int     `json:"enqueued"`
	Took     float64 `json:"took"` // milliseconds
}

// benchScheduler runs the scheduler binary against the dataset until it has
// enqueued one cycle, and times the same steps in-process for a breakdown.
func (e *env) benchScheduler(ctx context.Context, ds *dataset) (schedulerResult, error) {
	res := schedulerResult{sections: ds.sections, courses: ds.courses}
	prefix := "bench:" + randomID() + ":"
	keys := check.Keys{Prefix: prefix}
	defer e.deletePrefix(prefix)
	start := time.Now()
	p, err := e.start(ctx, "scheduler-"+prefix[6:18], "scheduler", map[string]string{
		"DATABASE_URL":       ds.db.url,
		"REDIS_URL":          e.redisURL,
		"REDIS_PREFIX":       prefix,
		"LOG_LEVEL":          "info",
		"MIGRATE_ON_START":   "false",
		"SCHEDULER_INTERVAL": "1h",
		// One entry per course: this measures the enqueue, not the planner.
		"SCHEDULER_PLAN": "per-course",
		// The lease is not held yet at the immediate first run, so the
		// first enqueue comes one tick after start-up.
		"SCHEDULER_TICK": "500ms",
	}, "SCHEDULER_OPS_ADDR")
	if err != nil {
		return res, err
	}
	defer p.stop()
	res.rssIdle, _, _ = p.memory()
	var line cycleLog
	err = poll(ctx, 2*time.Minute, 10*time.Millisecond, func() (bool, error) {
		var ok bool
		line, ok, err = findCycleLog(p.logPath)
		return ok, err
	})
	if err != nil {
		return res, fmt.Errorf("scheduler cycle: %w (log %s)", err, p.logPath)
	}
	res.wall = time.Since(start)
	res.took = time.Duration(line.Took * float64(time.Millisecond))
	if line.Enqueued != ds.courses || line.Sections != ds.sections {
		return res, fmt.Errorf("scheduler enqueued %d courses, %d sections; want %d, %d", line.Enqueued, line.Sections, ds.courses, ds.sections)
	}
	_, res.rssPeak, err = p.memory()
	if err != nil {
		return res, err
	}

	t0 := time.Now()
	due, err := ds.db.db.DueCourses(ctx)
	if err != nil {
		return res, err
	}
	res.due = time.Since(t0)
	msgs := make([]stream.Message, 0, len(due))
	for _, d := range due {
		msg, err := check.Message(check.Check{Course: d.Course, ClassNbrs: d.ClassNbrs, Sweep: "breakdown", EnqueuedAt: t0})
		if err != nil {
			return res, err
		}
		msgs = append(msgs, msg)
	}
	t1 := time.Now()
	pub := stream.NewPublisher(e.rdb, keys.Stream()+":breakdown", stream.PublisherOptions{})
	if _, err := pub.PublishOnce(ctx, keys.SweepDedup("breakdown"), time.Hour, msgs...); err != nil {
		return res, err
	}
	res.publish = time.Since(t1)
	return res, nil
}

func findCycleLog(path string) (cycleLog, bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return cycleLog{}, false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l cycleLog
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Message == "sweep enqueued" {
			return l, true, nil
		}
	}
	return cycleLog{}, false, sc.Err()
}
