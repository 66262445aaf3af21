package asusim

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand"
	"net/http"
	"slices"
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asu"
)

// FaultKind is what an injected fault does to a request.
type FaultKind string

// Fault kinds.
const (
	// FaultStatus answers with Status (and Retry-After when set).
	FaultStatus FaultKind = "status"
	// FaultDelay holds the request DelayMS before serving it normally.
	FaultDelay FaultKind = "delay"
	// FaultMalformed answers 200 with a body cut short mid-JSON.
	FaultMalformed FaultKind = "malformed"
	// FaultTruncated answers a class search page with 200 and well-formed
	// JSON that holds fewer rows than the page should (Rows of them; by
	// default half), while total.value still counts every match: what
	// Elasticsearch sends when some shards fail (partial results). The walk
	// moves past the whole page, so the missing rows never come in this
	// walk; a client sees it only by counting rows against total.value (a
	// short page that is not the last, or a walk that ends short).
	FaultTruncated FaultKind = "truncated"
)

// Fault is an injected failure of the next Count API requests it applies to
// (0: every one until ClearFaults). With Page set it applies only to that
// page of a class search: 1 is a search's first page, 2 its first scroll
// page, and so on; 0 is any request, as are terms requests.
type Fault struct {
	Kind              FaultKind `json:"kind"`
	Status            int       `json:"status,omitempty"`
	RetryAfterSeconds int       `json:"retry_after_seconds,omitempty"`
	DelayMS           int       `json:"delay_ms,omitempty"`
	Count             int       `json:"count,omitempty"`
	Page              int       `json:"page,omitempty"`
	// Rows is how many rows a truncated page keeps (0: half the page).
	Rows int `json:"rows,omitempty"`
	// Endpoint, when set, limits the fault to one API endpoint: "classes",
	// "terms" or "reservedseatsadditionalinfo".
	Endpoint string `json:"endpoint,omitempty"`
}

func (f Fault) validate() error {
	switch f.Kind {
	case FaultStatus:
		if f.Status < 400 || f.Status > 599 {
			return fmt.Errorf("status fault needs a 4xx or 5xx status, not %d", f.Status)
		}
	case FaultDelay:
		if f.DelayMS <= 0 {
			return errors.New("delay fault needs a positive delay_ms")
		}
	case FaultMalformed:
	case FaultTruncated:
		if f.Rows < 0 || f.Rows >= PageSize {
			return fmt.Errorf("truncated fault keeps 0 to %d rows, not %d", PageSize-1, f.Rows)
		}
	default:
		return fmt.Errorf("unknown fault kind %q", f.Kind)
	}
	if f.Kind != FaultTruncated && f.Rows != 0 {
		return errors.New("rows applies only to a truncated fault")
	}
	switch f.Endpoint {
	case "", "classes", "terms", "reservedseatsadditionalinfo":
	default:
		return fmt.Errorf("unknown endpoint %q", f.Endpoint)
	}
	if f.Page != 0 && f.Endpoint != "" && f.Endpoint != "classes" {
		return errors.New("page applies only to the classes endpoint")
	}
	if f.Count < 0 || f.RetryAfterSeconds < 0 || f.Page < 0 {
		return errors.New("count, page and retry_after_seconds cannot be negative")
	}
	return nil
}

// appliesTo reports whether f applies to a request to endpoint (the last
// element of its path) that is page page of a class search (0: not a class
// search page). A truncated fault needs a page
// to cut.
func (f Fault) appliesTo(endpoint string, page int) bool {
	if f.Kind == FaultTruncated && page == 0 || f.Endpoint != "" && f.Endpoint != endpoint {
		return false
	}
	return f.Page == 0 || f.Page == page
}

// kept is how many of a page's n rows a truncated page sends: always fewer
// than n, unless the page is empty.
func (f Fault) kept(n int) int {
	k := n / 2
	if f.Rows > 0 {
		k = f.Rows
	}
	return max(min(k, n-1), 0)
}

