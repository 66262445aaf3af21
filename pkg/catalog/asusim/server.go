package asusim

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asu"
)

// BasePath is where the search API lives, as on the real host; a client's
// base URL is the server's root followed by BasePath.
const BasePath = "/catalog-microservices/api/v1/search"

// PageSize is the number of rows per page, fixed as upstream.
const PageSize = 200

// ErrNotFound is returned by mutations of a section the catalog lacks.
var ErrNotFound = errors.New("no such section")

// Server is the simulated catalog. Create it with New; it is an http.Handler.
type Server struct {
	mux *http.ServeMux

	mu       sync.RWMutex
	sections map[catalog.SectionKey]*record
	idx      *index // nil after a section is added or removed; rebuilt on demand
	terms    []catalog.Term
	faults   []*FaultState
	// courses holds each course's sections and their components, from
	// which every section of the course renders SSR and COMPONENTPRIMARY.
	courses map[catalog.CourseKey]map[catalog.SectionKey]string
	// deadlines holds the terms' last days to enroll (deadlineLayout);
	// defaultDeadline serves the other terms.
	deadlines       map[string]string
	defaultDeadline string

	scrolls *scrollTable

	latency        atomic.Int64 // time.Duration
	requests       atomic.Int64
	classes        atomic.Int64
	termsReq       atomic.Int64
	reservedReq    atomic.Int64
	firstPages     atomic.Int64
	scrollPages    atomic.Int64
	scrollMisses   atomic.Int64
	sectionsServed atomic.Int64
	bytesServed    atomic.Int64

	searchMu sync.Mutex
	searches map[string]int64 // by searchKey
}

// DefaultEnrollWindow is how far after a server starts its default
// enrollment deadline falls: far enough that a demo or a test never sees
// its sections' enrollment close unless it sets a deadline itself.
const DefaultEnrollWindow = 90 * 24 * time.Hour

// New returns a Server holding sc. Sections are taken as given; use
// sc.Validate (or LoadScenario) to reject a bad hand-written scenario.
func New(sc Scenario) *Server {
	s := &Server{
		sections:        make(map[catalog.SectionKey]*record, len(sc.Sections)),
		terms:           slices.Clone(sc.Terms),
		courses:         map[catalog.CourseKey]map[catalog.SectionKey]string{},
		deadlines:       map[string]string{},
		defaultDeadline: deadlineDay(time.Now().Add(DefaultEnrollWindow)),
		scrolls:         newScrollTable(time.Now),
		searches:        map[string]int64{},
	}
	maps.Copy(s.deadlines, sc.EnrollDeadlines)
	for _, sec := range sc.Sections {
		s.put(sec)
	}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET "+BasePath+"/classes", s.countSearch(s.api(&s.classes, s.handleClasses)))
	s.mux.HandleFunc("GET "+BasePath+"/terms", s.api(&s.termsReq, s.handleTerms))
	s.mux.HandleFunc("GET "+BasePath+"/reservedseatsadditionalinfo", s.api(&s.reservedReq, s.handleReserved))
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	s.routeControl()
	return s
}

// ServeHTTP serves the API, the control endpoints and /healthz.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// record is one section as served. It is never modified once stored (a
// change stores a new record), so scroll snapshots share records safely and
// each renders its JSON row once.
type record struct {
	spec    SectionSpec
	subject string // upper-cased, for ordering and subject searches
	// course and deadline are what the row says beyond spec: its course's
	// components and its enrollment deadline day.
	course   courseComponents
	deadline string
	once     sync.Once
	row      []byte
}

// courseComponents is what every section of a course says about the
// course's components: SSR lists them ("Lecture, Laboratory") and
// COMPONENTPRIMARY names the one students enroll in (the lecture when there
// is one).
type courseComponents struct {
	ssr, primary string
}

// newRecord renders sec against the rest of the catalog; s.mu must be held
// for writing.
func (s *Server) newRecord(sec SectionSpec) *record {
	return &record{
		spec:     sec,
		subject:  strings.ToUpper(sec.Subject),
		course:   s.components(sec.Course()),
		deadline: cmp.Or(sec.EnrollDeadline, s.deadlines[sec.Term], s.defaultDeadline),
	}
}

// json returns the section's row as the API sends it.
func (r *record) json() []byte {
	r.once.Do(func() {
		// A struct of strings, ints and string slices always marshals.
		r.row, _ = json.Marshal(toAPI(r.spec, r.course, r.deadline))
	})
	return r.row
}

