package main

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	webpush "github.com/SherClockHolmes/webpush-go"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asusim"
	"github.com/pickmyclass/pickmyclass/pkg/channel/channeltest"
	"github.com/pickmyclass/pickmyclass/pkg/check"
	"github.com/pickmyclass/pickmyclass/pkg/stream"
)

// fanoutKinds are the channel kinds every watcher of the fan-out run has,
// with the status their stand-in receiver answers.
var fanoutKinds = map[string]int{
	"webpush": http.StatusCreated,
	"discord": http.StatusNoContent,
	"slack":   http.StatusOK,
	"ntfy":    http.StatusOK,
	"webhook": http.StatusOK,
}

// fanoutKind is one channel kind's deliveries in a fan-out run, by the
// database's clock: from the detecting transaction to the last send
// recorded.
type fanoutKind struct {
	kind       string
	sent, want int
	first      time.Duration // detection → first delivery
	p50        time.Duration // detection → median delivery
	last       time.Duration // detection → last delivery
}

type fanoutResult struct {
	watchers    int
	kinds       []fanoutKind
	email       fanoutKind
	lastChannel time.Duration // detection → last non-email delivery
	received    int           // requests the receivers accepted
	workerPeak  int64
}

// fanoutReceiver stands in for every channel's service and counts what it
// accepts.
type fanoutReceiver struct {
	mu sync.Mutex
	n  int
}

func (f *fanoutReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	kind, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	status, ok := fanoutKinds[kind]
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	f.mu.Lock()
	f.n++
	f.mu.Unlock()
	w.WriteHeader(status)
}

