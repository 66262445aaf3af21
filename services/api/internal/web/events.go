package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/check"
)

// Hub fans the workers' section-change announcements (check.DecodeUpdate,
// PUBLISHed on one Redis channel) out to the live dashboards
// of this process, over one Redis subscription. Each dashboard subscribes
// to the sections it shows and receives only those: an announcement costs
// one map lookup per section, however many dashboards are open.
type Hub struct {
	rdb     redis.UniversalClient
	channel string
	log     zerolog.Logger

	mu     sync.Mutex
	subs   map[catalog.SectionKey][]*subscription // usually one dashboard per section
	all    map[*subscription]struct{}
	closed bool
	ready  chan struct{}
}

// subscription is one dashboard's interest in a set of sections.
type subscription struct {
	ch   chan []catalog.SectionKey
	keys []catalog.SectionKey
}

// NewHub returns a hub for channel; Run starts it.
func NewHub(rdb redis.UniversalClient, channel string, log zerolog.Logger) *Hub {
	return &Hub{
		rdb: rdb, channel: channel, log: log, ready: make(chan struct{}),
		subs: map[catalog.SectionKey][]*subscription{},
		all:  map[*subscription]struct{}{},
	}
}

// Ready is closed once the Redis subscription is active.
func (h *Hub) Ready() <-chan struct{} { return h.ready }

// Run relays announcements until ctx ends, then closes every subscriber's
// channel so open event streams finish and the server can shut down.
func (h *Hub) Run(ctx context.Context) error {
	defer func() {
		h.mu.Lock()
		h.closed = true
		for sub := range h.all {
			close(sub.ch)
		}
		h.all, h.subs = map[*subscription]struct{}{}, map[catalog.SectionKey][]*subscription{}
		h.mu.Unlock()
	}()
	ps := h.rdb.Subscribe(ctx, h.channel)
	defer ps.Close()
	if _, err := ps.Receive(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("subscribe %s: %w", h.channel, err)
	}
	close(h.ready)
	msgs := ps.Channel()
	for {
		select {
		case <-ctx.Done():
			return nil
		case m, ok := <-msgs:
			if !ok {
				return nil
			}
			keys, err := check.DecodeUpdate([]byte(m.Payload))
			if err != nil {
				h.log.Warn().Err(err).Msg("ignoring malformed section update")
				continue
			}
			h.publish(keys)
		}
	}
}

// publish hands every subscriber the announced keys it subscribed to,
// without blocking: a slow client misses an update rather than stalling the
// others (it gets the next one, and a reload always shows the current
// state).
func (h *Hub) publish(keys []catalog.SectionKey) {
	h.mu.Lock()
	defer h.mu.Unlock()
	matched := map[*subscription][]catalog.SectionKey{}
	for _, k := range keys {
		for _, sub := range h.subs[k] {
			matched[sub] = append(matched[sub], k)
		}
	}
	for sub, ks := range matched {
		select {
		case sub.ch <- ks:
		default:
		}
	}
}

// Subscribe returns a channel of the announcements that name any of keys,
// each narrowed to those keys, and a function to stop. The channel is
// closed when the hub stops.
func (h *Hub) Subscribe(keys []catalog.SectionKey) (<-chan []catalog.SectionKey, func()) {
	sub := &subscription{ch: make(chan []catalog.SectionKey, 16), keys: slices.Clone(keys)}
	h.mu.Lock()
	if h.closed {
		close(sub.ch)
	} else {
		h.all[sub] = struct{}{}
		for _, k := range sub.keys {
			h.subs[k] = append(h.subs[k], sub)
		}
	}
	h.mu.Unlock()
	return sub.ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if _, ok := h.all[sub]; !ok {
			return
		}
		delete(h.all, sub)
		for _, k := range sub.keys {
			if rest := slices.DeleteFunc(h.subs[k], func(s *subscription) bool { return s == sub }); len(rest) > 0 {
				h.subs[k] = rest
			} else {
				delete(h.subs, k)
			}
		}
		close(sub.ch)
	}
}

// heartbeatEvery keeps proxies from closing an idle event stream.
const heartbeatEvery = 25 * time.Second

// Defaults of the stream limits (Deps.Streams).
const (
	defaultStreamsPerUser = 4
	defaultStreamsTotal   = 2000
	defaultStreamRecheck  = 30 * time.Second
	defaultStreamLifetime = time.Hour
)

// StreamLimits bound the live-update streams of one API process.
type StreamLimits struct {
	// PerUser and Total cap the streams open at once for one user and in
	// all (defaults 4 and 2000); one more is refused with 429.
	PerUser, Total int
	// Recheck is how often an open stream checks that its session still
	// stands (default 30s): sign-out, a password change elsewhere or a
	// disabled account end it within this time.
	Recheck time.Duration
	// Lifetime ends every stream after this long (default 1h); the browser
	// reconnects, signing in again as any request does.
	Lifetime time.Duration
}

func (l *StreamLimits) setDefaults() {
	if l.PerUser <= 0 {
		l.PerUser = defaultStreamsPerUser
	}
	if l.Total <= 0 {
		l.Total = defaultStreamsTotal
	}
	if l.Recheck <= 0 {
		l.Recheck = defaultStreamRecheck
	}
	if l.Lifetime <= 0 {
		l.Lifetime = defaultStreamLifetime
	}
}

// streamSlots counts the open streams of this process, per user and in
// all.
type streamSlots struct {
	mu     sync.Mutex
	byUser map[int64]int
	total  int
}

// acquire takes a slot for user uid unless a cap is reached.
func (s *streamSlots) acquire(uid int64, l StreamLimits) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.total >= l.Total || s.byUser[uid] >= l.PerUser {
		return false
	}
	if s.byUser == nil {
		s.byUser = map[int64]int{}
	}
	s.byUser[uid]++
	s.total++
	return true
}

