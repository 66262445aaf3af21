package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pickmyclass/pickmyclass/pkg/check"
	"github.com/pickmyclass/pickmyclass/pkg/testenv"
)

// SMTP refusing every message (451) while seats open: the claims are
// released for retry, nothing is accepted, and once SMTP is back every
// alert is delivered — once.
func TestSMTPDown(t *testing.T) {
	t.Parallel()
	outage := 3 * time.Second
	if full {
		outage = 20 * time.Second
	}
	rep := report(t, 5, "SMTP down for a while",
		fmt.Sprintf("the SMTP server answers 451 (try again later) to every recipient for %s while every watched section (4 courses × 2 sections, 2 watchers) opens; two worker processes, retry sweep every 100 ms", outage),
		"no email accepted during the outage; every claim released with its error (pending, attempts ≥ 1, retried after a back-off); after recovery every due email accepted exactly once and recorded as sent")
	d := newDeployment(t, infra{}, courses(4, 2), "ana@example.edu", "ben@example.edu")
	d.start("worker", "w1", nil)
	d.start("worker", "w2", nil)
	d.publish("c1")
	d.waitObserved(time.Time{}, 30*time.Second)

	d.sink.SetFailure(451, "try again later")
	down := time.Now()
	d.openAll()
	d.publish("c2")
	d.waitObserved(down, 30*time.Second)
	ctx := context.Background()
	testenv.Eventually(t, 30*time.Second, func() error {
		var pending, tried int
		err := d.db.Pool().QueryRow(ctx, `SELECT count(*) FILTER (WHERE status = 'pending'),
			count(*) FILTER (WHERE status = 'pending' AND attempts >= 1 AND last_error <> '')
			FROM notifications`).Scan(&pending, &tried)
		if err != nil {
			return err
		}
		if pending != d.dueEmails() || tried != d.dueEmails() {
			return fmt.Errorf("%d pending, %d released after an attempt, want %d", pending, tried, d.dueEmails())
		}
		return nil
	})
	<-time.After(time.Until(down.Add(outage))) // the rest of the outage
	if n := len(d.sink.Messages()); n != 0 {
		t.Fatalf("%d emails accepted while SMTP refused them", n)
	}
	var attempts int
	if err := d.db.Pool().QueryRow(ctx, `SELECT coalesce(sum(attempts), 0) FROM notifications`).Scan(&attempts); err != nil {
		t.Fatal(err)
	}
	d.sink.SetFailure(0, "")
	up := time.Now()
	t.Logf("SMTP accepts again at %s", up.UTC().Format(time.RFC3339Nano))
	missing, dupes := d.waitEmails(60 * time.Second)
	took := time.Since(up)
	if missing != 0 || dupes != 0 {
		t.Errorf("emails: %d missing, %d duplicates: %v", missing, dupes, d.emailCounts())
	}
	rep.add(1, missing, dupes)
	rep.Recovery = fmt.Sprintf("%.2f s to deliver every alert", took.Seconds())
	rep.figure("send attempts refused during the outage: %d for %d due emails", attempts, d.dueEmails())
	rep.figure("emails due %d, accepted after recovery %d, duplicates %d", d.dueEmails(), len(d.sink.Messages()), dupes)
}

// stillQueuedLog matches a scheduler's report of a sweep that found checks
// of the one before still waiting.
var stillQueuedLog = regexp.MustCompile(`"sweep":"(\d+)"[^\n]*"still_queued":[1-9]`)

