// Package check is the contract between the scheduler, the workers and the
// API about section checks: the Redis key layout they share and the encoding
// of a check on the stream.
package check

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	streamv1 "github.com/pickmyclass/pickmyclass/pkg/gen/stream/v1"
	"github.com/pickmyclass/pickmyclass/pkg/stream"
)

// University is the only catalog source so far.
const University = "asu"

// MessageType is the stream entry type of a course check.
var MessageType = string(proto.MessageName(&streamv1.CheckCourse{}))

// WalkMessageType is the stream entry type of a walk.
var WalkMessageType = string(proto.MessageName(&streamv1.CheckScan{}))

// Keys is the Redis key layout under one prefix (default "pmc:"), so several
// deployments — or tests — can share a Redis server.
type Keys struct{ Prefix string }

// Stream is the stream of course checks.
func (k Keys) Stream() string { return k.Prefix + "checks" }

// Group is the workers' consumer group.
func (k Keys) Group() string { return "workers" }

// DeadLetter is the dead-letter stream.
func (k Keys) DeadLetter() string { return k.Prefix + "checks:dead" }

// Delayed is the sorted set of deferred checks.
func (k Keys) Delayed() string { return k.Prefix + "checks:delayed" }

// Leader is the scheduler's leadership lease.
func (k Keys) Leader() string { return k.Prefix + "scheduler:leader" }

// Heartbeat is the hash where the scheduler records its last enqueue run
// (check.Heartbeat).
func (k Keys) Heartbeat() string { return k.Prefix + "scheduler:heartbeat" }

// SweepDedup is the hash of the units already enqueued in a sweep. The key
// keeps the name it had when sweeps were called cycles, so a deploy in the
// middle of a sweep does not enqueue its units again.
func (k Keys) SweepDedup(sweep string) string { return k.Prefix + "cycle:" + sweep }

// Breaker is the shared circuit breaker of an upstream.
func (k Keys) Breaker(upstream string) string { return k.Prefix + "breaker:" + upstream }

// Budget is the shared politeness budget toward an upstream.
func (k Keys) Budget(upstream string) string { return k.Prefix + "budget:" + upstream }

// Backoff is the key holding the time until which an upstream asked us to
// wait (a 429's Retry-After), shared by every worker.
func (k Keys) Backoff(upstream string) string { return k.Prefix + "backoff:" + upstream }

// MailBudget is the shared email send-rate budget.
func (k Keys) MailBudget() string { return k.Prefix + "budget:mail" }

// ChannelBudgetPrefix starts the keys of the per-channel send budgets; the
// channel's id completes each.
func (k Keys) ChannelBudgetPrefix() string { return k.Prefix + "budget:channel:" }

// Counts is the hash of a term's section counts (the whole term's, each
// subject's and each course's) from the latest observations, read by the
// query planner.
func (k Keys) Counts(term string) string { return k.Prefix + "counts:" + term }

// Sweep is the hash of the scheduler's current sweep.
func (k Keys) Sweep() string { return k.Prefix + "scheduler:sweep" }

// SectionBudget is the shared budget of sections fetched per second from an
// upstream.
func (k Keys) SectionBudget(upstream string) string {
	return k.Prefix + "budget:" + upstream + ":sections"
}

// Updates is the pub/sub channel where workers announce section changes;
// EncodeUpdate and DecodeUpdate are its payload.
func (k Keys) Updates() string { return k.Prefix + "updates" }

// AuthRate is the api's counter of auth requests from one client address in
// one minute (Unix time ÷ 60), shared by every api instance.
func (k Keys) AuthRate(client string, minute int64) string {
	return k.Prefix + "ratelimit:auth:" + client + ":" + strconv.FormatInt(minute, 10)
}

// Check is one course check.
type Check struct {
	Course    catalog.CourseKey
	ClassNbrs []string
	// WholeCourse asks for every section of the course, for its course
	// and linked watches; ClassNbrs may then be empty.
	WholeCourse bool
	// Sweep is the scheduler sweep that enqueued the check.
	Sweep      string
	EnqueuedAt time.Time
}

