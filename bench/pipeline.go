package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/catalog/asusim"
	"github.com/pickmyclass/pickmyclass/pkg/check"
	"github.com/pickmyclass/pickmyclass/pkg/stream"
)

// unsubscribeSecret signs the links in the benchmark's emails.
const unsubscribeSecret = "bench-secret-bench-secret-bench-secret-0123"

// dataset is a seeded database and the simulated catalog it watches.
type dataset struct {
	courses, sections int
	db                *database
	sim               *simServer
	sink              *sink
	users             []int64
	cycles            int // cycles enqueued so far, to stamp each one apart
}

// newDataset generates courses×perCourse watched sections, 10 per user, in
// a fresh database, and serves the catalog.
func (e *env) newDataset(ctx context.Context, courses, perCourse int) (*dataset, error) {
	sc := asusim.Generate(benchTerm, courses, perCourse, 0.3, 1)
	ds := &dataset{courses: courses, sections: len(sc.Sections)}
	var err error
	if ds.db, err = e.newDatabase(ctx); err != nil {
		return ds, err
	}
	if ds.users, err = seedWatches(ctx, ds.db, sc, 10); err != nil {
		return ds, err
	}
	if ds.sim, err = startSim(sc); err != nil {
		return ds, err
	}
	ds.sink, err = startSink()
	return ds, err
}

func (e *env) closeDataset(ds *dataset) {
	if ds.sim != nil {
		ds.sim.close()
	}
	if ds.sink != nil {
		ds.sink.close()
	}
	e.drop(ds.db)
}

// workerEnv is a worker's configuration against a dataset and a key prefix.
func (ds *dataset) workerEnv(e *env, prefix, name string, rate float64) map[string]string {
	r := strconv.FormatFloat(rate, 'f', -1, 64)
	return map[string]string{
		"DATABASE_URL":              ds.db.url,
		"REDIS_URL":                 e.redisURL,
		"REDIS_PREFIX":              prefix,
		"LOG_LEVEL":                 "warn",
		"MIGRATE_ON_START":          "false",
		"WORKER_NAME":               name,
		"WORKER_CONCURRENCY":        "32",
		"WORKER_SHUTDOWN_TIMEOUT":   "10s",
		"ASU_API_BASE_URL":          ds.sim.url,
		"ASU_RATE":                  r,
		"ASU_BURST":                 strconv.Itoa(max(3, int(rate/10))),
		"SMTP_URL":                  "smtp://" + ds.sink.addr() + "?tls=none",
		"MAIL_RATE":                 "1000",
		"UNSUBSCRIBE_SECRET":        unsubscribeSecret,
		"PUBLIC_BASE_URL":           "http://127.0.0.1:8080",
		"WORKER_VISIBILITY_TIMEOUT": "2m",
	}
}

// pipelineResult is one measured cycle.
type pipelineResult struct {
	sections, courses, workers int
	latency                    time.Duration // simulator answer delay
	rate                       float64       // politeness budget, requests/s
	elapsed                    time.Duration // enqueue → last ack
	requests                   int64         // upstream requests in the cycle
	redisCmds, pgXacts         int64
	p50, p99                   time.Duration // enqueue → observed, per section
	rssIdle, rssPeak           int64         // largest over the workers
	deadLetters                int64
}

func (r pipelineResult) perSecond() float64 { return float64(r.sections) / r.elapsed.Seconds() }