// components lists course c's components in SSR's order; s.mu must be held.
func (s *Server) components(c catalog.CourseKey) courseComponents {
	has := map[string]bool{}
	for _, code := range s.courses[c] {
		has[code] = true
	}
	var cc courseComponents
	var words []string
	for _, n := range componentNames {
		if has[n.code] {
			cc.primary = cmp.Or(cc.primary, n.code)
			words = append(words, n.word)
		}
	}
	cc.ssr = strings.Join(words, ", ")
	return cc
}

// deadlineDay is the day of t in Arizona, in deadlineLayout.
func deadlineDay(t time.Time) string { return t.In(asu.Phoenix).Format(deadlineLayout) }

// compareRecords is the catalog order: term, subject, catalog number,
// section, class number. Every search answers in this order, so walks are
// deterministic.
func compareRecords(a, b *record) int {
	return cmp.Or(
		cmp.Compare(a.spec.Term, b.spec.Term),
		cmp.Compare(a.subject, b.subject),
		cmp.Compare(a.spec.CatalogNbr, b.spec.CatalogNbr),
		cmp.Compare(a.spec.Section, b.spec.Section),
		cmp.Compare(a.spec.ClassNbr, b.spec.ClassNbr),
	)
}

// span is a range [lo, hi) of index.order.
type span struct{ lo, hi int }

type termSubject struct{ term, subject string }

// index is the catalog in order with the ranges a term or a subject
// occupies, so a term or subject search is a slice of order, not a scan.
// order may be shared with scroll snapshots (shared is then set): a change
// copies it before writing.
type index struct {
	order    []*record
	pos      map[catalog.SectionKey]int
	terms    map[string]span
	subjects map[termSubject]span
	shared   atomic.Bool
}

func buildIndex(sections map[catalog.SectionKey]*record) *index {
	ix := &index{
		order:    make([]*record, 0, len(sections)),
		pos:      make(map[catalog.SectionKey]int, len(sections)),
		terms:    map[string]span{},
		subjects: map[termSubject]span{},
	}
	for _, r := range sections {
		ix.order = append(ix.order, r)
	}
	slices.SortFunc(ix.order, compareRecords)
	for i, r := range ix.order {
		ix.pos[r.spec.Key()] = i
		t := ix.terms[r.spec.Term]
		if t.hi == 0 {
			t.lo = i
		}
		t.hi = i + 1
		ix.terms[r.spec.Term] = t
		ts := termSubject{r.spec.Term, r.subject}
		sp := ix.subjects[ts]
		if sp.hi == 0 {
			sp.lo = i
		}
		sp.hi = i + 1
		ix.subjects[ts] = sp
	}
	return ix
}

// slice returns order[sp] for the caller to keep past the lock. A result
// that fits one page (a course, a small subject) is copied, which is cheap;
// a longer one, which a scroll context may hold for a while, is shared, and
// the next change copies order instead.
func (ix *index) slice(sp span) []*record {
	if sp.hi-sp.lo <= PageSize {
		return slices.Clone(ix.order[sp.lo:sp.hi])
	}
	ix.shared.Store(true)
	return ix.order[sp.lo:sp.hi:sp.hi]
}

// readIndex returns the index with s.mu read-locked (building it first if a
// change dropped it); the caller must RUnlock.
func (s *Server) readIndex() *index {
	s.mu.RLock()
	for s.idx == nil {
		s.mu.RUnlock()
		s.writeIndex()
		s.mu.Unlock()
		s.mu.RLock()
	}
	return s.idx
}

// writeIndex locks s.mu for writing and returns the index, built if needed;
// the caller must Unlock.
func (s *Server) writeIndex() *index {
	s.mu.Lock()
	if s.idx == nil {
		s.idx = buildIndex(s.sections)
	}
	return s.idx
}

// put adds or replaces a section; s.mu must be held (or s unshared).
func (s *Server) put(sec SectionSpec) {
	key := sec.Key()
	old, had := s.sections[key]
	if had {
		s.leave(old.spec)
	}
	s.join(sec)
	s.sections[key] = s.newRecord(sec)
	s.idx = nil
	s.rerender(sec.Course())
	if had && old.spec.Course() != sec.Course() {
		s.rerender(old.spec.Course())
	}
	if !slices.ContainsFunc(s.terms, func(t catalog.Term) bool { return t.Code == sec.Term }) {
		s.terms = append(s.terms, catalog.Term{Code: sec.Term, Name: asu.TermName(sec.Term)})
	}
}

