package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asusim"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asusim/asusimtest"
	"github.com/pickmyclass/pickmyclass/pkg/check"
	"github.com/pickmyclass/pickmyclass/pkg/notify/smtptest"
	"github.com/pickmyclass/pickmyclass/pkg/store"
	"github.com/pickmyclass/pickmyclass/pkg/store/storetest"
	"github.com/pickmyclass/pickmyclass/pkg/stream"
	"github.com/pickmyclass/pickmyclass/pkg/testenv"
	"github.com/pickmyclass/pickmyclass/pkg/testenv/child"
)

// bundle is one isolated deployment for a test: its own database, Redis key
// prefix, simulated catalog and SMTP sink.
type bundle struct {
	t      *testing.T
	db     *store.DB
	dbURL  string
	rdb    *redis.Client
	keys   check.Keys
	sim    *asusim.Server
	simURL string
	sink   *smtptest.Sink
	env    map[string]string
	users  map[string]store.User
}

func setup(t *testing.T, sc asusim.Scenario) *bundle {
	t.Helper()
	b := &bundle{t: t}
	b.db, b.dbURL = storetest.NewDB(t)
	var prefix string
	b.rdb, prefix = testenv.Redis(t)
	b.keys = check.Keys{Prefix: prefix}
	b.sim, b.simURL = asusimtest.Start(t, sc)
	b.sink = smtptest.Start(t)
	b.env = map[string]string{
		"DATABASE_URL":              b.dbURL,
		"REDIS_URL":                 testenv.RedisURL(t),
		"REDIS_PREFIX":              prefix,
		"LOG_LEVEL":                 "debug",
		"MIGRATE_ON_START":          "false",
		"WORKER_OPS_ADDR":           "127.0.0.1:0",
		"WORKER_CONCURRENCY":        "8",
		"WORKER_VISIBILITY_TIMEOUT": "3s",
		"WORKER_SHUTDOWN_TIMEOUT":   "5s",
		"WORKER_SWEEP_INTERVAL":     "100ms",
		"WORKER_SEND_RETRY_BASE":    "100ms",
		"WORKER_SEND_RETRY_MAX":     "500ms",
		"ASU_API_BASE_URL":          b.simURL,
		"ASU_TIMEOUT":               "2s",
		"ASU_RATE":                  "1000",
		"ASU_BURST":                 "1000",
		"ASU_SECTIONS_RATE":         "1000000",
		"SMTP_URL":                  fmt.Sprintf("smtp://%s?tls=none", b.sink.Addr()),
		"MAIL_RATE":                 "1000",
		"UNSUBSCRIBE_SECRET":        "test-secret-test-secret-test-secret-0123",
		"PUBLIC_BASE_URL":           "https://pickmyclass.test",
		"SCHEDULER_INTERVAL":        "1s",
		"SCHEDULER_LEASE_TTL":       "2s",
		"SCHEDULER_OPS_ADDR":        "127.0.0.1:0",
	}
	return b
}

// getenv returns the bundle's environment with overrides.
func (b *bundle) getenv(over map[string]string) func(string) string {
	return func(k string) string {
		if v, ok := over[k]; ok {
			return v
		}
		return b.env[k]
	}
}

// startWorker runs a worker in this process until the test ends (or stop is
// called), and waits until it serves its ops port.
func (b *bundle) startWorker(name string, over map[string]string) (stop func()) {
	b.t.Helper()
	env := map[string]string{"WORKER_NAME": name}
	for k, v := range over {
		env[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	logs := &testenv.SyncBuffer{}
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, b.getenv(env), logs, func(a net.Addr) { ready <- a }) }()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		b.t.Fatalf("worker %s exited at start: %v\n%s", name, err, logs)
	case <-time.After(30 * time.Second):
		cancel()
		b.t.Fatalf("worker %s did not start\n%s", name, logs)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				b.t.Errorf("worker %s: %v", name, err)
			}
			if b.t.Failed() {
				b.t.Logf("worker %s logs:\n%s", name, logs)
			}
		})
	}
	b.t.Cleanup(stop)
	return stop
}

// binary builds a service of the workspace once per test process.
func binary(t *testing.T, service string) string {
	t.Helper()
	return testenv.Binary(t, "github.com/pickmyclass/pickmyclass/services/"+service)
}