// runCycle starts workers, enqueues one cycle of every watched course as
// the scheduler does, and measures it until every entry is acknowledged.
// When prof is set, the first worker's CPU is profiled from the enqueue on.
func (e *env) runCycle(ctx context.Context, ds *dataset, workers int, latency time.Duration, rate float64, prof *profile) (pipelineResult, error) {
	res := pipelineResult{sections: ds.sections, courses: ds.courses, workers: workers, latency: latency, rate: rate}
	prefix := "bench:" + randomID() + ":"
	keys := check.Keys{Prefix: prefix}
	defer e.deletePrefix(prefix)
	ds.sim.SetLatency(latency)

	var procs []*process
	defer func() {
		for _, p := range procs {
			p.stop()
		}
	}()
	for i := range workers {
		name := fmt.Sprintf("worker-%d-%s", i+1, prefix[6:18])
		p, err := e.start(ctx, name, "worker", ds.workerEnv(e, prefix, name, rate), "WORKER_OPS_ADDR")
		if err != nil {
			return res, err
		}
		procs = append(procs, p)
	}
	for _, p := range procs {
		rss, _, err := p.memory()
		if err != nil {
			return res, err
		}
		res.rssIdle = max(res.rssIdle, rss)
	}

	due, err := ds.db.db.DueCourses(ctx)
	if err != nil {
		return res, err
	}
	ds.cycles++
	cycle := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(ds.cycles) * time.Hour).Format(time.RFC3339)
	r0 := ds.sim.Requests()
	c0, err := e.redisCommands(ctx)
	if err != nil {
		return res, err
	}
	x0, err := e.xacts(ctx, ds.db)
	if err != nil {
		return res, err
	}
	var profDone chan error
	if prof != nil {
		profDone = make(chan error, 1)
		go func() { profDone <- prof.collect(ctx, e, procs[0]) }()
	}
	start := time.Now()
	msgs := make([]stream.Message, 0, len(due))
	for _, d := range due {
		msg, err := check.Message(check.Check{Course: d.Course, ClassNbrs: d.ClassNbrs, Sweep: cycle, EnqueuedAt: start})
		if err != nil {
			return res, err
		}
		msgs = append(msgs, msg)
	}
	pub := stream.NewPublisher(e.rdb, keys.Stream(), stream.PublisherOptions{})
	if _, err := pub.PublishOnce(ctx, keys.SweepDedup(cycle), time.Hour, msgs...); err != nil {
		return res, err
	}
	// Bounded by the budget when there is one, and by a conservative 50
	// courses/s otherwise (a first observation of every section, as in the
	// warm-up, writes far more than a steady-state cycle).
	timeout := 2*time.Minute + time.Duration(float64(len(due))/min(rate, 50)*float64(time.Second))*2
	var st stream.Stats
	err = poll(ctx, timeout, 20*time.Millisecond, func() (bool, error) {
		st, err = stream.Inspect(ctx, e.rdb, keys.Stream(), keys.Group(), keys.DeadLetter())
		if err != nil {
			return false, err
		}
		return st.Length > 0 && st.Lag == 0 && st.Pending == 0 && st.Delayed == 0, nil
	})
	if err != nil {
		return res, fmt.Errorf("cycle of %d courses: %w (last %+v)", len(due), err, st)
	}
	res.elapsed = time.Since(start)
	if profDone != nil {
		if err := <-profDone; err != nil {
			prof.top = "profile failed: " + err.Error()
		}
	}
	res.deadLetters = st.DeadLetters
	res.requests = ds.sim.Requests() - r0
	for _, p := range procs {
		_, peak, err := p.memory()
		if err != nil {
			return res, err
		}
		res.rssPeak = max(res.rssPeak, peak)
	}
	// Stopped backends flush their statistics; live ones may hold them for
	// seconds.
	for _, p := range procs {
		p.stop()
	}
	c1, err := e.redisCommands(ctx)
	if err != nil {
		return res, err
	}
	res.redisCmds = c1 - c0
	x1, err := e.xacts(ctx, ds.db)
	if err != nil {
		return res, err
	}
	res.pgXacts = x1 - x0

	var observed int
	var p50, p99 float64
	err = ds.db.db.Pool().QueryRow(ctx, `
		SELECT count(*),
		       coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM observed_at - $1)), 0),
		       coalesce(percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM observed_at - $1)), 0)
		FROM section_states WHERE term = $2 AND observed_at >= $1`, start, benchTerm).Scan(&observed, &p50, &p99)
	if err != nil {
		return res, fmt.Errorf("latency: %w", err)
	}
	if observed != ds.sections {
		return res, fmt.Errorf("%d of %d sections observed in the cycle", observed, ds.sections)
	}
	res.p50 = time.Duration(p50 * float64(time.Second))
	res.p99 = time.Duration(p99 * float64(time.Second))
	return res, nil
}

// profile is a CPU profile of a worker during a cycle and its top functions.
type profile struct {
	seconds int
	top     string
}

func (p *profile) collect(ctx context.Context, e *env, w *process) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", w.ops, p.seconds), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	path := filepath.Join(e.dir, w.name+".cpu.pprof")
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	out, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount=15", filepath.Join(e.bin, "worker"), path).Output()
	if err != nil {
		return fmt.Errorf("go tool pprof: %w", err)
	}
	p.top = strings.TrimSpace(string(out))
	return nil
}
