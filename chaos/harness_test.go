package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
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
)

// deployment is one isolated copy of the system for a scenario: its own
// database, Redis key prefix, simulated catalog and SMTP sink, and the
// service processes started on them.
type deployment struct {
	t        *testing.T
	db       *store.DB
	dbURL    string
	rdb      *redis.Client
	redisURL string
	keys     check.Keys
	sim      *asusim.Server
	sink     *smtptest.Sink
	env      map[string]string
	secs     []asusim.SectionSpec
	watchers map[catalog.SectionKey][]string
}

// infra says where a deployment's PostgreSQL and Redis are; empty fields
// mean the shared test servers (TEST_DATABASE_URL, TEST_REDIS_URL).
type infra struct {
	postgresServer string // a server URL; the deployment creates its own database on it
	redisURL       string
}

// newDeployment seeds secs into a fresh deployment, each section watched by
// every address in watchers.
func newDeployment(t *testing.T, in infra, secs []asusim.SectionSpec, watchers ...string) *deployment {
	t.Helper()
	d := &deployment{t: t, secs: secs, watchers: map[catalog.SectionKey][]string{}}
	if in.postgresServer == "" {
		d.db, d.dbURL = storetest.NewDB(t)
	} else {
		d.db, d.dbURL = privateDB(t, in.postgresServer)
	}
	var prefix string
	if in.redisURL == "" {
		d.redisURL = testenv.RedisURL(t)
		d.rdb, prefix = testenv.Redis(t)
	} else {
		d.redisURL = in.redisURL
		opts, err := redis.ParseURL(in.redisURL)
		if err != nil {
			t.Fatal(err)
		}
		d.rdb = redis.NewClient(opts)
		t.Cleanup(func() { _ = d.rdb.Close() })
		prefix = "chaos:" + testenv.RandomID() + ":"
	}
	d.keys = check.Keys{Prefix: prefix}
	var simURL string
	d.sim, simURL = asusimtest.Start(t, asusim.Scenario{
		Terms:    []catalog.Term{{Code: "2267", Name: "Fall 2026"}},
		Sections: secs,
	})
	d.sink = smtptest.Start(t)
	d.env = map[string]string{
		"DATABASE_URL":              d.dbURL,
		"REDIS_URL":                 d.redisURL,
		"REDIS_PREFIX":              prefix,
		"LOG_LEVEL":                 "debug",
		"MIGRATE_ON_START":          "false",
		"WORKER_CONCURRENCY":        "4",
		"WORKER_VISIBILITY_TIMEOUT": "1500ms",
		"WORKER_SHUTDOWN_TIMEOUT":   "2s",
		"WORKER_SWEEP_INTERVAL":     "100ms",
		"WORKER_SEND_LEASE":         "1s",
		"WORKER_SEND_RETRY_BASE":    "100ms",
		"WORKER_SEND_RETRY_MAX":     "1s",
		"ASU_API_BASE_URL":          simURL,
		"ASU_TIMEOUT":               "1s",
		"ASU_RATE":                  "1000",
		"ASU_BURST":                 "1000",
		"ASU_SECTIONS_RATE":         "1000000",
		"ASU_BACKOFF_BASE":          "200ms",
		"BREAKER_OPEN_TIMEOUT":      "1s",
		"SMTP_URL":                  fmt.Sprintf("smtp://%s?tls=none", d.sink.Addr()),
		"MAIL_RATE":                 "1000",
		"UNSUBSCRIBE_SECRET":        "chaos-secret-chaos-secret-chaos-secret-01",
		"PUBLIC_BASE_URL":           "https://pickmyclass.test",
		"SCHEDULER_INTERVAL":        "1h",
		"SCHEDULER_LEASE_TTL":       "1s",
	}
	users := map[string]store.User{}
	for _, s := range secs {
		for _, email := range watchers {
			u, ok := users[email]
			if !ok {
				u = storetest.User(t, d.db, email)
				users[email] = u
			}
			storetest.Watch(t, d.db, u.ID, s.Term, s.ClassNbr, s.Subject, s.CatalogNbr)
			d.watchers[s.Key()] = append(d.watchers[s.Key()], email)
		}
	}
	return d
}

