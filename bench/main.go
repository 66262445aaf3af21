// Command bench measures PickMyClass on this machine — pipeline throughput,
// scheduler enqueue, the stream core against asynq and a bare Redis Streams
// loop, API latency, memory and detection delay — and writes the results to
// docs/BENCHMARKS.md. `make bench` runs it; every load targets loopback only
// (except the channel fan-out's stand-in services, which must sit on an
// address the SSRF guard allows: a local non-loopback one) and every
// scenario is bounded in time.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

// sizes are the scale of one run.
type sizes struct {
	pipeline      [][2]int // courses, sections per course
	budget200     float64  // ASU_RATE for the 200 ms runs
	schedCourses  int
	streamN       int
	asynqN        int
	bareN         int
	apiDuration   time.Duration
	detectEvery   time.Duration
	detectWindow  time.Duration
	detectOpened  int
	fullPipelines bool
	scale         scaleSizes
	// fanoutWatchers watch the one section of the channel fan-out run.
	fanoutWatchers int
	// coalesce is the term and watches of the course-watch run.
	coalesce coalesceSizes
}

func pickSizes(full, quick bool) sizes {
	switch {
	case quick: // seconds: checks that the harness works, figures mean little
		return sizes{pipeline: [][2]int{{200, 5}}, budget200: 100, schedCourses: 2000, streamN: 20000, asynqN: 3000, bareN: 50000,
			apiDuration: 2 * time.Second, detectEvery: 3 * time.Second, detectWindow: 6 * time.Second, detectOpened: 10,
			scale: scaleSizes{sections: 2000, subjects: 30, courses: 300, opened: 10}, fanoutWatchers: 100,
			coalesce: coalesceSizes{sections: 2000, subjects: 40, courses: 150, newCourses: 20}}
	case full:
		return sizes{pipeline: [][2]int{{2000, 5}, {20000, 5}}, budget200: 100, schedCourses: 20000, streamN: 300000, asynqN: 50000, bareN: 1000000,
			apiDuration: 30 * time.Second, detectEvery: 30 * time.Second, detectWindow: 5 * time.Minute, detectOpened: 200,
			scale: scaleSizes{sections: 20000, subjects: 300, courses: 4000, opened: 100}, fanoutWatchers: 1000,
			coalesce: coalesceSizes{sections: 8000, subjects: 120, courses: 500, newCourses: 50}}
	}
	return sizes{pipeline: [][2]int{{2000, 5}}, budget200: 100, schedCourses: 20000, streamN: 100000, asynqN: 20000, bareN: 300000,
		apiDuration: 10 * time.Second, detectEvery: 10 * time.Second, detectWindow: 60 * time.Second, detectOpened: 60,
		scale: scaleSizes{sections: 20000, subjects: 300, courses: 4000, opened: 40}, fanoutWatchers: 1000,
		coalesce: coalesceSizes{sections: 8000, subjects: 120, courses: 500, newCourses: 50}}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	full := fs.Bool("full", false, "long runs: 100,000 watched sections, more messages, longer API and detection runs")
	quick := fs.Bool("quick", false, "tiny sizes that check the harness in seconds")
	out := fs.String("out", "docs/BENCHMARKS.md", "where to write the report ('-' for stdout)")
	limit := fs.Duration("timeout", 0, "stop everything after this long (default 20m, 90m with -full)")
	only := fs.String("only", "pipeline,scheduler,stream,api,detect,scale,coalesce,fanout", "scenarios to run, comma-separated (sustained runs only when named or with -full)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	want := map[string]bool{}
	for _, s := range strings.Split(*only, ",") {
		want[strings.TrimSpace(s)] = true
	}
	if *full {
		want["sustained"] = true
	}
	sz := pickSizes(*full, *quick)
	if *limit == 0 {
		*limit = 20 * time.Minute
		if *full {
			*limit = 90 * time.Minute
		}
	}
	ctx, cancel := context.WithTimeout(ctx, *limit)
	defer cancel()
	serverURL := firstOf(getenv("TEST_DATABASE_URL"), getenv("DATABASE_URL"))
	redisURL := firstOf(getenv("TEST_REDIS_URL"), getenv("REDIS_URL"))
	if serverURL == "" || redisURL == "" {
		return errors.New("TEST_DATABASE_URL (or DATABASE_URL) and TEST_REDIS_URL (or REDIS_URL) must be set; `make bench` sets them")
	}
	dir, err := os.MkdirTemp("", "pmc-bench-")
	if err != nil {
		return err
	}
	e, err := newEnv(ctx, serverURL, redisURL, dir)
	if err != nil {
		return err
	}
	defer e.rdb.Close()

	began := time.Now()
	m := machine{
		date: began.UTC().Format("2006-01-02 15:04 MST"), goVersion: runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH,
		nproc: shell("nproc"), free: shell("free", "-h"), loadStart: loadavg(), command: "go run ./bench " + strings.Join(args, " "),
	}
	logf := func(format string, a ...any) { fmt.Fprintf(stdout, "bench: "+format+"\n", a...) }
	logf("building services (logs in %s)", dir)
	if err := e.build(ctx, "worker", "scheduler", "api"); err != nil {
		// The API may not build while it is being changed; the rest can run.
		logf("%v", err)
		if err := e.build(ctx, "worker", "scheduler"); err != nil {
			return err
		}
		want["api"], want["sustained"] = false, false
		defer func() { logf("the API was not measured: it does not build") }()
	}
	rep := &report{}
	if want["pipeline"] {
		e.pipelines(ctx, rep, sz, logf)
	}
	if want["scheduler"] {
		e.schedulers(ctx, rep, sz, logf)
	}
	if want["stream"] {
		e.streams(ctx, rep, sz, logf)
	}
	if want["api"] {
		e.apis(ctx, rep, sz, logf)
	}
	if want["detect"] {
		e.detects(ctx, rep, sz, logf)
	}
	if want["scale"] {
		e.scales(ctx, rep, sz.scale, logf)
	}
	if want["coalesce"] {
		e.coalesces(ctx, rep, sz.coalesce, logf)
	}
	if want["fanout"] {
		e.fanouts(ctx, rep, sz.fanoutWatchers, logf)
	}
	if want["sustained"] {
		e.sustained(ctx, rep, logf)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	m.loadEnd, m.took = loadavg(), time.Since(began)
	if *out == "-" {
		return rep.write(stdout, m)
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	if err := rep.write(f, m); err != nil {
		f.Close()
		return err
	}
	logf("wrote %s in %s", *out, m.took.Round(time.Second))
	if rep.ok() {
		_ = os.RemoveAll(dir)
	} else {
		logf("some scenarios failed; their logs stay in %s", dir)
	}
	return f.Close()
}

func firstOf(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func shell(name string, args ...string) string {
	b, err := exec.Command(name, args...).Output()
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	return strings.TrimSpace(string(b))
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], ", ")
}
