package main

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// liveStreams is a set of open dashboards: each holds the API's Server-Sent
// Events stream of one user and counts the card updates it receives.
type liveStreams struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	opened atomic.Int64 // streams that answered 200 and sent their preamble
	failed atomic.Int64 // streams that could not open or ended before stop
	events atomic.Int64 // "watch" events received
}

// openStreams opens one event stream per session against base and returns
// once every stream has opened or failed (bounded by ctx).
func openStreams(ctx context.Context, base string, sessions []session) *liveStreams {
	ctx, cancel := context.WithCancel(ctx)
	ls := &liveStreams{cancel: cancel}
	// No client timeout: a stream lasts the whole run.
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: len(sessions)}}
	var ready sync.WaitGroup
	for _, s := range sessions {
		ready.Add(1)
		ls.wg.Go(func() {
			once := sync.OnceFunc(ready.Done)
			defer once()
			if !ls.run(ctx, client, base, s, once) && ctx.Err() == nil {
				ls.failed.Add(1)
			}
		})
	}
	ready.Wait()
	return ls
}

// run holds one stream until ctx ends; it reports whether the stream lasted.
func (ls *liveStreams) run(ctx context.Context, client *http.Client, base string, s session, opened func()) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/events", nil)
	if err != nil {
		return false
	}
	req.Header.Set("Cookie", "pmc_session="+s.cookie)
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, ": connected"):
			ls.opened.Add(1)
			opened()
		case line == "event: watch":
			ls.events.Add(1)
		}
	}
	return ctx.Err() != nil
}

// waitEvents waits until at least want events arrived or d passed.
func (ls *liveStreams) waitEvents(ctx context.Context, want int64, d time.Duration) {
	_ = poll(ctx, d, 100*time.Millisecond, func() (bool, error) { return ls.events.Load() >= want, nil })
}

// close ends every stream and waits for them.
func (ls *liveStreams) close() {
	ls.cancel()
	ls.wg.Wait()
}
