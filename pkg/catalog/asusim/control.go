package asusim

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"net/http"
	"slices"
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
)

// FaultKind is what an injected fault does to a request.
type FaultKind string

// Fault kinds.
const (
	// FaultStatus answers with Status (and Retry-After when set).
	FaultStatus FaultKind = "status"
	// FaultDelay holds the request DelayMS before serving it normally.
	FaultDelay FaultKind = "delay"
	// FaultMalformed answers 200 with a truncated JSON body.
	FaultMalformed FaultKind = "malformed"
)

// Fault is an injected failure of the next Count API requests (0: every
// request until ClearFaults).
type Fault struct {
	Kind              FaultKind `json:"kind"`
	Status            int       `json:"status,omitempty"`
	RetryAfterSeconds int       `json:"retry_after_seconds,omitempty"`
	DelayMS           int       `json:"delay_ms,omitempty"`
	Count             int       `json:"count,omitempty"`
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
	default:
		return fmt.Errorf("unknown fault kind %q", f.Kind)
	}
	if f.Count < 0 || f.RetryAfterSeconds < 0 {
		return errors.New("count and retry_after_seconds cannot be negative")
	}
	return nil
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

// takeFault returns the fault that applies to one request, using it up.
func (s *Server) takeFault() (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.faults) == 0 {
		return Fault{}, false
	}
	f := s.faults[0]
	if f.Count > 0 {
		f.Remaining--
		if f.Remaining <= 0 {
			s.faults = s.faults[1:]
		}
	}
	return f.Fault, true
}

// SetLatency delays every later API request by d (0 turns it off), to model
// a slow upstream in benchmarks and the demo.
func (s *Server) SetLatency(d time.Duration) { s.latency.Store(int64(max(d, 0))) }

// update applies fn to one section under the lock.
func (s *Server) update(key catalog.SectionKey, fn func(*SectionSpec) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, ok := s.sections[key]
	if !ok {
		return fmt.Errorf("section %s: %w", key, ErrNotFound)
	}
	if err := fn(&sec); err != nil {
		return fmt.Errorf("section %s: %w", key, err)
	}
	s.sections[key] = sec
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

// AddSection adds a section, replacing one with the same term and class
// number.
func (s *Server) AddSection(sec SectionSpec) error {
	if err := sec.validate(); err != nil {
		return fmt.Errorf("add section: %w", err)
	}
	sec.Instructors = slices.Clone(sec.Instructors)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.put(sec)
	return nil
}

// RemoveSection removes a section, so searches no longer find it.
func (s *Server) RemoveSection(key catalog.SectionKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, ok := s.sections[key]
	if !ok {
		return fmt.Errorf("remove section %s: %w", key, ErrNotFound)
	}
	s.unindex(sec)
	delete(s.sections, key)
	return nil
}

// Section returns a copy of one section.
func (s *Server) Section(key catalog.SectionKey) (SectionSpec, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sec, ok := s.sections[key]
	sec.Instructors = slices.Clone(sec.Instructors)
	return sec, ok
}

// Churn makes one step of the demo's autopilot: it frees a seat in a random
// full section and fills a random open one, choosing among sections whose
// status follows their seats. The same rng state gives the same choices. A
// zero key means nothing qualified.
func (s *Server) Churn(rng *rand.Rand) (freed, filled catalog.SectionKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var full, open []catalog.SectionKey
	for _, k := range s.sorted() {
		sec := s.sections[k]
		if sec.Status != "" || sec.Capacity == 0 {
			continue
		}
		if sec.Full() {
			full = append(full, k)
		} else {
			open = append(open, k)
		}
	}
	if len(full) > 0 {
		freed = full[rng.Intn(len(full))]
		sec := s.sections[freed]
		sec.Enrolled = sec.Capacity - 1
		s.sections[freed] = sec
	}
	if len(open) > 0 {
		filled = open[rng.Intn(len(open))]
		sec := s.sections[filled]
		sec.Enrolled = sec.Capacity
		s.sections[filled] = sec
	}
	return freed, filled
}

// State is a snapshot of the simulator for tests and the demo.
type State struct {
	Requests       int64            `json:"requests"`
	RequestsByPath map[string]int64 `json:"requests_by_path"`
	LatencyMS      int64            `json:"latency_ms"`
	Faults         []FaultState     `json:"faults"`
	Terms          []catalog.Term   `json:"terms"`
	SectionCount   int              `json:"section_count"`
	Sections       []SectionSpec    `json:"sections,omitempty"`
}

// State returns a snapshot; sections are included (in catalog order) only
// when withSections is set, since a generated catalog can be large.
func (s *Server) State(withSections bool) State {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := State{
		Requests: s.requests.Load(),
		RequestsByPath: map[string]int64{
			BasePath + "/classes": s.classes.Load(),
			BasePath + "/terms":   s.termsReq.Load(),
		},
		LatencyMS:    time.Duration(s.latency.Load()).Milliseconds(),
		Faults:       make([]FaultState, len(s.faults)),
		Terms:        slices.Clone(s.terms),
		SectionCount: len(s.sections),
	}
	for i, f := range s.faults {
		st.Faults[i] = *f
	}
	if withSections {
		for _, k := range s.sorted() {
			st.Sections = append(st.Sections, s.sections[k])
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
