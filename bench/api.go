package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/store"
)

// apiResult is one endpoint driven at a fixed rate.
type apiResult struct {
	sent, ok, failed, dropped int
	p50, p99                  time.Duration
	throughput                float64 // successful responses per second
	firstErr                  string
}

// session is a signed-in user for the load generator.
type session struct {
	userID int64
	cookie string
}

// request builds the i-th request of a run.
type request func(ctx context.Context, i int) (*http.Request, error)

// load sends n requests at a fixed rate, open loop: each is scheduled at
// start + i/rate and its latency counts from that moment, so a slow server
// cannot slow the generator down and hide its own queueing.
func load(ctx context.Context, client *http.Client, rps int, d time.Duration, wantStatus int, build request) apiResult {
	n := int(float64(rps) * d.Seconds())
	period := time.Second / time.Duration(rps)
	lat := make([]time.Duration, n)
	var ok, failed, dropped atomic.Int64
	var errOnce sync.Once
	var firstErr string
	sem := make(chan struct{}, 512)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		at := start.Add(time.Duration(i) * period)
		if wait := time.Until(at); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				wg.Wait()
				return apiResult{firstErr: ctx.Err().Error()}
			case <-t.C:
			}
		}
		select {
		case sem <- struct{}{}:
		default:
			dropped.Add(1) // 512 requests in flight: the server has stalled
			lat[i] = -1
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			err := func() error {
				req, err := build(ctx, i)
				if err != nil {
					return err
				}
				resp, err := client.Do(req)
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				body, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != wantStatus {
					return fmt.Errorf("%s %s: status %d: %.200s", req.Method, req.URL.Path, resp.StatusCode, body)
				}
				return nil
			}()
			lat[i] = time.Since(at)
			if err != nil {
				failed.Add(1)
				errOnce.Do(func() { firstErr = err.Error() })
				return
			}
			ok.Add(1)
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	res := apiResult{sent: n, ok: int(ok.Load()), failed: int(failed.Load()), dropped: int(dropped.Load()), firstErr: firstErr}
	res.throughput = float64(res.ok) / elapsed.Seconds()
	lat = slices.DeleteFunc(lat, func(d time.Duration) bool { return d < 0 })
	slices.Sort(lat)
	res.p50, res.p99 = quantile(lat, 0.5), quantile(lat, 0.99)
	return res
}

// createSessions signs users in the way the API stores sessions: the
// cookie holds a secret and the database its SHA-256.
func createSessions(ctx context.Context, db *store.DB, users []int64) ([]session, error) {
	out := make([]session, len(users))
	for i, id := range users {
		secret := randomID() + randomID() + randomID() + randomID()
		h := sha256.Sum256([]byte(secret))
		if err := db.CreateSession(ctx, store.NewSession{ID: h[:], UserID: id, ExpiresAt: time.Now().Add(time.Hour), UserAgent: "pmc-bench", IP: "127.0.0.1"}); err != nil {
			return nil, err
		}
		out[i] = session{userID: id, cookie: secret}
	}
	return out, nil
}

