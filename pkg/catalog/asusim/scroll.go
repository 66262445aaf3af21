package asusim

import (
	"container/list"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Scroll context defaults, as Elasticsearch's scroll=1m and a bound on the
// contexts a busy cluster keeps open.
const (
	DefaultScrollKeepAlive = 60 * time.Second
	DefaultMaxScrolls      = 10000
)

// scrollContext is one search being walked: the matching sections frozen
// when its first page was served, and how far the walk has read.
type scrollContext struct {
	id      string
	rows    []*record
	next    int // offset of the next page
	pages   int // pages served, the first included
	expires time.Time
	elem    *list.Element
}

// scrollTable holds the live scroll contexts, least recently used first.
type scrollTable struct {
	now   func() time.Time
	nonce string // tells this server's scroll ids from another's

	mu        sync.Mutex
	byID      map[string]*scrollContext
	lru       *list.List // of *scrollContext
	keepAlive time.Duration
	max       int
	seq       uint64
	evicted   int64
}

func newScrollTable(now func() time.Time) *scrollTable {
	b := make([]byte, 6)
	_, _ = rand.Read(b) // never fails (crypto/rand panics rather)
	return &scrollTable{
		now:       now,
		nonce:     hex.EncodeToString(b),
		byID:      map[string]*scrollContext{},
		lru:       list.New(),
		keepAlive: DefaultScrollKeepAlive,
		max:       DefaultMaxScrolls,
	}
}

const scrollPrefix = "sim-scroll:"

// A scroll id is base64url("sim-scroll:<server nonce>:<sequence>"): opaque
// like Elasticsearch's, well-formed or not at a glance, and never reused, so
// an id from before a restart or an expired walk finds no context.
func (t *scrollTable) newID() string {
	t.seq++
	return base64.RawURLEncoding.EncodeToString([]byte(scrollPrefix + t.nonce + ":" + strconv.FormatUint(t.seq, 10)))
}

// validScrollID reports whether id has the simulator's format; a
// well-formed id may still name no live context.
func validScrollID(id string) bool {
	b, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil {
		return false
	}
	rest, ok := strings.CutPrefix(string(b), scrollPrefix)
	if !ok {
		return false
	}
	nonce, seq, ok := strings.Cut(rest, ":")
	if !ok || nonce == "" {
		return false
	}
	_, err = strconv.ParseUint(seq, 10, 64)
	return err == nil
}

// open starts a walk over rows whose first served rows went out on the
// first page, and returns its scroll id. A search answered in full by its
// first page keeps no context (its id is already spent, as if the context
// had been dropped with the last page).
func (t *scrollTable) open(rows []*record, served int) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	id := t.newID()
	if served >= len(rows) {
		return id
	}
	now := t.now()
	t.dropExpired(now)
	c := &scrollContext{id: id, rows: rows, next: served, pages: 1, expires: now.Add(t.keepAlive)}
	c.elem = t.lru.PushBack(c)
	t.byID[id] = c
	for t.lru.Len() > t.max {
		t.drop(t.lru.Front().Value.(*scrollContext))
		t.evicted++
	}
	return id
}

// next serves the next page of a walk, renewing its keep-alive, and returns
// the page and the snapshot's size; ok is false when no live context has
// that id. The page that ends the walk drops the context.
func (t *scrollTable) next(id string) (page []*record, total int, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.live(id)
	if c == nil {
		return nil, 0, false
	}
	end := min(c.next+PageSize, len(c.rows))
	page = c.rows[c.next:end]
	c.next = end
	c.pages++
	if c.next >= len(c.rows) {
		t.drop(c)
	} else {
		c.expires = t.now().Add(t.keepAlive)
		t.lru.MoveToBack(c.elem)
	}
	return page, len(c.rows), true
}

// nextPage returns the page number the next request with id would get
// (2 for the first scroll page), or 0 when no live context has that id.
func (t *scrollTable) nextPage(id string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c := t.live(id); c != nil {
		return c.pages + 1
	}
	return 0
}

// live returns the context named id unless it is missing or expired (an
// expired one is dropped); t.mu must be held.
func (t *scrollTable) live(id string) *scrollContext {
	c, ok := t.byID[id]
	if !ok {
		return nil
	}
	if !t.now().Before(c.expires) {
		t.drop(c)
		return nil
	}
	return c
}

// dropExpired drops expired contexts from the least recently used end,
// where they gather (a shortened keep-alive can leave one further in, which
// live drops when it is asked for).
func (t *scrollTable) dropExpired(now time.Time) {
	for e := t.lru.Front(); e != nil; e = t.lru.Front() {
		c := e.Value.(*scrollContext)
		if now.Before(c.expires) {
			return
		}
		t.drop(c)
	}
}

func (t *scrollTable) drop(c *scrollContext) {
	t.lru.Remove(c.elem)
	delete(t.byID, c.id)
}

// expireAll drops every context.
func (t *scrollTable) expireAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.byID = map[string]*scrollContext{}
	t.lru.Init()
}

// scrollStats is what State reports about scroll contexts.
type scrollStats struct {
	live, max int
	keepAlive time.Duration
	evicted   int64
}

func (t *scrollTable) stats() scrollStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.dropExpired(t.now())
	return scrollStats{live: t.lru.Len(), max: t.max, keepAlive: t.keepAlive, evicted: t.evicted}
}

// SetScrollKeepAlive sets how long a scroll context lives without being
// read (default DefaultScrollKeepAlive). It applies from each context's next
// page on.
func (s *Server) SetScrollKeepAlive(d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("scroll keep-alive %v is not positive", d)
	}
	s.scrolls.mu.Lock()
	defer s.scrolls.mu.Unlock()
	s.scrolls.keepAlive = d
	return nil
}

// SetMaxScrolls bounds the live scroll contexts (default
// DefaultMaxScrolls); opening one more evicts the least recently used.
func (s *Server) SetMaxScrolls(n int) error {
	if n < 1 {
		return errors.New("max scrolls must be at least 1")
	}
	s.scrolls.mu.Lock()
	defer s.scrolls.mu.Unlock()
	s.scrolls.max = n
	for s.scrolls.lru.Len() > n {
		s.scrolls.drop(s.scrolls.lru.Front().Value.(*scrollContext))
		s.scrolls.evicted++
	}
	return nil
}

// ExpireScrolls drops every live scroll context, as a keep-alive running
// out would: the next page of any walk answers 404 "No search context
// found".
func (s *Server) ExpireScrolls() { s.scrolls.expireAll() }
