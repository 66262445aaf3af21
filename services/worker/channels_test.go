package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	webpush "github.com/SherClockHolmes/webpush-go"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asusim"
	"github.com/pickmyclass/pickmyclass/pkg/channel"
	"github.com/pickmyclass/pickmyclass/pkg/channel/channeltest"
	"github.com/pickmyclass/pickmyclass/pkg/store"
	"github.com/pickmyclass/pickmyclass/pkg/testenv"
)

// TestMain makes this process, and the worker processes it starts, trust
// the channel receivers' test CA through SSL_CERT_FILE, the standard way to
// point Go at other roots: the worker has no setting of its own for it.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pmc-worker-ca-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	f, err := channeltest.CAFile(dir)
	if err == nil {
		err = os.Setenv("SSL_CERT_FILE", f)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// hookReceiver is a generic webhook endpoint that verifies every request's
// signature and counts deliveries by webhook-id.
type hookReceiver struct {
	secret string
	fail   func() int // status to answer instead of accepting; 0 accepts

	mu       sync.Mutex
	accepted map[string]int
	refused  int
	bad      []string
}

func newHookReceiver() *hookReceiver {
	return &hookReceiver{secret: channel.NewWebhookSecret(), accepted: map[string]int{}}
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := channeltest.VerifyWebhook(h.secret, r.Header, body, time.Now()); err != nil {
		h.bad = append(h.bad, err.Error())
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if h.fail != nil {
		if code := h.fail(); code != 0 {
			h.refused++
			w.WriteHeader(code)
			return
		}
	}
	h.accepted[r.Header.Get("webhook-id")]++
	w.WriteHeader(http.StatusOK)
}

func (h *hookReceiver) counts() (accepted map[string]int, refused int, bad []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	acc := make(map[string]int, len(h.accepted))
	for k, v := range h.accepted {
		acc[k] = v
	}
	return acc, h.refused, append([]string(nil), h.bad...)
}

// addChannel stores a channel.
func (b *bundle) addChannel(nc store.NewChannel) store.Channel {
	b.t.Helper()
	c, err := b.db.CreateChannel(context.Background(), nc)
	if err != nil {
		b.t.Fatal(err)
	}
	return c
}

// deliveryStatus counts a channel's deliveries by status.
func (b *bundle) deliveryStatus(channelID int64) map[string]int {
	b.t.Helper()
	st, err := b.db.ChannelDeliveryStatus(context.Background(), channelID)
	if err != nil {
		b.t.Fatal(err)
	}
	return st
}

// gate is a TCP front for a receiver: while holding, it accepts connections
// and sends nothing back, so a client is stuck in its TLS handshake — it
// has claimed a delivery and not yet sent a byte of it; while passing, it
// forwards to the receiver.
type gate struct {
	ln      net.Listener
	target  string
	passing atomic.Bool
	held    atomic.Int32
	mu      sync.Mutex
	conns   []net.Conn
}

func startGate(t *testing.T, target string) *gate {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(channeltest.Addr(t).String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{ln: ln, target: target}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		g.mu.Lock()
		for _, c := range g.conns {
			c.Close()
		}
		g.mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			g.mu.Lock()
			g.conns = append(g.conns, c)
			g.mu.Unlock()
			if !g.passing.Load() {
				g.held.Add(1)
				continue
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			g.mu.Lock()
			g.conns = append(g.conns, up)
			g.mu.Unlock()
			wg.Add(2)
			go func() { defer wg.Done(); _, _ = io.Copy(up, c); up.Close() }()
			go func() { defer wg.Done(); _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
	return g
}

func (g *gate) url() string { return "https://" + g.ln.Addr().String() }

// A worker process SIGKILLed after claiming a channel delivery and before
// sending it loses nothing and duplicates nothing: another worker sends it
// once the claim's lease lapses, 20 times over.
func TestChannelDeliveryOfKilledWorkerIsSentOnceByAnother(t *testing.T) {
	t.Parallel()
	sec := section("2267", "70412", "CSE", "240", 30, 30)
	b := setup(t, scenario(sec))
	u := b.watch("ana@example.edu", sec)
	if err := b.db.SetNotifications(context.Background(), u.ID, false); err != nil { // channels only
		t.Fatal(err)
	}
	hooks := newHookReceiver()
	srv := channeltest.Start(t, hooks)
	g := startGate(t, srv.Listener.Addr().String())
	ch := b.addChannel(store.NewChannel{UserID: u.ID, Kind: channel.KindWebhook, Config: channel.Config{URL: g.url() + "/hook"}, Secret: hooks.secret})
	over := map[string]string{"WORKER_SEND_LEASE": "2s", "CHANNEL_TIMEOUT": "900ms"}

	const trials = 20
	ctx := context.Background()
	key := catalog.SectionKey{Term: sec.Term, ClassNbr: sec.ClassNbr}
	base := time.Now().Add(-time.Hour)
	observe := func(minute, enrolled int) {
		t.Helper()
		s := catalog.Section{Term: sec.Term, ClassNbr: sec.ClassNbr, Subject: sec.Subject, CatalogNbr: sec.CatalogNbr,
			Title: sec.Title, Capacity: 30, Enrolled: enrolled, Status: catalog.StatusOpen}
		if _, err := b.db.ApplyCourse(ctx, store.CourseObservation{Course: s.Course(), ObservedAt: base.Add(time.Duration(minute) * time.Minute),
			Sections: []catalog.Section{s}, Wanted: []string{key.ClassNbr}}); err != nil {
			t.Fatal(err)
		}
	}
	observe(0, 30)
	for i := 1; i <= trials; i++ {
		g.passing.Store(false)
		heldBefore := g.held.Load()
		doomed := b.startProcess("worker", mergeEnv(over, map[string]string{"WORKER_NAME": fmt.Sprintf("doomed-%d", i)}))
		// The section opens: one delivery is claimed for the channel.
		observe(2*i-1, 28)
		testenv.Eventually(t, 30*time.Second, func() error {
			if g.held.Load() == heldBefore {
				return fmt.Errorf("trial %d: the doomed worker has not connected", i)
			}
			var leased bool
			err := b.db.Pool().QueryRow(ctx, `SELECT bool_or(lease_until > now() AND status = 'pending') FROM channel_deliveries WHERE channel_id = $1`, ch.ID).Scan(&leased)
			if err != nil || !leased {
				return fmt.Errorf("trial %d: delivery not leased (%v)", i, err)
			}
			return nil
		})
		doomed.kill()
		g.passing.Store(true)
		stop := b.startWorker(fmt.Sprintf("rescuer-%d", i), over)
		testenv.Eventually(t, 30*time.Second, func() error {
			if st := b.deliveryStatus(ch.ID); st["sent"] != i {
				return fmt.Errorf("trial %d: deliveries %v", i, st)
			}
			return nil
		})
		stop()
		observe(2*i, 30) // full again, so the next opening is a new event
	}
	acc, _, bad := hooks.counts()
	if len(bad) > 0 {
		t.Errorf("bad signatures: %v", bad)
	}
	if len(acc) != trials {
		t.Errorf("%d distinct deliveries received, want %d (lost some)", len(acc), trials)
	}
	for id, n := range acc {
		if n != 1 {
			t.Errorf("delivery %s received %d times", id, n)
		}
	}
	if st := b.deliveryStatus(ch.ID); st["sent"] != trials || len(st) != 1 {
		t.Errorf("delivery statuses %v, want %d sent", st, trials)
	}
}

func mergeEnv(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// A webhook that answers 500 for 30 seconds gets the alert exactly once
// after it recovers, and the email is not held up meanwhile.
func TestChannelFailingFor30SecondsIsDeliveredOnceAfterRecovery(t *testing.T) {
	t.Parallel()
	sec := section("2267", "70412", "CSE", "240", 2, 2)
	b := setup(t, scenario(sec))
	u := b.watch("ana@example.edu", sec)
	hooks := newHookReceiver()
	var until atomic.Int64
	until.Store(time.Now().Add(time.Hour).UnixNano())
	hooks.fail = func() int {
		if time.Now().UnixNano() < until.Load() {
			return http.StatusInternalServerError
		}
		return 0
	}
	srv := channeltest.Start(t, hooks)
	ch := b.addChannel(store.NewChannel{UserID: u.ID, Kind: channel.KindWebhook, Config: channel.Config{URL: srv.URL + "/hook"}, Secret: hooks.secret})

	b.startWorker("w1", nil)
	b.publish("c1", sec)
	b.observedAfter(sec.Key(), time.Time{}, 20*time.Second)
	if err := b.sim.SetSeats(sec.Key(), 1, -1); err != nil {
		t.Fatal(err)
	}
	until.Store(time.Now().Add(30 * time.Second).UnixNano())
	b.publish("c2", sec)

	// The email goes out while the webhook is still failing.
	b.sink.WaitFor(t, 1, 20*time.Second)
	if time.Now().UnixNano() >= until.Load() {
		t.Fatal("the email waited for the failing channel")
	}
	testenv.Eventually(t, 60*time.Second, func() error {
		if st := b.deliveryStatus(ch.ID); st["sent"] != 1 {
			return fmt.Errorf("deliveries %v", st)
		}
		return nil
	})
	acc, refused, bad := hooks.counts()
	if len(bad) > 0 {
		t.Errorf("bad signatures: %v", bad)
	}
	if len(acc) != 1 {
		t.Fatalf("accepted %v, want one delivery", acc)
	}
	for id, n := range acc {
		if n != 1 {
			t.Errorf("delivery %s accepted %d times", id, n)
		}
	}
	if refused < 5 {
		t.Errorf("only %d attempts during the outage; retries are not happening", refused)
	}
	var attempts int
	if err := b.db.Pool().QueryRow(context.Background(), `SELECT attempts FROM channel_deliveries WHERE channel_id = $1`, ch.ID).Scan(&attempts); err != nil {
		t.Fatal(err)
	}
	if attempts != refused+1 {
		t.Errorf("attempts = %d, want %d refused + 1", attempts, refused)
	}
	if n := len(b.sink.Messages()); n != 1 {
		t.Errorf("%d emails, want 1", n)
	}
}

// A push service answering 410 disables only that subscription's channel:
// the same user's webhook and email, and another user's push, all arrive,
// and the user is emailed that the channel was turned off.
func TestPushGoneDisablesOnlyThatChannel(t *testing.T) {
	t.Parallel()
	sec := section("2267", "70412", "CSE", "240", 2, 2)
	b := setup(t, scenario(sec))
	priv, pub, err := webpush.GenerateVAPIDKeys()
	if err != nil {
		t.Fatal(err)
	}
	vapid := map[string]string{"VAPID_PUBLIC_KEY": pub, "VAPID_PRIVATE_KEY": priv, "VAPID_SUBJECT": "mailto:ops@pickmyclass.test"}
	ana := b.watch("ana@example.edu", sec)
	bob := b.watch("bob@example.edu", sec)

	gonePush := channeltest.NewPushService(t, pub, "mailto:ops@pickmyclass.test")
	gonePush.SetStatus(http.StatusGone)
	goneSrv := channeltest.Start(t, gonePush)
	livePush := channeltest.NewPushService(t, pub, "mailto:ops@pickmyclass.test")
	liveSrv := channeltest.Start(t, livePush)
	hooks := newHookReceiver()
	hookSrv := channeltest.Start(t, hooks)

	pc := gonePush.Channel(goneSrv.URL + "/push/ana")
	anaPush := b.addChannel(store.NewChannel{UserID: ana.ID, Kind: channel.KindWebPush, Label: "laptop", Config: pc.Config, Secret: pc.Secret})
	anaHook := b.addChannel(store.NewChannel{UserID: ana.ID, Kind: channel.KindWebhook, Config: channel.Config{URL: hookSrv.URL + "/hook"}, Secret: hooks.secret})
	pc = livePush.Channel(liveSrv.URL + "/push/bob")
	bobPush := b.addChannel(store.NewChannel{UserID: bob.ID, Kind: channel.KindWebPush, Config: pc.Config, Secret: pc.Secret})

	b.startWorker("w1", vapid)
	b.publish("c1", sec)
	b.observedAfter(sec.Key(), time.Time{}, 20*time.Second)
	if err := b.sim.SetSeats(sec.Key(), 1, -1); err != nil {
		t.Fatal(err)
	}
	b.publish("c2", sec)

	// Two alert emails and Ana's notice.
	msgs := b.sink.WaitFor(t, 3, 30*time.Second)
	testenv.Eventually(t, 20*time.Second, func() error {
		if st := b.deliveryStatus(bobPush.ID); st["sent"] != 1 {
			return fmt.Errorf("bob's push: %v", st)
		}
		if st := b.deliveryStatus(anaHook.ID); st["sent"] != 1 {
			return fmt.Errorf("ana's webhook: %v", st)
		}
		return nil
	})
	got, err := b.db.GetChannel(context.Background(), ana.ID, anaPush.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.DisabledAt == nil || !strings.Contains(got.DisabledReason, "push subscription expired") {
		t.Errorf("ana's push channel: disabled %v, reason %q", got.DisabledAt, got.DisabledReason)
	}
	if c, err := b.db.GetChannel(context.Background(), ana.ID, anaHook.ID); err != nil || c.DisabledAt != nil {
		t.Errorf("ana's webhook disabled too: %+v, %v", c, err)
	}
	if err := livePush.Err(); err != nil {
		t.Fatal(err)
	}
	p := livePush.Payloads()
	if len(p) != 1 || p[0].Title != "1 seat open: CSE 240 (#70412)" || !strings.Contains(p[0].Body, "Ada Lovelace") ||
		!strings.HasPrefix(p[0].URL, "https://pickmyclass.test/go/asu?") {
		t.Errorf("bob's decrypted push = %+v", p)
	}
	var notice bool
	for _, m := range msgs {
		if strings.Join(m.To, ",") == ana.Email && strings.Contains(string(m.Data), "Browser push alerts were turned off") {
			notice = true
		}
	}
	if !notice {
		t.Errorf("no disabled-channel notice to %s among %v", ana.Email, recipients(msgs))
	}
	// Nothing more: one alert each, one notice.
	if n := len(b.sink.Messages()); n != 3 {
		t.Errorf("%d emails, want 3", n)
	}
}

// timedHooks is a hookReceiver that records when each request arrived.
type timedHooks struct {
	*hookReceiver
	mu    sync.Mutex
	times []time.Time
}

func (h *timedHooks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.hookReceiver.ServeHTTP(w, r)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.times = append(h.times, time.Now())
}

// openSections stores a full observation of the course's sections, then an
// open one, as a worker's two checks would: the second claims the alerts.
func (b *bundle) openSections(secs ...asusim.SectionSpec) {
	b.t.Helper()
	ctx := context.Background()
	at := time.Now().Add(-time.Minute)
	for i, enrolled := range []func(asusim.SectionSpec) int{
		func(s asusim.SectionSpec) int { return s.Capacity },
		func(s asusim.SectionSpec) int { return s.Capacity - 1 },
	} {
		var obs []catalog.Section
		var wanted []string
		for _, s := range secs {
			obs = append(obs, catalog.Section{Term: s.Term, ClassNbr: s.ClassNbr, Subject: s.Subject, CatalogNbr: s.CatalogNbr,
				Title: s.Title, Capacity: s.Capacity, Enrolled: enrolled(s), Status: catalog.StatusOpen})
			wanted = append(wanted, s.ClassNbr)
		}
		if _, err := b.db.ApplyCourse(ctx, store.CourseObservation{Course: obs[0].Course(), ObservedAt: at.Add(time.Duration(i) * time.Second),
			Sections: obs, Wanted: wanted}); err != nil {
			b.t.Fatal(err)
		}
	}
}

// One channel getting many alerts at once gets them at its rate, each once.
func TestChannelRateLimitPacesOneChannel(t *testing.T) {
	t.Parallel()
	var secs []asusim.SectionSpec
	for i := range 8 {
		secs = append(secs, section("2267", fmt.Sprintf("7050%d", i), "CSE", "240", 30, 30))
	}
	b := setup(t, scenario(secs...))
	var u store.User
	for _, s := range secs {
		u = b.watch("ana@example.edu", s)
	}
	hooks := &timedHooks{hookReceiver: newHookReceiver()}
	srv := channeltest.Start(t, hooks)
	ch := b.addChannel(store.NewChannel{UserID: u.ID, Kind: channel.KindWebhook, Config: channel.Config{URL: srv.URL + "/hook"}, Secret: hooks.secret})
	b.startWorker("w1", map[string]string{"CHANNEL_RATE": "2", "CHANNEL_BURST": "2"})
	b.openSections(secs...)

	testenv.Eventually(t, 30*time.Second, func() error {
		if st := b.deliveryStatus(ch.ID); st["sent"] != len(secs) {
			return fmt.Errorf("deliveries %v", st)
		}
		return nil
	})
	acc, _, bad := hooks.counts()
	if len(bad) > 0 || len(acc) != len(secs) {
		t.Fatalf("accepted %v, bad %v", acc, bad)
	}
	for id, n := range acc {
		if n != 1 {
			t.Errorf("delivery %s received %d times", id, n)
		}
	}
	hooks.mu.Lock()
	times := append([]time.Time(nil), hooks.times...)
	hooks.mu.Unlock()
	// A burst of 2, then 2 a second: 8 sends take at least 3 s, and any 5
	// at least 1.5 s. Arrival times carry the connection's jitter (the
	// first send also opens it), hence the half-second of slack.
	if span := times[len(times)-1].Sub(times[0]); span < 2500*time.Millisecond {
		t.Errorf("8 sends took %s, faster than 2 per second after a burst of 2", span)
	}
	for i := 4; i < len(times); i++ {
		if d := times[i].Sub(times[i-4]); d < time.Second {
			t.Errorf("sends %d to %d within %s: over the channel's rate", i-4, i, d)
		}
	}
}

// A 429 with Retry-After holds the channel that long; the alert then goes
// out once.
func TestChannelRetryAfterIsHonoured(t *testing.T) {
	t.Parallel()
	sec := section("2267", "70412", "CSE", "240", 30, 30)
	b := setup(t, scenario(sec))
	u := b.watch("ana@example.edu", sec)
	hooks := &timedHooks{hookReceiver: newHookReceiver()}
	var calls atomic.Int32
	hooks.fail = func() int {
		if calls.Add(1) == 1 {
			return http.StatusTooManyRequests
		}
		return 0
	}
	srv := channeltest.Start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Load() == 0 {
			w.Header().Set("Retry-After", "2")
		}
		hooks.ServeHTTP(w, r)
	}))
	ch := b.addChannel(store.NewChannel{UserID: u.ID, Kind: channel.KindWebhook, Config: channel.Config{URL: srv.URL + "/hook"}, Secret: hooks.secret})
	b.startWorker("w1", nil) // WORKER_SEND_RETRY_BASE is 100ms: only Retry-After can hold it 2 s
	b.openSections(sec)

	testenv.Eventually(t, 30*time.Second, func() error {
		if st := b.deliveryStatus(ch.ID); st["sent"] != 1 {
			return fmt.Errorf("deliveries %v", st)
		}
		return nil
	})
	acc, refused, _ := hooks.counts()
	if refused != 1 || len(acc) != 1 {
		t.Fatalf("refused %d, accepted %v; want one 429 then one delivery", refused, acc)
	}
	hooks.mu.Lock()
	times := append([]time.Time(nil), hooks.times...)
	hooks.mu.Unlock()
	if len(times) != 2 {
		t.Fatalf("%d requests, want 2", len(times))
	}
	if d := times[1].Sub(times[0]); d < 1900*time.Millisecond {
		t.Errorf("retried %s after a 429 with Retry-After: 2", d)
	}
}