// The scheduler leader SIGKILLed at random moments, repeatedly, with a
// replacement started each time: another scheduler takes the lease within
// its TTL, and every cycle from the first to the last is enqueued, each
// course once.
func TestSchedulerLeaderKilled(t *testing.T) {
	t.Parallel()
	kills := 2
	if full {
		kills = 6
	}
	const (
		interval = 3 * time.Second
		ttl      = time.Second
	)
	rep := report(t, 6, "Scheduler leader killed",
		fmt.Sprintf("two scheduler processes (sweeps of %s, lease TTL %s); the leader is SIGKILLed at a random moment %d times, a new scheduler started after each kill", interval, ttl, kills),
		"a follower holds the lease within TTL + one renewal tick (+ 1 s for a busy machine); every sweep from the first to the last enqueued, each of the 3 courses exactly once per sweep")
	d := newDeployment(t, infra{}, courses(3, 1), "ana@example.edu")
	over := map[string]string{"SCHEDULER_INTERVAL": "1m", "SCHEDULER_MIN_INTERVAL": interval.String(),
		"SCHEDULER_PLAN": "per-course", "SCHEDULER_LEASE_TTL": ttl.String()}
	scheds := []*process{d.start("scheduler", "s1", over), d.start("scheduler", "s2", over)}
	// A worker takes the checks, so no sweep finds an earlier one's still
	// waiting (which it would not enqueue again).
	d.start("worker", "w1", nil)
	ctx := context.Background()
	leader := func() (string, *process, error) {
		tok, err := d.rdb.Get(ctx, d.keys.Leader()).Result()
		if err != nil {
			return "", nil, err
		}
		for _, p := range scheds {
			if p.Alive() && strings.Contains(p.logs.String(), tok) {
				return tok, p, nil
			}
		}
		return tok, nil, fmt.Errorf("no live scheduler logged token %s", tok)
	}
	var takeovers []time.Duration
	for i := range kills {
		var (
			tok    string
			victim *process
		)
		testenv.Eventually(t, 20*time.Second, func() error {
			var err error
			tok, victim, err = leader()
			return err
		})
		// A deliberate random point within a cycle.
		<-time.After(time.Duration(rand.IntN(int(interval/time.Millisecond))) * time.Millisecond)
		victim.Kill()
		killed := time.Now()
		testenv.Eventually(t, 10*time.Second, func() error {
			now, err := d.rdb.Get(ctx, d.keys.Leader()).Result()
			if err == redis.Nil || (err == nil && now == tok) {
				return testenv.ErrNotYet
			}
			return err
		})
		took := time.Since(killed)
		takeovers = append(takeovers, took)
		if limit := ttl + ttl/3 + time.Second; took > limit {
			t.Errorf("kill %d: a new leader after %s, want ≤ %s", i+1, took, limit)
		}
		scheds = append(scheds, d.start("scheduler", fmt.Sprintf("s%d", len(scheds)+1), over))
	}
	// Two more cycles under the last leader.
	end := time.Now().Add(2 * interval)
	<-time.After(time.Until(end))

	entries, err := d.rdb.XRange(ctx, d.keys.Stream(), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	// A sweep enqueues fewer courses than planned only when a scheduler
	// logged that their checks were still waiting from the one before (a
	// worker slow to read them).
	waited := map[int]bool{}
	for _, p := range scheds {
		for _, m := range stillQueuedLog.FindAllStringSubmatch(p.logs.String(), -1) {
			id, _ := strconv.Atoi(m[1])
			waited[id] = true
		}
	}
	perCycle := map[string]map[string]int{}
	for _, e := range entries {
		data, _ := e.Values["data"].(string)
		c, err := check.Decode([]byte(data))
		if err != nil {
			t.Fatal(err)
		}
		if perCycle[c.Sweep] == nil {
			perCycle[c.Sweep] = map[string]int{}
		}
		perCycle[c.Sweep][c.Course.String()]++
	}
	first, last := -1, -1
	doubled := 0
	for cycle, cs := range perCycle {
		for course, n := range cs {
			if n != 1 {
				doubled += n - 1
				t.Errorf("cycle %s enqueued %s %d times", cycle, course, n)
			}
		}
		id, err := strconv.Atoi(cycle)
		if err != nil {
			t.Fatalf("sweep id %q: %v", cycle, err)
		}
		if len(cs) != 3 && !waited[id] {
			t.Errorf("cycle %s enqueued %d of 3 courses: %v", cycle, len(cs), cs)
		}
		if first < 0 || id < first {
			first = id
		}
		last = max(last, id)
	}
	// Sweeps are numbered one after another; a gap is a sweep that
	// enqueued nothing and had nothing waiting.
	span := last - first + 1
	skipped := 0
	for id := first; id <= last; id++ {
		if perCycle[strconv.Itoa(id)] == nil && !waited[id] {
			skipped++
		}
	}
	if skipped != 0 {
		t.Errorf("%d sweeps from %d to %d enqueued, %d with checks still waiting; want %d: %d skipped", len(perCycle), first, last, len(waited), span, skipped)
	}
	rep.add(kills, skipped, doubled)
	rep.Recovery = seconds(takeovers) + " to a new leader"
	rep.figure("sweeps enqueued: %d (sweeps %d to %d), skipped %d, courses enqueued twice %d", len(perCycle), first, last, skipped, doubled)
	rep.figure("leader takeover after SIGKILL: %s (lease TTL %s)", seconds(takeovers), ttl)
}