// FaultState is an active fault and, for a counted one, the requests it
// still applies to.
type FaultState struct {
	Fault
	Remaining int `json:"remaining,omitempty"`
}

// InjectFault queues f behind any faults already active.
func (s *Server) InjectFault(f Fault) error {
	if err := f.validate(); err != nil {
		return fmt.Errorf("inject fault: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &FaultState{Fault: f, Remaining: f.Count})
	return nil
}

// ClearFaults removes every active fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// takeFault returns the oldest active fault that applies to a request for
// page page (see Fault.appliesTo), using it up.
func (s *Server) takeFault(endpoint string, page int) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if !f.appliesTo(endpoint, page) {
			continue
		}
		if f.Count > 0 {
			f.Remaining--
			if f.Remaining <= 0 {
				s.faults = slices.Delete(s.faults, i, i+1)
			}
		}
		return f.Fault, true
	}
	return Fault{}, false
}

// SetLatency delays every later API request by d (0 turns it off), to model
// a slow upstream in benchmarks and the demo.
func (s *Server) SetLatency(d time.Duration) { s.latency.Store(int64(max(d, 0))) }

// update applies fn to one section under the lock.
func (s *Server) update(key catalog.SectionKey, fn func(*SectionSpec) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.sections[key]
	if !ok {
		return fmt.Errorf("section %s: %w", key, ErrNotFound)
	}
	sec := r.spec
	if err := fn(&sec); err != nil {
		return fmt.Errorf("section %s: %w", key, err)
	}
	s.replace(sec)
	return nil
}

// SetSeats sets a section's enrollment and capacity; a negative value leaves
// that field unchanged.
func (s *Server) SetSeats(key catalog.SectionKey, enrolled, capacity int) error {
	return s.update(key, func(sec *SectionSpec) error {
		if enrolled >= 0 {
			sec.Enrolled = enrolled
		}
		if capacity >= 0 {
			sec.Capacity = capacity
		}
		return nil
	})
}

// SetInstructors replaces a section's instructors; none means "Staff".
func (s *Server) SetInstructors(key catalog.SectionKey, instructors []catalog.Instructor) error {
	return s.update(key, func(sec *SectionSpec) error {
		sec.Instructors = slices.Clone(instructors)
		return nil
	})
}

// SetReserved replaces a section's reserved seat groups and sets its
// HASACTIVERESERVEDSEATS flag to whether there are any.
func (s *Server) SetReserved(key catalog.SectionKey, groups []catalog.ReservedGroup) error {
	if err := validGroups(groups); err != nil {
		return fmt.Errorf("section %s: %w", key, err)
	}
	return s.update(key, func(sec *SectionSpec) error {
		sec.ReservedGroups = slices.Clone(groups)
		sec.Reserved = len(groups) > 0
		return nil
	})
}

// SetStatus overrides a section's status ("" derives it from the seats
// again).
func (s *Server) SetStatus(key catalog.SectionKey, st catalog.Status) error {
	if err := validStatus(st); err != nil {
		return fmt.Errorf("section %s: %w", key, err)
	}
	return s.update(key, func(sec *SectionSpec) error {
		sec.Status = st
		return nil
	})
}

// SetEnrollDeadline sets the last day to enroll in a section: the day of
// t in Arizona, its enrollment closing at the end of that day. A day before
// today closes it now. The zero time gives it back its term's deadline.
func (s *Server) SetEnrollDeadline(key catalog.SectionKey, t time.Time) error {
	return s.update(key, func(sec *SectionSpec) error {
		sec.EnrollDeadline = ""
		if !t.IsZero() {
			sec.EnrollDeadline = deadlineDay(t)
		}
		return nil
	})
}

