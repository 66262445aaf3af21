package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// Workers SIGKILLed at a random moment of a cycle in which every watched
// section opens: a restarted worker (same name, as a container restart
// gives) and the surviving one finish the cycle; every section is checked
// and every watcher gets exactly one email per section.
func TestWorkerKilledMidCycle(t *testing.T) {
	t.Parallel()
	trials := 3
	if full {
		trials = 20
	}
	rep := report(t, 1, "Workers SIGKILLed mid-cycle",
		fmt.Sprintf("two worker processes; at a random moment (0–900 ms) of a cycle of 8 courses × 2 sections in which every section opens, one is SIGKILLed and restarted under its name 0–500 ms later; %d trials; upstream latency 120 ms; visibility timeout 1.5 s", trials),
		"every due section checked; every due email (2 watchers × 16 sections per trial) accepted, none lost; an email is repeated only if the kill fell between the SMTP server's acceptance and the recorded send (at most the 3 sends in flight in the killed worker); queue drained; no dead letter")
	var recovery []time.Duration
	hits, totalDupes := 0, 0
	const inFlightSends = 3 // WORKER_CONCURRENCY handlers + the sweeper
	for i := range trials {
		ok := t.Run(fmt.Sprintf("trial%02d", i+1), func(t *testing.T) {
			d := newDeployment(t, infra{}, courses(8, 2), "ana@example.edu", "ben@example.edu")
			over := map[string]string{"WORKER_CONCURRENCY": "2"}
			workers := []*process{d.start("worker", "w1", over), d.start("worker", "w2", over)}
			d.publish("c1")
			d.waitObserved(time.Time{}, 30*time.Second)

			d.openAll()
			d.sim.SetLatency(120 * time.Millisecond)
			opened := time.Now()
			d.publish("c2")
			victim := rand.IntN(2)
			// A deliberate, random point of the cycle to crash at.
			<-time.After(time.Duration(rand.IntN(900)) * time.Millisecond)
			held := pendingOf(t, d, workers[victim].name)
			workers[victim].Kill()
			if held > 0 {
				hits++
			}
			<-time.After(time.Duration(rand.IntN(500)) * time.Millisecond)
			workers[victim] = d.start("worker", workers[victim].name, over)

			d.waitObserved(opened, 60*time.Second)
			missing, dupes := d.waitEmails(60 * time.Second)
			recovery = append(recovery, time.Since(opened))
			rep.add(1, missing, dupes)
			// SMTP has no idempotency: a worker killed after the server
			// accepted an email but before it recorded the send (one
			// database round trip) leaves that email to be sent again.
			// At most the sends in flight in the killed process can be
			// repeated: one per handler plus the sweeper.
			if missing != 0 || dupes > inFlightSends {
				t.Errorf("emails: %d missing, %d duplicates (at most %d allowed): %v", missing, dupes, inFlightSends, d.emailCounts())
			}
			totalDupes += dupes
			if dl := d.deadLetters(); len(dl) != 0 {
				t.Errorf("%d dead letters: %+v", len(dl), dl)
			}
		})
		if !ok {
			break
		}
	}
	rep.Recovery = seconds(recovery) + " to finish the cycle"
	rep.figure("kills that caught the victim holding pending entries: %d of %d", hits, len(recovery))
	rep.figure("emails sent twice because the kill fell between SMTP acceptance and the recorded send: %d in %d trials", totalDupes, len(recovery))
	rep.figure("cycle completion after the opening (crash and restart included): %s", seconds(recovery))
}

// pendingOf returns how many entries consumer holds pending.
func pendingOf(t *testing.T, d *deployment, consumer string) int64 {
	t.Helper()
	p, err := d.rdb.XPending(context.Background(), d.keys.Stream(), d.keys.Group()).Result()
	if err != nil {
		return 0
	}
	return p.Consumers[consumer]
}