// join and leave keep s.courses; s.mu must be held for writing.
func (s *Server) join(sec SectionSpec) {
	c := sec.Course()
	if s.courses[c] == nil {
		s.courses[c] = map[catalog.SectionKey]string{}
	}
	s.courses[c][sec.Key()] = sec.component()
}

func (s *Server) leave(sec SectionSpec) {
	c := sec.Course()
	delete(s.courses[c], sec.Key())
	if len(s.courses[c]) == 0 {
		delete(s.courses, c)
	}
}

// rerender renders again the sections of course c whose rows no longer
// list its components right, after a section of it came, went or changed
// its component; s.mu must be held for writing.
func (s *Server) rerender(c catalog.CourseKey) {
	cc := s.components(c)
	for key := range s.courses[c] {
		if r := s.sections[key]; r.course != cc {
			s.replace(r.spec)
		}
	}
}

// replace stores a changed copy of a section whose term, subject, catalog
// and class numbers are unchanged, so its place in the order is too; s.mu
// must be held for writing.
func (s *Server) replace(sec SectionSpec) {
	r := s.newRecord(sec)
	s.sections[sec.Key()] = r
	if s.idx == nil {
		return
	}
	if s.idx.shared.Load() {
		s.idx.order = slices.Clone(s.idx.order)
		s.idx.shared.Store(false)
	}
	s.idx.order[s.idx.pos[sec.Key()]] = r
}

// query is a class search's filters.
type query struct {
	term, subject, catalogNbr, classNbr, keywords string
}

func (q query) match(sec SectionSpec) bool {
	if q.term != "" && sec.Term != q.term ||
		q.subject != "" && !strings.EqualFold(sec.Subject, q.subject) ||
		q.catalogNbr != "" && sec.CatalogNbr != q.catalogNbr ||
		q.classNbr != "" && sec.ClassNbr != q.classNbr {
		return false
	}
	if q.keywords == "" {
		return true
	}
	kw := strings.ToLower(q.keywords)
	return sec.ClassNbr == q.keywords ||
		strings.ToLower(sec.Subject+" "+sec.CatalogNbr) == kw ||
		strings.EqualFold(sec.Subject, kw) ||
		strings.Contains(strings.ToLower(sec.Title), kw)
}

// search returns the matching sections in catalog order, frozen: later
// changes to the catalog do not reach the returned records. A class number,
// a course, a subject or a whole term is found through the index without a
// scan; other filters scan the narrowest of those.
func (s *Server) search(q query) []*record {
	ix := s.readIndex()
	defer s.mu.RUnlock()
	if q.term != "" && q.classNbr != "" {
		if r, ok := s.sections[catalog.SectionKey{Term: q.term, ClassNbr: q.classNbr}]; ok && q.match(r.spec) {
			return []*record{r}
		}
		return nil
	}
	sp := span{0, len(ix.order)}
	exact := false
	if q.term != "" {
		sp, exact = ix.terms[q.term], q.catalogNbr == ""
		if q.subject != "" {
			sp, exact = ix.subjects[termSubject{q.term, strings.ToUpper(q.subject)}], true
			if q.catalogNbr != "" {
				sp = courseSpan(ix.order, sp, q.catalogNbr)
			}
		}
	}
	if exact && q.keywords == "" {
		return ix.slice(sp)
	}
	var out []*record
	for _, r := range ix.order[sp.lo:sp.hi] {
		if q.match(r.spec) {
			out = append(out, r)
		}
	}
	return out
}

// courseSpan narrows a subject's span to one catalog number.
func courseSpan(order []*record, sp span, catalogNbr string) span {
	sub := order[sp.lo:sp.hi]
	lo, _ := slices.BinarySearchFunc(sub, catalogNbr, func(r *record, nbr string) int {
		return cmp.Compare(r.spec.CatalogNbr, nbr)
	})
	hi := lo
	for hi < len(sub) && sub[hi].spec.CatalogNbr == catalogNbr {
		hi++
	}
	return span{sp.lo + lo, sp.lo + hi}
}

// errorBody is the API's error answer.
type errorBody struct {
	Error string `json:"error"`
}

