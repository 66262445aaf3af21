package asusim

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
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
	sections map[catalog.SectionKey]SectionSpec
	byCourse map[catalog.CourseKey][]catalog.SectionKey // subject upper-cased
	order    []catalog.SectionKey                       // sorted; nil after a change
	terms    []catalog.Term
	faults   []*FaultState

	latency  atomic.Int64 // time.Duration
	requests atomic.Int64
	classes  atomic.Int64
	termsReq atomic.Int64
}

// New returns a Server holding sc. Sections are taken as given; use
// sc.Validate (or LoadScenario) to reject a bad hand-written scenario.
func New(sc Scenario) *Server {
	s := &Server{
		sections: make(map[catalog.SectionKey]SectionSpec, len(sc.Sections)),
		byCourse: make(map[catalog.CourseKey][]catalog.SectionKey),
		terms:    slices.Clone(sc.Terms),
	}
	for _, sec := range sc.Sections {
		s.put(sec)
	}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET "+BasePath+"/classes", s.api(&s.classes, s.handleClasses))
	s.mux.HandleFunc("GET "+BasePath+"/terms", s.api(&s.termsReq, s.handleTerms))
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	s.routeControl()
	return s
}

// ServeHTTP serves the API, the control endpoints and /healthz.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func courseKey(sec SectionSpec) catalog.CourseKey {
	return catalog.CourseKey{Term: sec.Term, Subject: strings.ToUpper(sec.Subject), CatalogNbr: sec.CatalogNbr}
}

// put adds or replaces a section; s.mu must be held (or s unshared).
func (s *Server) put(sec SectionSpec) {
	key := sec.Key()
	if old, ok := s.sections[key]; ok {
		s.unindex(old)
	}
	s.sections[key] = sec
	ck := courseKey(sec)
	s.byCourse[ck] = append(s.byCourse[ck], key)
	s.order = nil
	if !slices.ContainsFunc(s.terms, func(t catalog.Term) bool { return t.Code == sec.Term }) {
		s.terms = append(s.terms, catalog.Term{Code: sec.Term, Name: asu.TermName(sec.Term)})
	}
}

func (s *Server) unindex(sec SectionSpec) {
	ck := courseKey(sec)
	keys := slices.DeleteFunc(s.byCourse[ck], func(k catalog.SectionKey) bool { return k == sec.Key() })
	if len(keys) == 0 {
		delete(s.byCourse, ck)
	} else {
		s.byCourse[ck] = keys
	}
	s.order = nil
}

func lessSection(a, b SectionSpec) int {
	return cmp.Or(
		cmp.Compare(a.Term, b.Term),
		cmp.Compare(a.Subject, b.Subject),
		cmp.Compare(a.CatalogNbr, b.CatalogNbr),
		cmp.Compare(a.Section, b.Section),
		cmp.Compare(a.ClassNbr, b.ClassNbr),
	)
}

// sorted returns every key in catalog order, rebuilding the order after a
// change; s.mu must be held for writing.
func (s *Server) sorted() []catalog.SectionKey {
	if s.order == nil {
		s.order = make([]catalog.SectionKey, 0, len(s.sections))
		for k := range s.sections {
			s.order = append(s.order, k)
		}
		slices.SortFunc(s.order, func(a, b catalog.SectionKey) int { return lessSection(s.sections[a], s.sections[b]) })
	}
	return s.order
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

// search returns the matching sections in catalog order. The common lookups
// (one class number, one course) use an index; anything else scans.
func (s *Server) search(q query) []SectionSpec {
	switch {
	case q.term != "" && q.classNbr != "":
		s.mu.RLock()
		defer s.mu.RUnlock()
		if sec, ok := s.sections[catalog.SectionKey{Term: q.term, ClassNbr: q.classNbr}]; ok && q.match(sec) {
			return []SectionSpec{sec}
		}
		return nil
	case q.term != "" && q.subject != "" && q.catalogNbr != "":
		s.mu.RLock()
		defer s.mu.RUnlock()
		var out []SectionSpec
		for _, k := range s.byCourse[catalog.CourseKey{Term: q.term, Subject: strings.ToUpper(q.subject), CatalogNbr: q.catalogNbr}] {
			if sec := s.sections[k]; q.match(sec) {
				out = append(out, sec)
			}
		}
		slices.SortFunc(out, lessSection)
		return out
	}
	s.mu.Lock() // sorted may rebuild the order
	defer s.mu.Unlock()
	var out []SectionSpec
	for _, k := range s.sorted() {
		if sec := s.sections[k]; q.match(sec) {
			out = append(out, sec)
		}
	}
	return out
}

// The scroll cursor is stateless: it encodes the offset of the next page.
// Unlike Elasticsearch's it is not a snapshot, so a change between pages can
// shift rows; tests that care change the catalog between searches.
func encodeScroll(offset int) string {
	return base64.StdEncoding.EncodeToString([]byte("sim-scroll:" + strconv.Itoa(offset)))
}

func decodeScroll(id string) (int, bool) {
	b, err := base64.StdEncoding.DecodeString(id)
	if err != nil {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimPrefix(string(b), "sim-scroll:"))
	if err != nil || n < 0 || !strings.HasPrefix(string(b), "sim-scroll:") {
		return 0, false
	}
	return n, true
}

func (s *Server) handleClasses(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	q := query{
		term: v.Get("term"), subject: v.Get("subject"), catalogNbr: v.Get("catalogNbr"),
		classNbr: v.Get("classNbr"), keywords: strings.TrimSpace(v.Get("keywords")),
	}
	offset := 0
	if id := v.Get("scrollId"); id != "" {
		var ok bool
		if offset, ok = decodeScroll(id); !ok {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid scrollId"})
			return
		}
	}
	matches := s.search(q)
	page := matches[min(offset, len(matches)):min(offset+PageSize, len(matches))]
	resp := classesResponse{
		Classes:      make([]apiSection, len(page)),
		Aggregations: map[string]any{},
		ScrollID:     encodeScroll(offset + len(page)),
		Total:        apiTotal{Value: len(matches), Relation: "eq"},
	}
	for i, sec := range page {
		resp.Classes[i] = toAPI(sec)
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) handleTerms(w http.ResponseWriter, _ *http.Request) {
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

// api wraps an API handler with what every upstream request goes through:
// counting, latency, injected faults and the "Bearer null" check.
func (s *Server) api(counter *atomic.Int64, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		counter.Add(1)
		if !sleep(r.Context(), time.Duration(s.latency.Load())) {
			return
		}
		if f, ok := s.takeFault(); ok {
			switch f.Kind {
			case FaultDelay:
				if !sleep(r.Context(), time.Duration(f.DelayMS)*time.Millisecond) {
					return
				}
			case FaultStatus:
				if f.RetryAfterSeconds > 0 {
					w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfterSeconds))
				}
				writeJSON(w, f.Status, map[string]string{"error": http.StatusText(f.Status)})
				return
			case FaultMalformed:
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{"classes":[{"CLAS":{"STRM":"22`))
				return
			}
		}
		if r.Header.Get("Authorization") != "Bearer null" {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "Unauthorized"})
			return
		}
		h(w, r)
	}
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