// benchFanout seeds watchers users watching one full section, each with
// one channel of every kind (verified) besides email, runs a worker, opens
// the section and measures how long the alerts take to go out, per kind.
func (e *env) benchFanout(ctx context.Context, watchers int) (fanoutResult, error) {
	res := fanoutResult{watchers: watchers}
	addr, ok := channeltest.LocalAddr()
	if !ok {
		return res, fmt.Errorf("this machine has no address the SSRF guard allows for the stand-in receivers")
	}
	sec := asusim.SectionSpec{Term: benchTerm, ClassNbr: "10001", Subject: "CSE", CatalogNbr: "110", Section: "0001",
		Title: "Fan-out", Capacity: 2 * watchers, Enrolled: 2 * watchers, Instructors: []catalog.Instructor{{Name: "Ada Lovelace"}}}
	sc := asusim.Scenario{Terms: []catalog.Term{{Code: benchTerm, Name: "Spring 2027"}}, Sections: []asusim.SectionSpec{sec}}
	ds := &dataset{courses: 1, sections: 1}
	defer e.closeDataset(ds)
	var err error
	if ds.db, err = e.newDatabase(ctx); err != nil {
		return res, err
	}
	if ds.sim, err = startSim(sc); err != nil {
		return res, err
	}
	if ds.sink, err = startSink(); err != nil {
		return res, err
	}
	recv := &fanoutReceiver{}
	ln, err := net.Listen("tcp", netip.AddrPortFrom(addr, 0).String())
	if err != nil {
		return res, err
	}
	srv, err := channeltest.NewServer(ln, recv)
	if err != nil {
		return res, err
	}
	defer srv.Close()
	caFile, err := channeltest.CAFile(e.dir)
	if err != nil {
		return res, err
	}
	if err := seedFanout(ctx, ds.db, sec, watchers, srv.URL); err != nil {
		return res, err
	}

	priv, pub, err := webpush.GenerateVAPIDKeys()
	if err != nil {
		return res, err
	}
	prefix := "bench:" + randomID() + ":"
	keys := check.Keys{Prefix: prefix}
	defer e.deletePrefix(prefix)
	vars := ds.workerEnv(e, prefix, "fanout", 1000)
	vars["VAPID_PUBLIC_KEY"], vars["VAPID_PRIVATE_KEY"] = pub, priv
	// The receivers' certificates come from the bench's own CA.
	vars["SSL_CERT_FILE"] = caFile
	w, err := e.start(ctx, "fanout-worker-"+prefix[6:18], "worker", vars, "WORKER_OPS_ADDR")
	if err != nil {
		return res, err
	}
	defer w.stop()

	pub1 := stream.NewPublisher(e.rdb, keys.Stream(), stream.PublisherOptions{})
	publish := func(cycle string) error {
		section := catalog.Section{Term: sec.Term, ClassNbr: sec.ClassNbr, Subject: sec.Subject, CatalogNbr: sec.CatalogNbr}
		var msgs []stream.Message
		for _, c := range check.ForSections(cycle, time.Now(), section) {
			m, err := check.Message(c)
			if err != nil {
				return err
			}
			msgs = append(msgs, m)
		}
		_, err := pub1.Publish(ctx, msgs...)
		return err
	}
	pool := ds.db.db.Pool()
	// The first observation raises no event.
	if err := publish("fanout-1"); err != nil {
		return res, err
	}
	if err := poll(ctx, time.Minute, 20*time.Millisecond, func() (bool, error) {
		var n int
		err := pool.QueryRow(ctx, "SELECT count(*) FROM section_states").Scan(&n)
		return n == 1, err
	}); err != nil {
		return res, fmt.Errorf("first observation: %w", err)
	}
	if err := ds.sim.SetSeats(catalog.SectionKey{Term: sec.Term, ClassNbr: sec.ClassNbr}, watchers, 2*watchers); err != nil {
		return res, err
	}
	if err := publish("fanout-2"); err != nil {
		return res, err
	}
	want := watchers * len(fanoutKinds)
	waitErr := poll(ctx, 3*time.Minute, 50*time.Millisecond, func() (bool, error) {
		var n int
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM channel_deliveries WHERE status = 'sent'").Scan(&n); err != nil {
			return false, err
		}
		_, mailed := ds.sink.received()
		return n >= want && mailed >= watchers, nil
	})
	_, res.workerPeak, _ = w.memory()
	recv.mu.Lock()
	res.received = recv.n
	recv.mu.Unlock()

	// Detection is the transaction that stored the opening and claimed every
	// alert; all of them carry its time.
	var detected time.Time
	if err := pool.QueryRow(ctx, "SELECT min(created_at) FROM notifications").Scan(&detected); err != nil {
		return res, fmt.Errorf("no alert was claimed (%v): %w", waitErr, err)
	}
	rows, err := pool.Query(ctx, `
		SELECT c.kind, count(*) FILTER (WHERE d.status = 'sent'), count(*), coalesce(min(d.sent_at), $1),
			coalesce(max(d.sent_at), $1), coalesce(percentile_disc(0.5) WITHIN GROUP (ORDER BY d.sent_at), $1)
		FROM channel_deliveries d JOIN channels c ON c.id = d.channel_id GROUP BY c.kind ORDER BY c.kind`, detected)
	if err != nil {
		return res, err
	}
	for rows.Next() {
		var k fanoutKind
		var first, last, p50 time.Time
		if err := rows.Scan(&k.kind, &k.sent, &k.want, &first, &last, &p50); err != nil {
			rows.Close()
			return res, err
		}
		k.first, k.last, k.p50 = first.Sub(detected), last.Sub(detected), p50.Sub(detected)
		res.kinds = append(res.kinds, k)
		res.lastChannel = max(res.lastChannel, k.last)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return res, err
	}
	var first, last, p50 time.Time
	res.email.kind = "email"
	if err := pool.QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE status = 'sent'), count(*), coalesce(min(sent_at), $1), coalesce(max(sent_at), $1),
			coalesce(percentile_disc(0.5) WITHIN GROUP (ORDER BY sent_at), $1) FROM notifications`, detected).
		Scan(&res.email.sent, &res.email.want, &first, &last, &p50); err != nil {
		return res, err
	}
	res.email.first, res.email.last, res.email.p50 = first.Sub(detected), last.Sub(detected), p50.Sub(detected)
	sort.Slice(res.kinds, func(i, j int) bool { return res.kinds[i].kind < res.kinds[j].kind })
	if waitErr != nil {
		return res, fmt.Errorf("not every alert went out: %w", waitErr)
	}
	return res, nil
}

// seedFanout creates watchers verified users watching sec, each with one
// verified channel of every kind pointing at the receiver at base. The push
// subscriptions share one key pair: the worker encrypts each message for
// it all the same.
func seedFanout(ctx context.Context, d *database, sec asusim.SectionSpec, watchers int, base string) error {
	key, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	auth := make([]byte, 16)
	_, _ = rand.Read(auth)
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	p256dh := base64.RawURLEncoding.EncodeToString(key.PublicKey().Bytes())
	pool := d.db.Pool()
	_, err = pool.Exec(ctx, `
		WITH u AS (
			INSERT INTO users (email, password_hash, verified_at)
			SELECT 'fan' || g || '@bench.test', 'not-a-real-hash', now() FROM generate_series(1, $1) g
			RETURNING id
		), w AS (
			INSERT INTO class_watches (user_id, term, class_nbr, subject, catalog_nbr)
			SELECT id, $2, $3, $4, $5 FROM u RETURNING user_id
		)
		INSERT INTO channels (user_id, kind, config, secret, verified_at)
		SELECT w.user_id, k.kind,
			CASE WHEN k.kind = 'webpush'
				THEN jsonb_build_object('endpoint', $6 || '/webpush/' || w.user_id, 'p256dh', $7::text)
				ELSE jsonb_build_object('url', $6 || '/' || k.kind || '/' || w.user_id) END,
			CASE k.kind WHEN 'webpush' THEN $8 WHEN 'webhook' THEN $9 ELSE '' END, now()
		FROM w CROSS JOIN (VALUES ('webpush'), ('discord'), ('slack'), ('ntfy'), ('webhook')) AS k(kind)`,
		watchers, sec.Term, sec.ClassNbr, sec.Subject, sec.CatalogNbr, base, p256dh,
		base64.RawURLEncoding.EncodeToString(auth), "whsec_"+base64.StdEncoding.EncodeToString(secret))
	if err != nil {
		return fmt.Errorf("seed fan-out: %w", err)
	}
	_, err = pool.Exec(ctx, "ANALYZE")
	return err
}

// fanouts measures the alert fan-out of one section to every channel.
func (e *env) fanouts(ctx context.Context, rep *report, watchers int, logf logFunc) {
	const area = "channels"
	label := fmt.Sprintf("%s watchers of one section, email + 5 channels each, default channel limits", num(watchers))
	logf("fan-out: %s", label)
	r, err := e.benchFanout(ctx, watchers)
	if err != nil {
		rep.failed(area, label, err)
		return
	}
	for _, k := range r.kinds {
		rep.add(area, label, k.kind+": detection → first / median / last delivery", fmt.Sprintf("%s / %s / %s (%d of %d sent)", ms(k.first), ms(k.p50), ms(k.last), k.sent, k.want))
	}
	rep.addTarget(area, label, "detection → last non-email delivery", secs(r.lastChannel), "≤ 5.0 s", r.lastChannel <= 5*time.Second)
	rep.add(area, label, "email: detection → first / median / last SMTP acceptance (MAIL_RATE=1000)",
		fmt.Sprintf("%s / %s / %s (%d of %d sent)", ms(r.email.first), ms(r.email.p50), ms(r.email.last), r.email.sent, r.email.want))
	rep.add(area, label, "requests the stand-in services accepted", num(r.received))
	rep.add("memory", "fan-out run (peak)", "worker RSS", mb(r.workerPeak))
}