// privateDB creates a migrated database of its own on the PostgreSQL server
// at serverURL.
func privateDB(t *testing.T, serverURL string) (*store.DB, string) {
	t.Helper()
	ctx := testenv.Context(t, 2*time.Minute)
	name := "chaos_" + testenv.RandomID()
	conn, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	dbURL := strings.Replace(serverURL, "/postgres?", "/"+name+"?", 1)
	if err := store.Migrate(ctx, dbURL); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db, dbURL
}

// courses returns n courses of per sections each, all full, with class
// numbers unique across the deployment.
func courses(n, per int) []asusim.SectionSpec {
	var out []asusim.SectionSpec
	for c := range n {
		for s := range per {
			out = append(out, asusim.SectionSpec{
				Term: "2267", ClassNbr: fmt.Sprintf("%05d", 40000+c*10+s), Subject: "CSE", CatalogNbr: fmt.Sprint(100 + c),
				Section: fmt.Sprintf("%04d", s+1), Title: fmt.Sprintf("CSE %d", 100+c), Capacity: 2, Enrolled: 2,
				Instructors: []catalog.Instructor{{Name: "Ada Lovelace", ID: "alovela1"}},
			})
		}
	}
	return out
}

// publish enqueues one check per course of the deployment for cycle, as the
// scheduler does, and returns the entry IDs.
func (d *deployment) publish(cycle string) []string {
	d.t.Helper()
	var sections []catalog.Section
	for _, s := range d.secs {
		sections = append(sections, catalog.Section{Term: s.Term, ClassNbr: s.ClassNbr, Subject: s.Subject, CatalogNbr: s.CatalogNbr})
	}
	var msgs []stream.Message
	for _, c := range check.ForSections(cycle, time.Now(), sections...) {
		msg, err := check.Message(c)
		if err != nil {
			d.t.Fatal(err)
		}
		msgs = append(msgs, msg)
	}
	pub := stream.NewPublisher(d.rdb, d.keys.Stream(), stream.PublisherOptions{})
	ids, err := pub.Publish(context.Background(), msgs...)
	if err != nil {
		d.t.Fatal(err)
	}
	return ids
}

// openAll opens one seat in every section of the simulated catalog.
func (d *deployment) openAll() {
	d.t.Helper()
	for _, s := range d.secs {
		if err := d.sim.SetSeats(s.Key(), 1, -1); err != nil {
			d.t.Fatal(err)
		}
	}
}

// unobserved lists the sections whose stored state was not observed after
// t (or not at all).
func (d *deployment) unobserved(after time.Time) ([]string, error) {
	var missing []string
	for _, s := range d.secs {
		st, err := d.db.GetSectionState(context.Background(), s.Key())
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		if err != nil || !st.ObservedAt.After(after) {
			missing = append(missing, s.ClassNbr)
		}
	}
	return missing, nil
}

// waitObserved waits until every section was observed after t.
func (d *deployment) waitObserved(after time.Time, timeout time.Duration) {
	d.t.Helper()
	testenv.Eventually(d.t, timeout, func() error {
		missing, err := d.unobserved(after)
		if err != nil {
			return err
		}
		if len(missing) > 0 {
			return fmt.Errorf("%d sections not observed since %s: %v", len(missing), after.Format(time.TimeOnly), missing)
		}
		return nil
	})
}

// dueEmails is how many alerts opening every section causes.
func (d *deployment) dueEmails() int {
	n := 0
	for _, w := range d.watchers {
		n += len(w)
	}
	return n
}

var classNbrRE = regexp.MustCompile(`\b\d{5}\b`)

// emailCounts counts accepted alert emails by recipient and class number.
func (d *deployment) emailCounts() map[string]int {
	got := map[string]int{}
	for _, m := range d.sink.Messages() {
		nbr := classNbrRE.FindString(m.Subject)
		for _, to := range m.To {
			got[to+" "+nbr]++
		}
	}
	return got
}

// exactlyOnce compares the accepted emails with one per watcher and section,
// and returns how many are missing and how many are extra copies.
func (d *deployment) exactlyOnce() (missing, duplicates int) {
	got := d.emailCounts()
	for _, s := range d.secs {
		for _, w := range d.watchers[s.Key()] {
			n := got[w+" "+s.ClassNbr]
			switch {
			case n == 0:
				missing++
			case n > 1:
				duplicates += n - 1
			}
			delete(got, w+" "+s.ClassNbr)
		}
	}
	for _, n := range got {
		duplicates += n // emails nobody was due
	}
	return missing, duplicates
}