func (s *Server) handleClasses(w http.ResponseWriter, r *http.Request, trunc *Fault) {
	v := r.URL.Query()
	var (
		id    string
		rows  []*record // the page
		total int
	)
	if id = v.Get("scrollId"); id != "" {
		if !validScrollID(id) {
			writeJSON(w, http.StatusBadRequest, errorBody{"invalid scrollId"})
			return
		}
		page, n, ok := s.scrolls.next(id)
		if !ok {
			s.scrollMisses.Add(1)
			writeJSON(w, http.StatusNotFound, errorBody{"No search context found"})
			return
		}
		s.scrollPages.Add(1)
		rows, total = page, n
	} else {
		matches := s.search(query{
			term: v.Get("term"), subject: v.Get("subject"), catalogNbr: v.Get("catalogNbr"),
			classNbr: v.Get("classNbr"), keywords: strings.TrimSpace(v.Get("keywords")),
		})
		s.firstPages.Add(1)
		rows, total = matches[:min(PageSize, len(matches))], len(matches)
		id = s.scrolls.open(matches, len(rows))
	}
	if trunc != nil {
		rows = rows[:trunc.kept(len(rows))]
	}
	body := renderPage(rows, id, total)
	s.sectionsServed.Add(int64(len(rows)))
	s.bytesServed.Add(int64(len(body)))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write(body)
}

// renderPage writes a class search answer from the rows' cached JSON.
func renderPage(rows []*record, scrollID string, total int) []byte {
	n := 128
	for _, r := range rows {
		n += len(r.json()) + 1
	}
	var b bytes.Buffer
	b.Grow(n)
	b.WriteString(`{"classes":[`)
	for i, r := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(r.json())
	}
	b.WriteString(`],"aggregations":{},"scrollId":`)
	id, _ := json.Marshal(scrollID) // a string always marshals
	b.Write(id)
	b.WriteString(`,"total":{"value":`)
	b.WriteString(strconv.Itoa(total))
	b.WriteString(`,"relation":"eq"}}` + "\n")
	return b.Bytes()
}

func (s *Server) handleTerms(w http.ResponseWriter, _ *http.Request, _ *Fault) {
	s.mu.RLock()
	terms := slices.Clone(s.terms)
	s.mu.RUnlock()
	// Upstream lists the newest term first.
	slices.SortFunc(terms, func(a, b catalog.Term) int { return cmp.Compare(b.Code, a.Code) })
	type entry struct {
		Value string `json:"value"`
		Label string `json:"label"`
	}
	list := make([]entry, len(terms))
	for i, t := range terms {
		list[i] = entry{Value: t.Code, Label: t.Name}
	}
	resp := map[string][]entry{"fullList": list, "futureList": list, "currentTerm": {}}
	if len(list) > 0 {
		resp["currentTerm"] = list[len(list)-1:]
	}
	writeJSON(w, http.StatusOK, resp)
}

// apiHandler serves one API request; trunc is a truncated-page fault that
// applies to it, or nil.
type apiHandler func(w http.ResponseWriter, r *http.Request, trunc *Fault)

// api wraps an API handler with what every upstream request goes through:
// counting, latency, injected faults and the "Bearer null" check.
func (s *Server) api(counter *atomic.Int64, h apiHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		counter.Add(1)
		if !sleep(r.Context(), time.Duration(s.latency.Load())) {
			return
		}
		var trunc *Fault
		if f, ok := s.takeFault(path.Base(r.URL.Path), s.pageOf(r)); ok {
			switch f.Kind {
			case FaultDelay:
				if !sleep(r.Context(), time.Duration(f.DelayMS)*time.Millisecond) {
					return
				}
			case FaultStatus:
				if f.RetryAfterSeconds > 0 {
					w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfterSeconds))
				}
				writeJSON(w, f.Status, errorBody{http.StatusText(f.Status)})
				return
			case FaultMalformed:
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{"classes":[{"CLAS":{"STRM":"22`))
				return
			case FaultTruncated:
				trunc = &f
			}
		}
		if r.Header.Get("Authorization") != "Bearer null" {
			writeJSON(w, http.StatusUnauthorized, errorBody{"Unauthorized"})
			return
		}
		h(w, r, trunc)
	}
}

// pageOf numbers a request within its search: 1 for a class search's first
// page, 2 for its first scroll page and so on; 0 when it is not a class
// search page (terms, or a scrollId with no live context).
func (s *Server) pageOf(r *http.Request) int {
	if !strings.HasSuffix(r.URL.Path, "/classes") {
		return 0
	}
	id := r.URL.Query().Get("scrollId")
	if id == "" {
		return 1
	}
	return s.scrolls.nextPage(id)
}

// sleep waits d or until ctx ends, reporting whether the wait completed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Requests returns the number of API requests served (or refused) so far;
// control and health requests are not counted.
func (s *Server) Requests() int64 { return s.requests.Load() }
