package chaos

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/testenv"
)

// Redis (a private instance with appendonly persistence) restarted while a
// cycle is in flight: every service reconnects by itself within 10 s, no
// stream entry is lost, checks resume and every alert goes out once.
func TestRedisRestartMidCycle(t *testing.T) {
	t.Parallel()
	outage := 2 * time.Second
	if full {
		outage = 5 * time.Second
	}
	rep := report(t, 2, "Redis restarted mid-cycle",
		fmt.Sprintf("a private redis-server (appendonly yes, appendfsync everysec, as in docker-compose.yml) is shut down while checks of a cycle in which every section opens are pending, kept down %s and started again; a scheduler (2 s cycle) and two workers run as processes throughout", outage),
		"every service answers /readyz again within 10 s of Redis coming back, without being restarted; every stream entry that existed before the restart exists after it; every section is checked again; every due email accepted exactly once; no dead letter")
	r := startRedis(t)
	d := newDeployment(t, infra{redisURL: r.url()}, courses(4, 2), "ana@example.edu", "ben@example.edu")
	over := map[string]string{"SCHEDULER_INTERVAL": "2s", "WORKER_CONCURRENCY": "2"}
	procs := []*process{d.start("scheduler", "scheduler", over), d.start("worker", "w1", over), d.start("worker", "w2", over)}
	d.waitObserved(time.Time{}, 30*time.Second)

	d.openAll()
	d.sim.SetLatency(300 * time.Millisecond)
	opened := time.Now()
	ctx := context.Background()
	// Mid-cycle: the next cycle's checks are being handled.
	testenv.Eventually(t, 30*time.Second, func() error {
		p, err := d.rdb.XPending(ctx, d.keys.Stream(), d.keys.Group()).Result()
		if err != nil {
			return err
		}
		if p.Count == 0 {
			return testenv.ErrNotYet
		}
		return nil
	})
	before, err := d.rdb.XRange(ctx, d.keys.Stream(), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	r.restart(outage)
	back := time.Now()

	recovered := readyAgain(t, back, procs...)
	after, err := d.rdb.XRange(ctx, d.keys.Stream(), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, e := range after {
		have[e.ID] = true
	}
	lost := 0
	for _, e := range before {
		if !have[e.ID] {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d stream entries lost across the restart", lost, len(before))
	}
	d.waitObserved(back, 30*time.Second)
	resumed := time.Since(back)
	d.sim.SetLatency(0)
	missing, dupes := d.waitEmails(60 * time.Second)
	if missing != 0 || dupes != 0 {
		t.Errorf("emails: %d missing, %d duplicates: %v", missing, dupes, d.emailCounts())
	}
	for _, p := range procs {
		if !p.Alive() {
			t.Errorf("%s exited", p.name)
		}
	}
	if dl := d.deadLetters(); len(dl) != 0 {
		t.Errorf("%d dead letters: %+v", len(dl), dl)
	}
	rep.add(1, lost+missing, dupes)
	rep.Recovery = seconds(recovered) + " to ready"
	rep.figure("stream entries before the restart: %d, lost: %d", len(before), lost)
	rep.figure("per service /readyz after Redis came back: %s", seconds(recovered))
	rep.figure("every section checked again %.2f s after Redis came back; cycle with the opening completed %.2f s after it began", resumed.Seconds(), time.Since(opened).Seconds())
	rep.figure("emails due %d, missing %d, duplicates %d", d.dueEmails(), missing, dupes)
}

// PostgreSQL (a private cluster) crashed — immediate shutdown, crash
// recovery at restart — while a cycle is in flight: nothing is acked before
// it is durable, nothing is lost, the services recover without a restart.
func TestPostgresCrashMidCycle(t *testing.T) {
	t.Parallel()
	outage := 2 * time.Second
	if full {
		outage = 8 * time.Second
	}
	rep := report(t, 3, "PostgreSQL crashed mid-cycle",
		fmt.Sprintf("a private PostgreSQL cluster is stopped in immediate mode (a crash: no checkpoint, WAL recovery at start) while the checks of a single cycle, in which every section opens, are in flight; kept down %s; the cycle is published once and never again, so an entry acked without its write would leave its sections unchecked for good; WORKER_MAX_DELIVERIES=10 so the outage does not dead-letter", outage),
		"every section of the cycle checked after recovery (no entry acked before its state and claims were durable); every due email accepted exactly once; services ready again without a restart; queue drained, no dead letter")
	pg := startPostgres(t)
	d := newDeployment(t, infra{postgresServer: pg.url()}, courses(6, 2), "ana@example.edu", "ben@example.edu")
	over := map[string]string{"WORKER_MAX_DELIVERIES": "10", "WORKER_CONCURRENCY": "2"}
	// The scheduler runs only to show it recovers too: with a 1 h tick it
	// enqueues nothing during the test, so the test's own two cycles are
	// the only entries.
	procs := []*process{
		d.start("scheduler", "scheduler", map[string]string{"SCHEDULER_MIN_INTERVAL": "1h", "SCHEDULER_TICK": "1h"}),
		d.start("worker", "w1", over), d.start("worker", "w2", over),
	}
	d.publish("c1")
	d.waitObserved(time.Time{}, 30*time.Second)
	if err := d.drainedWithin(10 * time.Second); err != nil {
		t.Fatal(err)
	}

	d.openAll()
	d.sim.SetLatency(200 * time.Millisecond)
	opened := time.Now()
	d.publish("c2")
	ctx := context.Background()
	testenv.Eventually(t, 30*time.Second, func() error {
		p, err := d.rdb.XPending(ctx, d.keys.Stream(), d.keys.Group()).Result()
		if err != nil {
			return err
		}
		if p.Count == 0 {
			return testenv.ErrNotYet
		}
		return nil
	})
	pg.crash(outage)
	back := time.Now()
	recovered := readyAgain(t, back, procs...)
	d.waitObserved(opened, 60*time.Second)
	resumed := time.Since(back)
	missing, dupes := d.waitEmails(60 * time.Second)
	unchecked, err := d.unobserved(opened)
	if err != nil {
		t.Fatal(err)
	}
	if missing != 0 || dupes != 0 {
		t.Errorf("emails: %d missing, %d duplicates: %v", missing, dupes, d.emailCounts())
	}
	for _, p := range procs {
		if !p.Alive() {
			t.Errorf("%s exited", p.name)
		}
	}
	if dl := d.deadLetters(); len(dl) != 0 {
		t.Errorf("%d dead letters: %+v", len(dl), dl)
	}
	rep.add(1, len(unchecked)+missing, dupes)
	rep.Recovery = seconds(recovered) + " to ready"
	rep.figure("per service /readyz after PostgreSQL came back: %s", seconds(recovered))
	rep.figure("every section of the cycle durable %.2f s after PostgreSQL came back", resumed.Seconds())
	rep.figure("emails due %d, missing %d, duplicates %d", d.dueEmails(), missing, dupes)
}

// drainedWithin waits until the queue is drained.
func (d *deployment) drainedWithin(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := d.drained()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		<-time.After(20 * time.Millisecond)
	}
}

// readyAgain waits until every process answers /readyz and returns how
// long after since each first did; more than 10 s fails the test.
func readyAgain(t *testing.T, since time.Time, procs ...*process) []time.Duration {
	t.Helper()
	took := make([]time.Duration, len(procs))
	testenv.Eventually(t, 30*time.Second, func() error {
		var errs []error
		for i, p := range procs {
			if took[i] != 0 {
				continue
			}
			if err := p.ready(); err != nil {
				errs = append(errs, err)
				continue
			}
			took[i] = time.Since(since)
		}
		return errors.Join(errs...)
	})
	for i, p := range procs {
		if took[i] > 10*time.Second {
			t.Errorf("%s ready again after %s, want ≤ 10 s", p.name, took[i])
		}
	}
	return took
}
