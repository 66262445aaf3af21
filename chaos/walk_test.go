package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asusim"
	"github.com/pickmyclass/pickmyclass/pkg/check"
	"github.com/pickmyclass/pickmyclass/pkg/stream"
)

// walkFault is one way a subject walk is broken part-way. A fault aimed at
// a page is armed before the walk; one without a page strikes at a random
// moment of it.
type walkFault struct {
	name   string
	atPage bool
	apply  func(d *deployment) error
}

var walkFaults = []walkFault{
	{"scroll contexts dropped", false, func(d *deployment) error { d.sim.ExpireScrolls(); return nil }},
	{"503 on page 3", true, func(d *deployment) error {
		return d.sim.InjectFault(asusim.Fault{Kind: asusim.FaultStatus, Status: 503, Page: 3, Count: 1})
	}},
	{"429 on page 2", true, func(d *deployment) error {
		return d.sim.InjectFault(asusim.Fault{Kind: asusim.FaultStatus, Status: 429, RetryAfterSeconds: 1, Page: 2, Count: 1})
	}},
	{"page 4 truncated to 50 rows", true, func(d *deployment) error {
		return d.sim.InjectFault(asusim.Fault{Kind: asusim.FaultTruncated, Rows: 50, Page: 4, Count: 1})
	}},
	{"page 2 cut mid-JSON", true, func(d *deployment) error {
		return d.sim.InjectFault(asusim.Fault{Kind: asusim.FaultMalformed, Page: 2, Count: 1})
	}},
}

// Subject walks broken part-way while a worker is SIGKILLed: the watched
// sections sit on different scroll pages of a 1,000-section subject, every
// one opens, and the single walk entry that checks them all is hit by a
// worker crash plus one of the walk faults. The walk is retried or started
// over until one complete walk is recorded: every opening alerted once, no
// watched section concluded "not found" from a partial walk.
func TestWalksKilledAndFaulted(t *testing.T) {
	t.Parallel()
	trials := len(walkFaults)
	if full {
		trials = 4 * len(walkFaults)
	}
	rep := report(t, 8, "Subject walks broken part-way",
		fmt.Sprintf("one walk entry covers 10 watched sections spread over the 5 scroll pages of a 1,000-section subject, every one of them opening; two workers, one SIGKILLed at a random moment (0–700 ms) of the walk and restarted 0–500 ms later, and at a random moment (0–700 ms) one of: %s (in turn); %d trials; upstream latency 100 ms a page; visibility timeout 1.5 s", faultNames(), trials),
		"every watched section observed after the opening, every due email (2 watchers × 10 sections) accepted once (a repeat only for a send in flight in the killed worker), no watched section marked not found, queue drained, no dead letter")
	const inFlightSends = 3 // WORKER_CONCURRENCY handlers + the sweeper
	var recovery []time.Duration
	restarts := 0
	for i := range trials {
		fault := walkFaults[i%len(walkFaults)]
		ok := t.Run(fmt.Sprintf("trial%02d", i+1), func(t *testing.T) {
			catalogSecs := courses(250, 4)
			var watched []asusim.SectionSpec
			for k := 50; k < len(catalogSecs); k += 100 {
				watched = append(watched, catalogSecs[k])
			}
			d := newDeployment(t, infra{}, watched, "ana@example.edu", "ben@example.edu")
			for _, s := range catalogSecs {
				if _, ok := d.sim.Section(s.Key()); !ok {
					if err := d.sim.AddSection(s); err != nil {
						t.Fatal(err)
					}
				}
			}
			over := map[string]string{"WORKER_CONCURRENCY": "2"}
			workers := []*process{d.start("worker", "w1", over), d.start("worker", "w2", over)}
			d.publishWalk("s0")
			d.waitObserved(time.Time{}, 30*time.Second)

			d.openAll()
			d.sim.SetLatency(100 * time.Millisecond)
			before := d.sim.State(false)
			strike := func() {
				if err := fault.apply(d); err != nil {
					t.Fatal(err)
				}
			}
			if fault.atPage {
				strike()
			}
			opened := time.Now()
			d.publishWalk("s1")
			faultAt := time.After(time.Duration(rand.IntN(700)) * time.Millisecond)
			killAt := time.After(time.Duration(rand.IntN(700)) * time.Millisecond)
			for range 2 {
				select {
				case <-faultAt:
					if !fault.atPage {
						strike()
					}
				case <-killAt:
					victim := rand.IntN(2)
					workers[victim].kill()
					<-time.After(time.Duration(rand.IntN(500)) * time.Millisecond)
					workers[victim] = d.start("worker", workers[victim].name, over)
				}
			}

			d.waitObserved(opened, 60*time.Second)
			missing, dupes := d.waitEmails(60 * time.Second)
			recovery = append(recovery, time.Since(opened))
			restarts += int(d.sim.State(false).FirstPages - before.FirstPages - 1)
			rep.add(1, missing, dupes)
			if missing != 0 || dupes > inFlightSends {
				t.Errorf("%s: emails %d missing, %d duplicates (at most %d allowed): %v", fault.name, missing, dupes, inFlightSends, d.emailCounts())
			}
			for _, s := range watched {
				st, err := d.db.GetSectionState(context.Background(), s.Key())
				if err != nil {
					t.Fatal(err)
				}
				if st.NotFoundAt != nil {
					t.Errorf("%s: %s marked not found after a broken walk", fault.name, s.ClassNbr)
				}
			}
			// An armed fault is used up by the walk it broke.
			if left := d.sim.State(false).Faults; fault.atPage && len(left) != 0 {
				t.Errorf("%s: fault never reached: %+v", fault.name, left)
			}
			if dl := d.deadLetters(); len(dl) != 0 {
				t.Errorf("%s: %d dead letters: %+v", fault.name, len(dl), dl)
			}
		})
		if !ok {
			break
		}
	}
	rep.Recovery = seconds(recovery) + " to alert every opening"
	rep.figure("walks started over or retried after the faults: %d in %d trials", restarts, len(recovery))
	rep.figure("opening to the last alert (faults, crash and restart included): %s", seconds(recovery))
}

func faultNames() string {
	s := ""
	for i, f := range walkFaults {
		if i > 0 {
			s += ", "
		}
		s += f.name
	}
	return s
}

// publishWalk enqueues one walk of subject CSE covering every watched
// section of the deployment, as the scheduler does for a subject plan.
func (d *deployment) publishWalk(sweep string) {
	d.t.Helper()
	w := check.Walk{Scan: catalog.ScanKey{Term: "2267", Subject: "CSE"}, Sweep: sweep, EnqueuedAt: time.Now()}
	for _, s := range d.secs {
		w.Courses = append(w.Courses, check.Check{
			Course:    catalog.CourseKey{Term: s.Term, Subject: s.Subject, CatalogNbr: s.CatalogNbr},
			ClassNbrs: []string{s.ClassNbr},
		})
	}
	msg, err := check.WalkMessage(w)
	if err != nil {
		d.t.Fatal(err)
	}
	if _, err := stream.NewPublisher(d.rdb, d.keys.Stream(), stream.PublisherOptions{}).Publish(context.Background(), msg); err != nil {
		d.t.Fatal(err)
	}
}