// SetTermDeadline sets the last day to enroll in a term's sections that
// have no deadline of their own: the day of t in Arizona. The zero time
// gives them the server's default again.
func (s *Server) SetTermDeadline(term string, t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.IsZero() {
		delete(s.deadlines, term)
	} else {
		s.deadlines[term] = deadlineDay(t)
	}
	for _, r := range s.sections {
		if r.spec.Term == term && r.spec.EnrollDeadline == "" {
			s.replace(r.spec)
		}
	}
}

// EnrollDeadline returns the end of the last day to enroll in a section as
// served (its own day, its term's or the default), in Arizona time.
func (s *Server) EnrollDeadline(key catalog.SectionKey) (time.Time, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.sections[key]
	if !ok {
		return time.Time{}, false
	}
	day, err := time.ParseInLocation(deadlineLayout, r.deadline, asu.Phoenix)
	if err != nil {
		return time.Time{}, false // every stored deadline was validated
	}
	return day.AddDate(0, 0, 1), true
}

// AddSection adds a section, replacing one with the same term and class
// number.
func (s *Server) AddSection(sec SectionSpec) error {
	if err := sec.validate(); err != nil {
		return fmt.Errorf("add section: %w", err)
	}
	sec.Instructors = slices.Clone(sec.Instructors)
	sec.ReservedGroups = slices.Clone(sec.ReservedGroups)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.put(sec)
	return nil
}

// RemoveSection removes a section, so searches no longer find it.
func (s *Server) RemoveSection(key catalog.SectionKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.sections[key]
	if !ok {
		return fmt.Errorf("remove section %s: %w", key, ErrNotFound)
	}
	s.leave(r.spec)
	delete(s.sections, key)
	s.idx = nil
	s.rerender(r.spec.Course())
	return nil
}

// Section returns a copy of one section.
func (s *Server) Section(key catalog.SectionKey) (SectionSpec, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.sections[key]
	if !ok {
		return SectionSpec{}, false
	}
	sec := r.spec
	sec.Instructors = slices.Clone(sec.Instructors)
	sec.ReservedGroups = slices.Clone(sec.ReservedGroups)
	return sec, true
}

// Churn makes one step of the demo's autopilot: it frees a seat in a random
// full section and fills a random open one, choosing among sections whose
// status follows their seats. The same rng state gives the same choices. A
// zero key means nothing qualified.
func (s *Server) Churn(rng *rand.Rand) (freed, filled catalog.SectionKey) {
	ix := s.writeIndex()
	defer s.mu.Unlock()
	var full, open []SectionSpec
	for _, r := range ix.order {
		if r.spec.Status != "" || r.spec.Capacity == 0 {
			continue
		}
		if r.spec.Full() {
			full = append(full, r.spec)
		} else {
			open = append(open, r.spec)
		}
	}
	if len(full) > 0 {
		sec := full[rng.Intn(len(full))]
		sec.Enrolled = sec.Capacity - 1
		s.replace(sec)
		freed = sec.Key()
	}
	if len(open) > 0 {
		sec := open[rng.Intn(len(open))]
		sec.Enrolled = sec.Capacity
		s.replace(sec)
		filled = sec.Key()
	}
	return freed, filled
}