// waitEmails waits until every due email was accepted, every claim is
// recorded as sent and the queue is drained, then returns the missing and
// duplicate counts.
func (d *deployment) waitEmails(timeout time.Duration) (missing, duplicates int) {
	d.t.Helper()
	testenv.Eventually(d.t, timeout, func() error {
		if n := len(d.sink.Messages()); n < d.dueEmails() {
			return fmt.Errorf("%d of %d emails", n, d.dueEmails())
		}
		// Every claim recorded as sent: none can be sent again.
		var sent, total int
		err := d.db.Pool().QueryRow(context.Background(),
			`SELECT count(*) FILTER (WHERE status = 'sent'), count(*) FROM notifications`).Scan(&sent, &total)
		if err != nil {
			return err
		}
		if sent != d.dueEmails() || total != d.dueEmails() {
			return fmt.Errorf("notifications: %d sent of %d, want %d", sent, total, d.dueEmails())
		}
		return d.drained()
	})
	return d.exactlyOnce()
}

// drained reports an error while the stream has unread, pending or
// deferred entries.
func (d *deployment) drained() error {
	q, err := d.queue()
	if err != nil {
		return err
	}
	if q.Pending != 0 || q.Lag != 0 || q.Delayed != 0 {
		return fmt.Errorf("queue not drained: %+v", q)
	}
	return nil
}

func (d *deployment) queue() (stream.Stats, error) {
	return stream.Inspect(context.Background(), d.rdb, d.keys.Stream(), d.keys.Group(), d.keys.DeadLetter())
}

// deadLetters returns the dead-letter stream's entries.
func (d *deployment) deadLetters() []stream.DeadLetter {
	d.t.Helper()
	dl, err := stream.DeadLetters(context.Background(), d.rdb, d.keys.DeadLetter(), 10000)
	if err != nil {
		d.t.Fatal(err)
	}
	return dl
}

// binary builds a service of the workspace once per test process.
func binary(t *testing.T, service string) string {
	t.Helper()
	return testenv.Binary(t, "github.com/pickmyclass/pickmyclass/services/"+service)
}

// process is a service running as a real OS process.
type process struct {
	name    string
	cmd     *exec.Cmd
	logs    *testenv.SyncBuffer
	opsAddr string
	done    chan struct{}
	once    sync.Once
}

// freeAddr returns a loopback address with a port that was free a moment
// ago, so the test knows a service's ops address in advance.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start runs service (worker, scheduler or api) as a process named name, with
// the deployment's environment plus over, and waits until it is ready.
func (d *deployment) start(service, name string, over map[string]string) *process {
	d.t.Helper()
	p := &process{name: name, logs: &testenv.SyncBuffer{}, opsAddr: freeAddr(d.t), done: make(chan struct{})}
	env := map[string]string{}
	for k, v := range d.env {
		env[k] = v
	}
	env["WORKER_NAME"] = name
	env[strings.ToUpper(service)+"_OPS_ADDR"] = p.opsAddr
	for k, v := range over {
		env[k] = v
	}
	p.cmd = exec.Command(binary(d.t, service))
	p.cmd.Env = os.Environ()
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		d.t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	d.t.Cleanup(func() {
		p.stop()
		if d.t.Failed() {
			d.t.Logf("%s logs (last 8 KiB):\n%s", name, tail(p.logs.String(), 8<<10))
		}
	})
	testenv.Eventually(d.t, 30*time.Second, func() error {
		select {
		case <-p.done:
			d.t.Fatalf("%s exited at start:\n%s", name, p.logs)
		default:
		}
		return p.ready()
	})
	return p
}

// ready reports an error unless the process's /readyz answers 200.
func (p *process) ready() error {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + p.opsAddr + "/readyz")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s readyz %d: %s", p.name, resp.StatusCode, b)
	}
	return nil
}

// alive reports whether the process is still running.
func (p *process) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// kill ends the process at once, as a crash would.
func (p *process) kill() {
	p.once.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	})
}

// stop asks the process to shut down, and kills it if it takes too long.
func (p *process) stop() {
	p.once.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Signal(syscall.SIGKILL)
			<-p.done
		}
	})
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// sampler polls cond every interval in the background until the test ends
// or stop is called, so a scenario can watch a state while it acts.
func sampler(t *testing.T, every time.Duration, fn func()) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			fn()
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}
