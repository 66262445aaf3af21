package chaos

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/check"
	"github.com/pickmyclass/pickmyclass/pkg/store"
	"github.com/pickmyclass/pickmyclass/pkg/store/storetest"
	"github.com/pickmyclass/pickmyclass/pkg/stream"
	"github.com/pickmyclass/pickmyclass/pkg/testenv"
)

// Course watches under worker crashes: every course of the catalog is
// watched whole by two users; one section of each opens, and the checks
// that see it are hit by a worker SIGKILL at a random moment. Every course
// watch is alerted exactly once.
func TestCourseWatchesKilled(t *testing.T) {
	t.Parallel()
	trials := 3
	if full {
		trials = 20
	}
	const nCourses = 20
	rep := report(t, 9, "Course watches, worker SIGKILLed",
		fmt.Sprintf("%d courses of 4 sections, each watched whole (course watches) by 2 users; one section of every course opens; two workers, one SIGKILLed at a random moment (0–700 ms) of the whole-course checks and restarted 0–500 ms later; %d trials; upstream latency 50 ms; visibility timeout 1.5 s", nCourses, trials),
		"every course watch alerted exactly once (a repeat only for a send in flight in the killed worker), every claim recorded as sent, queue drained, no dead letter")
	const inFlightSends = 5 // WORKER_CONCURRENCY handlers + the sweeper
	var recovery []time.Duration
	for i := range trials {
		ok := t.Run(fmt.Sprintf("trial%02d", i+1), func(t *testing.T) {
			secs := courses(nCourses, 4)
			d := newDeployment(t, infra{}, secs)
			var keys []catalog.CourseKey
			for _, email := range []string{"ana@example.edu", "ben@example.edu"} {
				u := storetest.User(t, d.db, email)
				for c := range nCourses {
					k := catalog.CourseKey{Term: "2267", Subject: "CSE", CatalogNbr: fmt.Sprint(100 + c)}
					if _, err := d.db.CreateWatch(context.Background(), u.ID, store.NewWatch{Kind: catalog.WatchCourse,
						Term: k.Term, Subject: k.Subject, CatalogNbr: k.CatalogNbr}, math.MaxInt32); err != nil {
						t.Fatal(err)
					}
					if email == "ana@example.edu" {
						keys = append(keys, k)
					}
				}
			}
			workers := []*process{d.start("worker", "w1", nil), d.start("worker", "w2", nil)}
			d.publishWhole("s0", keys)
			testenv.Eventually(t, 30*time.Second, func() error {
				var n int
				if err := d.db.Pool().QueryRow(context.Background(), `SELECT count(*) FROM class_watches WHERE baselined`).Scan(&n); err != nil {
					return err
				}
				if n != 2*nCourses {
					return fmt.Errorf("%d of %d course watches have seen their course", n, 2*nCourses)
				}
				return nil
			})

			for c := range nCourses {
				if err := d.sim.SetSeats(secs[c*4+rand.IntN(4)].Key(), 1, -1); err != nil {
					t.Fatal(err)
				}
			}
			d.sim.SetLatency(50 * time.Millisecond)
			opened := time.Now()
			d.publishWhole("s1", keys)
			<-time.After(time.Duration(rand.IntN(700)) * time.Millisecond)
			victim := rand.IntN(2)
			workers[victim].Kill()
			<-time.After(time.Duration(rand.IntN(500)) * time.Millisecond)
			workers[victim] = d.start("worker", workers[victim].name, nil)

			due := 2 * nCourses
			testenv.Eventually(t, 60*time.Second, func() error {
				if n := len(d.sink.Messages()); n < due {
					return fmt.Errorf("%d of %d emails", n, due)
				}
				var sent, total int
				if err := d.db.Pool().QueryRow(context.Background(),
					`SELECT count(*) FILTER (WHERE status = 'sent'), count(*) FROM notifications`).Scan(&sent, &total); err != nil {
					return err
				}
				if sent != due || total != due {
					return fmt.Errorf("notifications: %d sent of %d, want %d", sent, total, due)
				}
				return d.drained()
			})
			recovery = append(recovery, time.Since(opened))
			perUser := map[string]int{}
			for _, m := range d.sink.Messages() {
				for _, to := range m.To {
					perUser[to]++
				}
			}
			missing, dupes := 0, 0
			for _, email := range []string{"ana@example.edu", "ben@example.edu"} {
				missing += max(nCourses-perUser[email], 0)
				dupes += max(perUser[email]-nCourses, 0)
			}
			rep.add(1, missing, dupes)
			if missing != 0 || dupes > inFlightSends {
				t.Errorf("emails %d missing, %d duplicates (at most %d allowed): %v", missing, dupes, inFlightSends, perUser)
			}
			if dl := d.deadLetters(); len(dl) != 0 {
				t.Errorf("%d dead letters: %+v", len(dl), dl)
			}
		})
		if !ok {
			break
		}
	}
	rep.Recovery = seconds(recovery) + " to alert every course watch"
	rep.figure("opening to the last alert (crash and restart included): %s", seconds(recovery))
}

// publishWhole enqueues a whole-course check of each course for a sweep,
// as the scheduler does for course watches.
func (d *deployment) publishWhole(sweep string, keys []catalog.CourseKey) {
	d.t.Helper()
	var msgs []stream.Message
	for _, k := range keys {
		msg, err := check.Message(check.Check{Course: k, WholeCourse: true, Sweep: sweep, EnqueuedAt: time.Now()})
		if err != nil {
			d.t.Fatal(err)
		}
		msgs = append(msgs, msg)
	}
	if _, err := stream.NewPublisher(d.rdb, d.keys.Stream(), stream.PublisherOptions{}).Publish(context.Background(), msgs...); err != nil {
		d.t.Fatal(err)
	}
}