// DedupKey identifies the check within its cycle.
func (c Check) DedupKey() string { return c.Course.String() }

// Encode returns the protobuf bytes of the check.
func Encode(c Check) ([]byte, error) {
	b, err := proto.Marshal(&streamv1.CheckCourse{
		Term:        c.Course.Term,
		Subject:     c.Course.Subject,
		CatalogNbr:  c.Course.CatalogNbr,
		ClassNbrs:   c.ClassNbrs,
		Cycle:       c.Sweep,
		EnqueuedAt:  timestamppb.New(c.EnqueuedAt),
		University:  University,
		WholeCourse: c.WholeCourse,
	})
	if err != nil {
		return nil, fmt.Errorf("encode check %s: %w", c.Course, err)
	}
	return b, nil
}

// ErrInvalid marks a check that can never be handled; it is dead-lettered.
var ErrInvalid = errors.New("invalid check")

// Decode parses and validates a check.
func Decode(b []byte) (Check, error) {
	var m streamv1.CheckCourse
	if err := proto.Unmarshal(b, &m); err != nil {
		return Check{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	c := Check{
		Course:      catalog.CourseKey{Term: m.GetTerm(), Subject: m.GetSubject(), CatalogNbr: m.GetCatalogNbr()},
		ClassNbrs:   m.GetClassNbrs(),
		Sweep:       m.GetCycle(),
		WholeCourse: m.GetWholeCourse(),
	}
	if m.GetEnqueuedAt() != nil {
		c.EnqueuedAt = m.GetEnqueuedAt().AsTime()
	}
	switch {
	case m.GetUniversity() != "" && m.GetUniversity() != University:
		return c, fmt.Errorf("%w: unknown university %q", ErrInvalid, m.GetUniversity())
	case c.Course.Term == "" || c.Course.Subject == "" || c.Course.CatalogNbr == "":
		return c, fmt.Errorf("%w: course %q is incomplete", ErrInvalid, c.Course)
	case len(c.ClassNbrs) == 0 && !c.WholeCourse:
		return c, fmt.Errorf("%w: no class numbers", ErrInvalid)
	}
	return c, nil
}

// Message returns the stream entry that carries c. Its key is the course, so
// publishing a sweep's messages once per key enqueues each course once.
func Message(c Check) (stream.Message, error) {
	data, err := Encode(c)
	if err != nil {
		return stream.Message{}, err
	}
	return stream.Message{Type: MessageType, Data: data, Key: c.DedupKey()}, nil
}

// ForSections groups sections by course, in the order the courses first
// appear, into the checks of one sweep.
func ForSections(sweep string, at time.Time, secs ...catalog.Section) []Check {
	var checks []Check
	index := map[catalog.CourseKey]int{}
	for _, s := range secs {
		k := s.Course()
		i, ok := index[k]
		if !ok {
			i = len(checks)
			index[k] = i
			checks = append(checks, Check{Course: k, Sweep: sweep, EnqueuedAt: at})
		}
		checks[i].ClassNbrs = append(checks[i].ClassNbrs, s.ClassNbr)
	}
	return checks
}

// Walk is one walk of the class search: a subject of a term, or the whole
// term, with the watched courses it covers.
type Walk struct {
	Scan    catalog.ScanKey
	Courses []Check // Sweep and EnqueuedAt are the walk's
	// Sweep is the scheduler sweep that enqueued the walk.
	Sweep      string
	EnqueuedAt time.Time
	// Sections is the planner's estimate of the sections the walk fetches;
	// 0 when unknown.
	Sections int
}

// maxExpectedSections bounds a walk's estimate: several times the largest
// term, so a corrupt value cannot hold the section budget for days.
const maxExpectedSections = 200000

// DedupKey identifies the walk within its sweep.
func (w Walk) DedupKey() string { return w.Scan.String() }

// ClassNbrs counts the watched sections the walk covers.
func (w Walk) ClassNbrs() int {
	n := 0
	for _, c := range w.Courses {
		n += len(c.ClassNbrs)
	}
	return n
}

// EncodeWalk returns the protobuf bytes of the walk.
func EncodeWalk(w Walk) ([]byte, error) {
	m := &streamv1.CheckScan{
		Term:       w.Scan.Term,
		Subject:    w.Scan.Subject,
		Sweep:      w.Sweep,
		EnqueuedAt: timestamppb.New(w.EnqueuedAt),
		University: University,
		Courses:    make([]*streamv1.WatchedCourse, len(w.Courses)),
		// A negative or absurd estimate is sent as unknown.
		ExpectedSections: uint32(min(max(w.Sections, 0), maxExpectedSections)),
	}
	for i, c := range w.Courses {
		m.Courses[i] = &streamv1.WatchedCourse{Subject: c.Course.Subject, CatalogNbr: c.Course.CatalogNbr, ClassNbrs: c.ClassNbrs, WholeCourse: c.WholeCourse}
	}
	b, err := proto.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode walk %s: %w", w.Scan, err)
	}
	return b, nil
}

// DecodeWalk parses and validates a walk.
func DecodeWalk(b []byte) (Walk, error) {
	var m streamv1.CheckScan
	if err := proto.Unmarshal(b, &m); err != nil {
		return Walk{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	w := Walk{Scan: catalog.ScanKey{Term: m.GetTerm(), Subject: m.GetSubject()}, Sweep: m.GetSweep(),
		Sections: int(min(m.GetExpectedSections(), maxExpectedSections))}
	if m.GetEnqueuedAt() != nil {
		w.EnqueuedAt = m.GetEnqueuedAt().AsTime()
	}
	switch {
	case m.GetUniversity() != "" && m.GetUniversity() != University:
		return w, fmt.Errorf("%w: unknown university %q", ErrInvalid, m.GetUniversity())
	case w.Scan.Term == "":
		return w, fmt.Errorf("%w: walk without a term", ErrInvalid)
	case len(m.GetCourses()) == 0:
		return w, fmt.Errorf("%w: walk %s covers no course", ErrInvalid, w.Scan)
	}
	for _, c := range m.GetCourses() {
		k := catalog.CourseKey{Term: w.Scan.Term, Subject: c.GetSubject(), CatalogNbr: c.GetCatalogNbr()}
		switch {
		case k.Subject == "" || k.CatalogNbr == "":
			return w, fmt.Errorf("%w: walk %s names an incomplete course %q", ErrInvalid, w.Scan, k)
		case !w.Scan.Covers(k):
			return w, fmt.Errorf("%w: walk %s does not cover course %s", ErrInvalid, w.Scan, k)
		case len(c.GetClassNbrs()) == 0 && !c.GetWholeCourse():
			return w, fmt.Errorf("%w: walk %s: course %s has no class numbers", ErrInvalid, w.Scan, k)
		}
		w.Courses = append(w.Courses, Check{Course: k, ClassNbrs: c.GetClassNbrs(), WholeCourse: c.GetWholeCourse(),
			Sweep: w.Sweep, EnqueuedAt: w.EnqueuedAt})
	}
	return w, nil
}

// WalkMessage returns the stream entry that carries w, keyed by the walk.
func WalkMessage(w Walk) (stream.Message, error) {
	data, err := EncodeWalk(w)
	if err != nil {
		return stream.Message{}, err
	}
	return stream.Message{Type: WalkMessageType, Data: data, Key: w.DedupKey()}, nil
}

// Covers returns the keys of what c checks: its sections, and the whole
// course (WholeCourseKey) when it asks for it.
func (c Check) Covers() []catalog.SectionKey {
	keys := make([]catalog.SectionKey, 0, len(c.ClassNbrs)+1)
	for _, n := range c.ClassNbrs {
		keys = append(keys, catalog.SectionKey{Term: c.Course.Term, ClassNbr: n})
	}
	if c.WholeCourse {
		keys = append(keys, WholeCourseKey(c.Course))
	}
	return keys
}

// WholeCourseKey stands for "every section of course k" among section keys:
// no class number has a space.
func WholeCourseKey(k catalog.CourseKey) catalog.SectionKey {
	return catalog.SectionKey{Term: k.Term, ClassNbr: "course " + strings.ToUpper(k.Subject) + " " + strings.ToUpper(k.CatalogNbr)}
}

// Waiting returns what an entry of either type asks to check (Check.Covers),
// or false if it is not a valid check.
func Waiting(e *stream.Entry) (sweep string, sections []catalog.SectionKey, ok bool) {
	switch e.Type {
	case MessageType:
		c, err := Decode(e.Data)
		if err != nil {
			return "", nil, false
		}
		return c.Sweep, c.Covers(), true
	case WalkMessageType:
		w, err := DecodeWalk(e.Data)
		if err != nil {
			return "", nil, false
		}
		for _, c := range w.Courses {
			sections = append(sections, c.Covers()...)
		}
		return w.Sweep, sections, true
	}
	return "", nil, false
}

// Heartbeat is the scheduler's record of its last enqueue run, kept in the
// hash at Keys.Heartbeat: the scheduler writes it, the health report and
// the admin pages read it.
type Heartbeat struct {
	Sweep       string        `json:"sweep"`
	StartedAt   time.Time     `json:"started_at"`
	CompletedAt time.Time     `json:"completed_at"`
	Period      time.Duration `json:"period_ns"`
	// Courses and Sections count the watched courses and sections the
	// sweep covers.
	Courses  int `json:"courses"`
	Sections int `json:"sections"`
	// Units, Requests and SectionsFetched are the sweep's plan: its queries
	// and their estimated cost upstream.
	Units           int `json:"units"`
	Requests        int `json:"requests"`
	SectionsFetched int `json:"sections_fetched"`
	Enqueued        int `json:"enqueued"`
}

// Fields returns the hash fields of h.
func (h Heartbeat) Fields() map[string]any {
	return map[string]any{
		"sweep": h.Sweep, "started_at": h.StartedAt.UTC().Format(time.RFC3339Nano),
		"completed_at": h.CompletedAt.UTC().Format(time.RFC3339Nano), "period_ms": h.Period.Milliseconds(),
		"courses": h.Courses, "sections": h.Sections, "units": h.Units,
		"requests": h.Requests, "sections_fetched": h.SectionsFetched, "enqueued": h.Enqueued,
	}
}

// ParseHeartbeat reads the hash fields of a heartbeat; an empty hash is the
// zero Heartbeat (no run yet).
func ParseHeartbeat(v map[string]string) (Heartbeat, error) {
	h := Heartbeat{Sweep: v["sweep"]}
	var errs []error
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"started_at", &h.StartedAt}, {"completed_at", &h.CompletedAt}} {
		if s := v[f.name]; s != "" {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", f.name, err))
			}
			*f.dst = t
		}
	}
	ints := []struct {
		name string
		dst  *int
	}{{"courses", &h.Courses}, {"sections", &h.Sections}, {"units", &h.Units},
		{"requests", &h.Requests}, {"sections_fetched", &h.SectionsFetched}, {"enqueued", &h.Enqueued}}
	for _, f := range ints {
		if s := v[f.name]; s != "" {
			n, err := strconv.Atoi(s)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", f.name, err))
			}
			*f.dst = n
		}
	}
	if s := v["period_ms"]; s != "" {
		ms, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("period_ms: %w", err))
		}
		h.Period = time.Duration(ms) * time.Millisecond
	}
	if err := errors.Join(errs...); err != nil {
		return h, fmt.Errorf("scheduler heartbeat: %w", err)
	}
	return h, nil
}