// State is a snapshot of the simulator for tests and the demo. The class
// search counters tell what walks cost: FirstPages and ScrollPages count
// pages answered 200 (a truncated one included), ScrollMisses scroll
// requests answered 404, SectionsServed the rows those pages carried and
// BytesServed their bodies' bytes.
type State struct {
	Requests       int64            `json:"requests"`
	RequestsByPath map[string]int64 `json:"requests_by_path"`
	FirstPages     int64            `json:"first_pages"`
	ScrollPages    int64            `json:"scroll_pages"`
	ScrollMisses   int64            `json:"scroll_misses"`
	SectionsServed int64            `json:"sections_served"`
	BytesServed    int64            `json:"bytes_served"`
	// LiveScrolls is the number of open scroll contexts, MaxScrolls their
	// bound and ScrollsEvicted how many the bound has dropped.
	LiveScrolls       int            `json:"live_scrolls"`
	MaxScrolls        int            `json:"max_scrolls"`
	ScrollsEvicted    int64          `json:"scrolls_evicted"`
	ScrollKeepAliveMS int64          `json:"scroll_keep_alive_ms"`
	LatencyMS         int64          `json:"latency_ms"`
	Faults            []FaultState   `json:"faults"`
	Terms             []catalog.Term `json:"terms"`
	// Searches counts the requests for a class search's first page by
	// what they asked for: "2267:CSE:240" a course, "2267:CSE:*" a
	// subject walk, "2267:*" a term walk, "2267:70412" a class number,
	// "other" anything else.
	Searches map[string]int64 `json:"searches"`
	// EnrollDeadlines are the terms' last days to enroll, and
	// DefaultEnrollDeadline that of the other terms (YYYY-MM-DD, Arizona).
	EnrollDeadlines       map[string]string `json:"enroll_deadlines"`
	DefaultEnrollDeadline string            `json:"default_enroll_deadline"`
	SectionCount          int               `json:"section_count"`
	Sections              []SectionSpec     `json:"sections,omitempty"`
}

// State returns a snapshot; sections are included (in catalog order) only
// when withSections is set, since a generated catalog can be large.
func (s *Server) State(withSections bool) State {
	sc := s.scrolls.stats()
	ix := s.writeIndex()
	defer s.mu.Unlock()
	st := State{
		Requests: s.requests.Load(),
		RequestsByPath: map[string]int64{
			BasePath + "/classes":                     s.classes.Load(),
			BasePath + "/terms":                       s.termsReq.Load(),
			BasePath + "/reservedseatsadditionalinfo": s.reservedReq.Load(),
		},
		FirstPages:        s.firstPages.Load(),
		ScrollPages:       s.scrollPages.Load(),
		ScrollMisses:      s.scrollMisses.Load(),
		SectionsServed:    s.sectionsServed.Load(),
		BytesServed:       s.bytesServed.Load(),
		LiveScrolls:       sc.live,
		MaxScrolls:        sc.max,
		ScrollsEvicted:    sc.evicted,
		ScrollKeepAliveMS: sc.keepAlive.Milliseconds(),
		LatencyMS:         time.Duration(s.latency.Load()).Milliseconds(),
		Faults:            make([]FaultState, len(s.faults)),
		Terms:             slices.Clone(s.terms),
		Searches:          s.Searches(),
		EnrollDeadlines:   maps.Clone(s.deadlines),
		SectionCount:      len(s.sections),
	}
	st.DefaultEnrollDeadline = s.defaultDeadline
	for i, f := range s.faults {
		st.Faults[i] = *f
	}
	if withSections {
		st.Sections = make([]SectionSpec, len(ix.order))
		for i, r := range ix.order {
			st.Sections[i] = r.spec
		}
	}
	return st
}

// maxControlBody bounds a control request's body.
const maxControlBody = 1 << 20

type sectionRef struct {
	Term     string `json:"term"`
	ClassNbr string `json:"class_nbr"`
}

func (r sectionRef) key() catalog.SectionKey {
	return catalog.SectionKey{Term: r.Term, ClassNbr: r.ClassNbr}
}