// startProcess runs a service binary with the bundle's environment.
func (b *bundle) startProcess(service string, over map[string]string) *child.Process {
	b.t.Helper()
	cmd := exec.Command(binary(b.t, service))
	cmd.Env = os.Environ()
	for k := range b.env {
		v := b.getenv(over)(k)
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	for k, v := range over {
		if _, ok := b.env[k]; !ok {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	logs := &testenv.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	p, err := child.Start(cmd)
	if err != nil {
		b.t.Fatalf("start %s: %v", service, err)
	}
	b.t.Cleanup(func() {
		p.Stop(20 * time.Second)
		if b.t.Failed() {
			b.t.Logf("%s logs:\n%s", service, logs)
		}
	})
	return p
}

// crashHolding starts a worker named doomed (1.5 s visibility timeout),
// runs enqueue, waits until asked reports that the check reached the
// university and doomed holds its entry, then kills doomed as a crash
// would, leaving the entry pending for another worker to reclaim.
func (b *bundle) crashHolding(enqueue func(), asked func() error) {
	b.t.Helper()
	doomed := b.startProcess("worker", map[string]string{"WORKER_NAME": "doomed", "WORKER_VISIBILITY_TIMEOUT": "1500ms", "ASU_TIMEOUT": "1s"})
	enqueue()
	testenv.Eventually(b.t, 60*time.Second, func() error {
		if err := asked(); err != nil {
			return err
		}
		p, err := b.rdb.XPending(context.Background(), b.keys.Stream(), b.keys.Group()).Result()
		if err != nil {
			return err
		}
		if p.Consumers["doomed"] != 1 {
			return fmt.Errorf("pending by consumer: %v", p.Consumers)
		}
		return nil
	})
	doomed.Kill()
}

// watch makes email an active user (once) watching the section.
func (b *bundle) watch(email string, sec asusim.SectionSpec) store.User {
	b.t.Helper()
	u := b.user(email)
	storetest.Watch(b.t, b.db, u.ID, sec.Term, sec.ClassNbr, sec.Subject, sec.CatalogNbr)
	return u
}

// user returns the active user of email, made on first use.
func (b *bundle) user(email string) store.User {
	b.t.Helper()
	if b.users == nil {
		b.users = map[string]store.User{}
	}
	u, ok := b.users[email]
	if !ok {
		u = storetest.User(b.t, b.db, email)
		b.users[email] = u
	}
	return u
}

// publish enqueues a check of each course's given sections for a cycle, as
// the scheduler does.
func (b *bundle) publish(cycle string, secs ...asusim.SectionSpec) {
	b.t.Helper()
	var sections []catalog.Section
	for _, s := range secs {
		sections = append(sections, catalog.Section{Term: s.Term, ClassNbr: s.ClassNbr, Subject: s.Subject, CatalogNbr: s.CatalogNbr})
	}
	var msgs []stream.Message
	for _, c := range check.ForSections(cycle, time.Now(), sections...) {
		msg, err := check.Message(c)
		if err != nil {
			b.t.Fatal(err)
		}
		msgs = append(msgs, msg)
	}
	pub := stream.NewPublisher(b.rdb, b.keys.Stream(), stream.PublisherOptions{})
	if _, err := pub.Publish(context.Background(), msgs...); err != nil {
		b.t.Fatal(err)
	}
}

// observedAfter waits until the section's state was observed after t.
func (b *bundle) observedAfter(key catalog.SectionKey, after time.Time, timeout time.Duration) store.SectionState {
	b.t.Helper()
	var st store.SectionState
	testenv.Eventually(b.t, timeout, func() error {
		var err error
		st, err = b.db.GetSectionState(context.Background(), key)
		if err != nil {
			return err
		}
		if !st.ObservedAt.After(after) {
			return fmt.Errorf("%s last observed at %s", key, st.ObservedAt)
		}
		return nil
	})
	return st
}

// queue returns the stream's figures.
func (b *bundle) queue() stream.Stats {
	b.t.Helper()
	st, err := stream.Inspect(context.Background(), b.rdb, b.keys.Stream(), b.keys.Group(), b.keys.DeadLetter())
	if err != nil {
		b.t.Fatal(err)
	}
	return st
}

// section is a scenario section spec.
func section(term, nbr, subject, catalogNbr string, capacity, enrolled int) asusim.SectionSpec {
	return asusim.SectionSpec{
		Term: term, ClassNbr: nbr, Subject: subject, CatalogNbr: catalogNbr, Section: "0001",
		Title: subject + " " + catalogNbr, Capacity: capacity, Enrolled: enrolled,
		Instructors: []catalog.Instructor{{Name: "Ada Lovelace", ID: "alovela1"}},
	}
}

func scenario(secs ...asusim.SectionSpec) asusim.Scenario {
	return asusim.Scenario{
		Terms:    []catalog.Term{{Code: "2267", Name: "Fall 2026"}, {Code: "2271", Name: "Spring 2027"}},
		Sections: secs,
	}
}

// recipients lists the To addresses of the sink's messages.
func recipients(msgs []smtptest.Message) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.To...)
	}
	return out
}