func (s *streamSlots) release(uid int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byUser[uid]--; s.byUser[uid] <= 0 {
		delete(s.byUser, uid)
	}
	s.total--
}

// events is the dashboard's Server-Sent Events stream: for every change to
// a section a card of the page shows (a section watch's section, the
// sections of a course watch's course, a linked watch's lecture and labs)
// it sends a "watch" event whose data is {"id": watch ID, "status": …,
// "seat_status": …, "html": the re-rendered card}. While the user has
// course or linked watches, each session recheck also follows the sections
// their courses gained or lost. Streams are capped per user and per
// process, end when their session does (checked every Streams.Recheck) and
// after Streams.Lifetime in any case.
func (a *app) events(c echo.Context) error {
	ctx := c.Request().Context()
	uid := currentUser(c).ID
	session, _ := c.Get(ctxSession).([]byte)
	if !a.streams.acquire(uid, a.Streams) {
		e := errorf(http.StatusTooManyRequests, "too many live-update streams open; close a tab and reload")
		e.RetryAfter = 60
		return e
	}
	defer a.streams.release(uid)
	vs, err := a.watchViews(ctx, uid)
	if err != nil {
		return err
	}
	keys, courses := a.streamKeys(ctx, vs)
	updates, stop := a.Updates.Subscribe(keys)
	defer func() { stop() }()

	w := c.Response()
	w.Header().Set(echo.HeaderContentType, "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprint(w, "retry: 5000\n: connected\n\n"); err != nil {
		return nil
	}
	w.Flush()
	tick := time.NewTicker(heartbeatEvery)
	defer tick.Stop()
	recheck := time.NewTicker(a.Streams.Recheck)
	defer recheck.Stop()
	end := time.NewTimer(a.Streams.Lifetime)
	defer end.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-end.C:
			return nil
		case <-recheck.C:
			if _, err := a.DB.Session(ctx, session, a.Now()); err != nil {
				// Signed out, password changed, account disabled or deleted,
				// or the database is unreachable: the stream ends either way.
				return nil
			}
			if !courses {
				continue
			}
			// Sections come and go from the courses of course and linked
			// watches: follow them, and show the cards that gained or lost
			// one.
			vs, err := a.watchViews(ctx, uid)
			if err != nil {
				return nil
			}
			fresh, _ := a.streamKeys(ctx, vs)
			if slices.Equal(fresh, keys) {
				continue
			}
			moved := symmetricDifference(keys, fresh)
			next, nextStop := a.Updates.Subscribe(fresh)
			stop()
			updates, stop, keys = next, nextStop, fresh
			if err := a.sendChanges(ctx, c, uid, moved); err != nil {
				zerolog.Ctx(ctx).Warn().Err(err).Msg("event stream")
				return nil
			}
		case <-tick.C:
			if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil {
				return nil
			}
			w.Flush()
		case keys, ok := <-updates:
			if !ok {
				return nil
			}
			if err := a.sendChanges(ctx, c, uid, keys); err != nil {
				zerolog.Ctx(ctx).Warn().Err(err).Msg("event stream")
				return nil
			}
		}
	}
}

func (a *app) sendChanges(ctx context.Context, c echo.Context, uid int64, keys []catalog.SectionKey) error {
	changed := map[catalog.SectionKey]bool{}
	for _, k := range keys {
		changed[k] = true
	}
	vs, err := a.watchViews(ctx, uid)
	if err != nil {
		return err
	}
	w := c.Response()
	csrf := csrfToken(c)
	sent := false
	for _, v := range vs {
		if !slices.ContainsFunc(v.keys, func(k catalog.SectionKey) bool { return changed[k] }) {
			continue
		}
		v.CSRF = csrf
		html, err := renderPartial("watchcard", v)
		if err != nil {
			return err
		}
		b, err := json.Marshal(map[string]any{"id": v.ID, "status": v.Status, "seat_status": v.SeatStatus, "html": html})
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "event: watch\ndata: %s\n\n", b); err != nil {
			return err
		}
		sent = true
	}
	if sent {
		w.Flush()
	}
	return nil
}

// streamKeys lists the sections the cards of vs show, sorted and without
// repeats, and reports whether any card is a course or linked watch's,
// whose sections can change. A course or linked watch's card also follows
// the sections its course had when it was last looked up: a watch just
// added shows its course's sections once the first check stores them, not
// a session recheck later.
func (a *app) streamKeys(ctx context.Context, vs []watchView) (keys []catalog.SectionKey, courses bool) {
	for _, v := range vs {
		keys = append(keys, v.keys...)
		if v.Kind == catalog.WatchSection {
			continue
		}
		courses = true
		for _, s := range a.cachedCourse(ctx, catalog.CourseKey{Term: v.Term, Subject: v.Subject, CatalogNbr: v.CatalogNbr}) {
			keys = append(keys, s.Key())
		}
	}
	slices.SortFunc(keys, func(a, b catalog.SectionKey) int { return strings.Compare(a.String(), b.String()) })
	return slices.Compact(keys), courses
}

// symmetricDifference returns the keys in exactly one of the sorted lists
// a and b.
func symmetricDifference(a, b []catalog.SectionKey) []catalog.SectionKey {
	var out []catalog.SectionKey
	for _, k := range a {
		if _, found := slices.BinarySearchFunc(b, k, func(x, y catalog.SectionKey) int { return strings.Compare(x.String(), y.String()) }); !found {
			out = append(out, k)
		}
	}
	for _, k := range b {
		if _, found := slices.BinarySearchFunc(a, k, func(x, y catalog.SectionKey) int { return strings.Compare(x.String(), y.String()) }); !found {
			out = append(out, k)
		}
	}
	return out
}