func (s *Server) routeControl() {
	s.mux.HandleFunc("POST /_sim/seats", control(func(req struct {
		sectionRef
		Enrolled *int `json:"enrolled"`
		Capacity *int `json:"capacity"`
	}) error {
		enrolled, capacity := -1, -1 // absent: unchanged
		if req.Enrolled != nil {
			enrolled = *req.Enrolled
		}
		if req.Capacity != nil {
			capacity = *req.Capacity
		}
		if (req.Enrolled != nil && enrolled < 0) || (req.Capacity != nil && capacity < 0) {
			return errors.New("seats cannot be negative")
		}
		return s.SetSeats(req.key(), enrolled, capacity)
	}))
	s.mux.HandleFunc("POST /_sim/instructors", control(func(req struct {
		sectionRef
		Instructors []catalog.Instructor `json:"instructors"`
	}) error {
		return s.SetInstructors(req.key(), req.Instructors)
	}))
	s.mux.HandleFunc("POST /_sim/reserved", control(func(req struct {
		sectionRef
		Groups []catalog.ReservedGroup `json:"groups"`
	}) error {
		return s.SetReserved(req.key(), req.Groups)
	}))
	s.mux.HandleFunc("POST /_sim/status", control(func(req struct {
		sectionRef
		Status catalog.Status `json:"status"`
	}) error {
		return s.SetStatus(req.key(), req.Status)
	}))
	s.mux.HandleFunc("POST /_sim/sections", control(func(sec SectionSpec) error {
		return s.AddSection(sec)
	}))
	s.mux.HandleFunc("POST /_sim/remove", control(func(req sectionRef) error {
		return s.RemoveSection(req.key())
	}))
	s.mux.HandleFunc("POST /_sim/deadline", control(func(req struct {
		sectionRef
		EnrollDeadline string `json:"enroll_deadline"`
	}) error {
		if req.Term == "" {
			return errors.New("term is required")
		}
		if err := validDeadline(req.EnrollDeadline); err != nil {
			return err
		}
		var day time.Time
		if req.EnrollDeadline != "" {
			day, _ = time.ParseInLocation(deadlineLayout, req.EnrollDeadline, asu.Phoenix) // validated
		}
		if req.ClassNbr == "" {
			s.SetTermDeadline(req.Term, day)
			return nil
		}
		return s.SetEnrollDeadline(req.key(), day)
	}))
	s.mux.HandleFunc("GET /_sim/searches", func(w http.ResponseWriter, r *http.Request) {
		key := searchKey(r.URL.Query())
		writeJSON(w, http.StatusOK, map[string]any{"key": key, "searches": s.searchCount(key)})
	})
	s.mux.HandleFunc("POST /_sim/faults", control(func(f Fault) error {
		return s.InjectFault(f)
	}))
	s.mux.HandleFunc("POST /_sim/faults/clear", func(w http.ResponseWriter, _ *http.Request) {
		s.ClearFaults()
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	})
	s.mux.HandleFunc("POST /_sim/latency", control(func(req struct {
		LatencyMS int `json:"latency_ms"`
	}) error {
		s.SetLatency(time.Duration(req.LatencyMS) * time.Millisecond)
		return nil
	}))
	s.mux.HandleFunc("POST /_sim/scrolls", control(func(req struct {
		KeepAliveMS *int `json:"keep_alive_ms"`
		MaxScrolls  *int `json:"max_scrolls"`
	}) error {
		var errs []error
		if req.KeepAliveMS != nil {
			errs = append(errs, s.SetScrollKeepAlive(time.Duration(*req.KeepAliveMS)*time.Millisecond))
		}
		if req.MaxScrolls != nil {
			errs = append(errs, s.SetMaxScrolls(*req.MaxScrolls))
		}
		return errors.Join(errs...)
	}))
	s.mux.HandleFunc("POST /_sim/scrolls/expire", func(w http.ResponseWriter, _ *http.Request) {
		s.ExpireScrolls()
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	})
	s.mux.HandleFunc("GET /_sim/state", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.State(r.URL.Query().Get("sections") != "0"))
	})
}

// control adapts a JSON-in, error-out operation to an HTTP handler:
// 200 {"ok":true}, 404 for an unknown section, 400 for anything else wrong
// (every operation validates its input).
func control[Req any](fn func(Req) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req Req
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxControlBody))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "decode body: " + err.Error()})
			return
		}
		switch err := fn(req); {
		case err == nil:
			writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
		case errors.Is(err, ErrNotFound):
			writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
		default:
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		}
	}
}