// apis drives the API's dashboard page, watches JSON, watch creation and
// health report at fixed rates.
func (e *env) apis(ctx context.Context, rep *report, sz sizes, logf logFunc) {
	const area = "api"
	logf("api: seeding 2,000 courses × 5 sections, 10 watches per user")
	ds, err := e.newDataset(ctx, 2000, 5)
	defer e.closeDataset(ds)
	if err != nil {
		rep.failed(area, "setup", err)
		return
	}
	// One cycle gives every watched section a state to show.
	if _, err := e.runCycle(ctx, ds, 1, 0, 100000, nil); err != nil {
		rep.failed(area, "setup", err)
		return
	}
	// Users without watches, who create them during the run.
	rows, err := ds.db.db.Pool().Query(ctx, `
		INSERT INTO users (email, password_hash, verified_at)
		SELECT 'creator' || g || '@bench.test', 'not-a-real-hash', now() FROM generate_series(1, 1000) g
		RETURNING id`)
	if err != nil {
		rep.failed(area, "setup", err)
		return
	}
	var creators []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rep.failed(area, "setup", err)
			return
		}
		creators = append(creators, id)
	}
	rows.Close()
	readers, err := createSessions(ctx, ds.db.db, ds.users)
	if err != nil {
		rep.failed(area, "setup", err)
		return
	}
	writers, err := createSessions(ctx, ds.db.db, creators)
	if err != nil {
		rep.failed(area, "setup", err)
		return
	}
	addr, err := freeAddr()
	if err != nil {
		rep.failed(area, "setup", err)
		return
	}
	prefix := "bench:" + randomID() + ":"
	defer e.deletePrefix(prefix)
	p, err := e.start(ctx, "api-"+prefix[6:18], "api", map[string]string{
		"DATABASE_URL": ds.db.url, "REDIS_URL": e.redisURL, "REDIS_PREFIX": prefix,
		"LOG_LEVEL": "warn", "MIGRATE_ON_START": "false", "API_ADDR": addr,
		"UNSUBSCRIBE_SECRET": unsubscribeSecret, "PUBLIC_BASE_URL": "http://" + addr,
		"SMTP_URL": "smtp://" + ds.sink.addr() + "?tls=none", "ASU_API_BASE_URL": ds.sim.url,
		"ASU_RATE": "1000", "API_AUTH_RATE_PER_MINUTE": "100000",
	}, "API_OPS_ADDR")
	if err != nil {
		rep.failed(area, "setup", err)
		return
	}
	defer p.stop()
	idle, _, _ := p.memory()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 512}}
	base := "http://" + addr
	get := func(path string) request {
		return func(ctx context.Context, i int) (*http.Request, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
			if err != nil {
				return nil, err
			}
			req.Header.Set("Cookie", "pmc_session="+readers[i%len(readers)].cookie)
			req.Header.Set("Accept", "application/json")
			return req, nil
		}
	}
	var created atomic.Int64
	create := func(ctx context.Context, _ int) (*http.Request, error) {
		k := int(created.Add(1) - 1)
		s := writers[(k/10)%len(writers)]
		sec := 10000 + (k/10)%len(writers)*10 + k%10 // ten distinct sections per creator
		body := fmt.Sprintf(`{"term":%q,"class_nbr":"%d"}`, benchTerm, sec)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/class-watches", bytes.NewBufferString(body))
		if err != nil {
			return nil, err
		}
		csrf := "bench-csrf-token-bench-csrf-token-0123"
		req.Header.Set("Cookie", "pmc_session="+s.cookie+"; pmc_csrf="+csrf)
		req.Header.Set("X-CSRF-Token", csrf)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		return req, nil
	}
	for _, c := range []struct {
		name   string
		rps    int
		status int
		build  request
		target time.Duration
	}{
		{"GET /api/class-watches (10 watches)", 500, http.StatusOK, get("/api/class-watches"), 25 * time.Millisecond},
		{"GET /dashboard (10 watches)", 200, http.StatusOK, get("/dashboard"), 0},
		{"POST /api/class-watches", 100, http.StatusCreated, create, 0},
		{"GET /api/monitoring/health", 500, http.StatusOK, get("/api/monitoring/health"), 0},
	} {
		d := sz.apiDuration
		if c.rps*int(d.Seconds()) > 10000 && c.status == http.StatusCreated {
			d = 10000 / time.Duration(c.rps) * time.Second // 1,000 creators × 10 watches
		}
		label := fmt.Sprintf("%s at %d req/s for %s", c.name, c.rps, d)
		logf("api: %s", label)
		if c.status == http.StatusOK {
			// Warm-up, discarded: connections, caches, the Go scheduler.
			load(ctx, client, c.rps, time.Second, c.status, c.build)
		}
		r := load(ctx, client, c.rps, d, c.status, c.build)
		lat := ms(r.p50) + " / " + ms(r.p99)
		if c.target > 0 {
			rep.addTarget(area, label, "latency p50 / p99", lat, "p99 < "+ms(c.target), r.p99 < c.target && r.failed == 0)
		} else {
			rep.add(area, label, "latency p50 / p99", lat)
		}
		rep.add(area, label, "throughput (2xx)", rate(r.throughput))
		if r.failed+r.dropped > 0 {
			rep.add(area, label, "failed / dropped", fmt.Sprintf("%d / %d of %d", r.failed, r.dropped, r.sent))
			rep.note("%s: first error: %s", label, r.firstErr)
		}
	}
	_, peak, _ := p.memory()
	rep.addTarget("memory", "api, idle / under the API load", "api RSS idle / peak", mb(idle)+" / "+mb(peak), "< 80 MB under load", peak < 80e6)
}
