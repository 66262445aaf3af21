package handle

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pickmyclass/pickmyclass/pkg/breaker"
	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/check"
	"github.com/pickmyclass/pickmyclass/pkg/store"
	"github.com/pickmyclass/pickmyclass/pkg/stream"
)

type fakeSource struct {
	sections []catalog.Section
	scan     catalog.Scan
	err      error
	calls    int
}

func (f *fakeSource) Course(context.Context, catalog.CourseKey) ([]catalog.Section, error) {
	f.calls++
	return f.sections, f.err
}

func (f *fakeSource) Scan(_ context.Context, key catalog.ScanKey, _ int) (catalog.Scan, error) {
	f.calls++
	if f.err != nil {
		return catalog.Scan{}, f.err
	}
	sc := f.scan
	sc.Key = key
	return sc, nil
}

type fakeStore struct {
	obs []store.CourseObservation
	res store.ApplyResult
	err error
}

func (f *fakeStore) ApplyCourses(_ context.Context, obs []store.CourseObservation) (store.ApplyResult, error) {
	f.obs = append(f.obs, obs...)
	return f.res, f.err
}

type fakeCounts struct {
	courses map[catalog.CourseKey]int
	scans   []catalog.Scan
}

func (f *fakeCounts) RecordCourse(_ context.Context, c catalog.CourseKey, n int) error {
	if f.courses == nil {
		f.courses = map[catalog.CourseKey]int{}
	}
	f.courses[c] = n
	return nil
}

func (f *fakeCounts) RecordScan(_ context.Context, sc catalog.Scan) error {
	f.scans = append(f.scans, sc)
	return nil
}

type fakeBreaker struct {
	err      error
	outcomes []breaker.Outcome
}

func (f *fakeBreaker) Allow(context.Context) (breaker.Done, error) {
	if f.err != nil {
		return nil, f.err
	}
	return func(o breaker.Outcome) { f.outcomes = append(f.outcomes, o) }, nil
}

type fakeBackoff struct {
	until   time.Time
	limited []time.Duration
}

func (f *fakeBackoff) Until(context.Context) (time.Time, error) { return f.until, nil }
func (f *fakeBackoff) RateLimited(_ context.Context, ra time.Duration) (time.Duration, error) {
	f.limited = append(f.limited, ra)
	return max(ra, time.Minute), nil
}
func (f *fakeBackoff) OK(context.Context) error { return nil }

type fakeNotifier struct{ keys [][]catalog.SectionKey }

func (f *fakeNotifier) SendPending(_ context.Context, keys []catalog.SectionKey) error {
	f.keys = append(f.keys, keys)
	return errors.New("smtp down")
}

func entry(t *testing.T) *stream.Entry {
	t.Helper()
	data, err := check.Encode(check.Check{
		Course:    catalog.CourseKey{Term: "2267", Subject: "CSE", CatalogNbr: "240"},
		ClassNbrs: []string{"70412"}, Sweep: "c1", EnqueuedAt: time.Now(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return &stream.Entry{ID: "1-0", Type: check.MessageType, Data: data, Deliveries: 1}
}

// The outcomes of a check (docs/DESIGN.md §2.4), one per row.
func TestHandleOutcomes(t *testing.T) {
	t.Parallel()
	claimed := []catalog.SectionKey{{Term: "2267", ClassNbr: "70412"}}
	tests := []struct {
		name         string
		data         []byte
		backoffUntil time.Duration
		breakerErr   error
		sourceErr    error
		storeErr     error
		result       store.ApplyResult
		cancel       bool

		wantErr      func(error) bool
		wantOutcome  []breaker.Outcome
		wantApplied  bool
		wantNotified bool
		wantLimited  bool
	}{
		{name: "success", result: store.ApplyResult{Notify: claimed}, wantErr: isNil,
			wantOutcome: []breaker.Outcome{breaker.Success}, wantApplied: true, wantNotified: true},
		{name: "garbage entry", data: []byte("\xff"), wantErr: isPermanent},
		{name: "course gone: no sections, applied as not found", wantErr: isNil,
			wantOutcome: []breaker.Outcome{breaker.Success}, wantApplied: true},
		{name: "429", sourceErr: &catalog.Error{Kind: catalog.KindRateLimited, RetryAfter: 90 * time.Second},
			wantErr: isDefer(90 * time.Second), wantOutcome: []breaker.Outcome{breaker.Ignore}, wantLimited: true},
		{name: "500", sourceErr: &catalog.Error{Kind: catalog.KindServer, Status: 500},
			wantErr: isRetry, wantOutcome: []breaker.Outcome{breaker.Failure}},
		{name: "malformed", sourceErr: &catalog.Error{Kind: catalog.KindMalformed},
			wantErr: isRetry, wantOutcome: []breaker.Outcome{breaker.Failure}},
		{name: "breaker open", breakerErr: &breaker.OpenError{State: breaker.Open, RetryIn: time.Minute},
			wantErr: isDefer(time.Minute)},
		{name: "backing off", backoffUntil: 5 * time.Minute, wantErr: isDefer(5 * time.Minute)},
		{name: "store down", storeErr: errors.New("connection refused"), wantErr: isRetry,
			wantOutcome: []breaker.Outcome{breaker.Success}, wantApplied: true},
		{name: "shutting down", cancel: true, sourceErr: context.Canceled, wantErr: isRetry,
			wantOutcome: []breaker.Outcome{breaker.Ignore}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			now := time.Now()
			src := &fakeSource{err: tc.sourceErr}
			st := &fakeStore{res: tc.result, err: tc.storeErr}
			brk := &fakeBreaker{err: tc.breakerErr}
			bo := &fakeBackoff{}
			if tc.backoffUntil > 0 {
				bo.until = now.Add(tc.backoffUntil)
			}
			n := &fakeNotifier{}
			h := &Handler{Source: src, Store: st, Breaker: brk, Backoff: bo, Notifier: n,
				Now: func() time.Time { return now }, Metrics: NewMetrics(prometheus.NewRegistry())}
			e := entry(t)
			if tc.data != nil {
				e.Data = tc.data
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancel {
				cancel()
			}
			err := h.Handle(ctx, e)
			if !tc.wantErr(err) {
				t.Fatalf("Handle error = %v", err)
			}
			if len(brk.outcomes) != len(tc.wantOutcome) || (len(tc.wantOutcome) > 0 && brk.outcomes[0] != tc.wantOutcome[0]) {
				t.Errorf("breaker outcomes = %v, want %v", brk.outcomes, tc.wantOutcome)
			}
			if got := len(st.obs) > 0; got != tc.wantApplied {
				t.Errorf("applied = %v, want %v", got, tc.wantApplied)
			}
			if got := len(n.keys) > 0; got != tc.wantNotified {
				t.Errorf("notified = %v, want %v", got, tc.wantNotified)
			}
			if got := len(bo.limited) > 0; got != tc.wantLimited {
				t.Errorf("rate limit recorded = %v, want %v", got, tc.wantLimited)
			}
			if tc.breakerErr != nil || tc.backoffUntil > 0 {
				if src.calls != 0 {
					t.Errorf("the university was called %d times while not allowed", src.calls)
				}
			}
		})
	}
}

func isNil(err error) bool { return err == nil }

func isPermanent(err error) bool {
	var p *stream.PermanentError
	return errors.As(err, &p)
}

// isRetry: an error that leaves the entry pending for redelivery.
func isRetry(err error) bool {
	var p *stream.PermanentError
	var d *stream.DeferError
	return err != nil && !errors.As(err, &p) && !errors.As(err, &d)
}

// isDefer: deferred for at least d and at most d plus the jitter.
func isDefer(d time.Duration) func(error) bool {
	return func(err error) bool {
		var de *stream.DeferError
		return errors.As(err, &de) && de.After >= d && de.After <= d+d/4+time.Millisecond
	}
}

func walkEntry(t *testing.T, courses ...check.Check) *stream.Entry {
	t.Helper()
	data, err := check.EncodeWalk(check.Walk{Scan: catalog.ScanKey{Term: "2267", Subject: "CSE"},
		Courses: courses, Sweep: "s1", EnqueuedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return &stream.Entry{ID: "2-0", Type: check.WalkMessageType, Data: data, Deliveries: 1}
}

// A complete walk gives each watched course the sections it watches, found
// by class number; a watched section missing from it is observed absent. A
// failed walk records nothing.
func TestHandleWalk(t *testing.T) {
	t.Parallel()
	cse240 := catalog.CourseKey{Term: "2267", Subject: "CSE", CatalogNbr: "240"}
	cse310 := catalog.CourseKey{Term: "2267", Subject: "CSE", CatalogNbr: "310"}
	sec := func(course catalog.CourseKey, nbr string) catalog.Section {
		return catalog.Section{Term: "2267", ClassNbr: nbr, Subject: course.Subject, CatalogNbr: course.CatalogNbr, Capacity: 10, Enrolled: 10}
	}
	e := walkEntry(t,
		check.Check{Course: cse240, ClassNbrs: []string{"100", "101"}},
		check.Check{Course: cse310, ClassNbrs: []string{"200", "299"}})
	newHandler := func(src *fakeSource, st *fakeStore, cn *fakeCounts) *Handler {
		return &Handler{Source: src, Store: st, Counts: cn, Breaker: &fakeBreaker{}, Backoff: &fakeBackoff{},
			Notifier: &fakeNotifier{}, Now: time.Now, Metrics: NewMetrics(prometheus.NewRegistry())}
	}

	t.Run("complete", func(t *testing.T) {
		t.Parallel()
		src := &fakeSource{scan: catalog.Scan{Total: 4, Pages: 1, Sections: []catalog.Section{
			sec(cse240, "100"), sec(cse240, "101"), sec(cse310, "200"), sec(cse310, "201")}}}
		st, cn := &fakeStore{}, &fakeCounts{}
		if err := newHandler(src, st, cn).HandleWalk(context.Background(), e); err != nil {
			t.Fatalf("HandleWalk: %v", err)
		}
		if len(st.obs) != 2 {
			t.Fatalf("%d observations; want one per watched course", len(st.obs))
		}
		got := map[catalog.CourseKey][]string{}
		for _, o := range st.obs {
			if len(o.Wanted) != 2 {
				t.Errorf("%s wanted %v; want both watched sections", o.Course, o.Wanted)
			}
			for _, s := range o.Sections {
				got[o.Course] = append(got[o.Course], s.ClassNbr)
			}
		}
		// 201 is not watched; 299 is watched but absent from the walk.
		if fmt.Sprint(got[cse240]) != "[100 101]" || fmt.Sprint(got[cse310]) != "[200]" {
			t.Fatalf("sections per course = %v; want CSE 240 [100 101], CSE 310 [200]", got)
		}
		if len(cn.scans) != 1 || cn.scans[0].Total != 4 {
			t.Fatalf("counts recorded %v; want the walk's total", cn.scans)
		}
	})
	t.Run("failed page", func(t *testing.T) {
		t.Parallel()
		src := &fakeSource{err: &catalog.Error{Kind: catalog.KindServer, Status: 503}}
		st, cn := &fakeStore{}, &fakeCounts{}
		err := newHandler(src, st, cn).HandleWalk(context.Background(), e)
		if !isRetry(err) {
			t.Fatalf("HandleWalk error = %v; want one that leaves the entry for redelivery", err)
		}
		if len(st.obs) != 0 || len(cn.scans) != 0 {
			t.Fatalf("a failed walk recorded %d observations and %d counts; want none", len(st.obs), len(cn.scans))
		}
	})
	t.Run("garbage", func(t *testing.T) {
		t.Parallel()
		bad := &stream.Entry{ID: "3-0", Type: check.WalkMessageType, Data: []byte("\x00\x01"), Deliveries: 1}
		if err := newHandler(&fakeSource{}, &fakeStore{}, &fakeCounts{}).HandleWalk(context.Background(), bad); !isPermanent(err) {
			t.Fatalf("HandleWalk(garbage) = %v; want a permanent error", err)
		}
	})
}

type fakeReserved struct {
	groups map[string][]catalog.ReservedGroup
	errs   map[string]error
	asked  []string
}

func (f *fakeReserved) Reserved(_ context.Context, s catalog.Section) ([]catalog.ReservedGroup, error) {
	f.asked = append(f.asked, s.ClassNbr)
	if err := f.errs[s.ClassNbr]; err != nil {
		return nil, err
	}
	return f.groups[s.ClassNbr], nil
}

type fakeStates map[string]*store.SectionState

func (f fakeStates) SectionStates(context.Context, string, []string) (map[string]*store.SectionState, error) {
	return f, nil
}

// Reserved groups are read only for watched, flagged sections with open
// seats whose seats changed; a 429 leaves the rest unknown and backs off.
func TestHandleReadsReservedSeats(t *testing.T) {
	t.Parallel()
	sec := func(nbr string, enrolled int, flagged bool) catalog.Section {
		return catalog.Section{Term: "2267", ClassNbr: nbr, Subject: "CSE", CatalogNbr: "240",
			Capacity: 30, Enrolled: enrolled, Status: catalog.StatusOpen, HasReservedSeats: flagged}
	}
	majors := []catalog.ReservedGroup{{Name: "Majors", Capacity: 4, Enrolled: 1}}
	carried := sec("4", 25, true)
	carried.SetReserved(majors)
	tests := []struct {
		name      string
		errs      map[string]error
		wantAsked []string
		wantOpen  map[string]*int // seats open to everyone; nil: unknown
		wantOut   []breaker.Outcome
		limited   bool
	}{
		{
			name:      "read and carried",
			wantAsked: []string{"1", "5"},
			wantOpen:  map[string]*int{"1": ptr(0), "2": nil, "3": nil, "4": ptr(2), "5": ptr(0)},
			wantOut:   []breaker.Outcome{breaker.Success, breaker.Success},
		},
		{
			name:      "429 leaves the rest unknown",
			errs:      map[string]error{"1": &catalog.Error{Kind: catalog.KindRateLimited, RetryAfter: time.Minute}},
			wantAsked: []string{"1"},
			wantOpen:  map[string]*int{"1": nil, "4": ptr(2), "5": nil},
			wantOut:   []breaker.Outcome{breaker.Success, breaker.Ignore},
			limited:   true,
		},
		{
			name:      "not found skips one",
			errs:      map[string]error{"1": &catalog.Error{Kind: catalog.KindNotFound}},
			wantAsked: []string{"1", "5"},
			wantOpen:  map[string]*int{"1": nil, "5": ptr(0)},
			wantOut:   []breaker.Outcome{breaker.Success, breaker.Success},
		},
		{
			name:      "another shape stops the lookups without tripping the breaker",
			errs:      map[string]error{"1": &catalog.Error{Kind: catalog.KindMalformed}},
			wantAsked: []string{"1"},
			wantOpen:  map[string]*int{"1": nil, "5": nil},
			wantOut:   []breaker.Outcome{breaker.Success, breaker.Ignore},
		},
		{
			name:      "server error counts toward the breaker",
			errs:      map[string]error{"1": &catalog.Error{Kind: catalog.KindServer, Status: 502}},
			wantAsked: []string{"1"},
			wantOpen:  map[string]*int{"1": nil, "5": nil},
			wantOut:   []breaker.Outcome{breaker.Success, breaker.Failure},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src := &fakeSource{sections: []catalog.Section{
				sec("1", 27, true),  // changed since last seen: read
				sec("2", 27, false), // not flagged
				sec("3", 30, true),  // full: nothing to read
				sec("4", 25, true),  // unchanged: carried
				sec("5", 26, true),  // never seen: read
				sec("6", 20, true),  // not watched
			}}
			st := &fakeStore{}
			brk := &fakeBreaker{}
			bo := &fakeBackoff{}
			res := &fakeReserved{groups: map[string][]catalog.ReservedGroup{"1": majors, "5": {{Name: "Honors", Capacity: 9, Enrolled: 0}}}, errs: tc.errs}
			prev1 := sec("1", 28, true)
			prev1.SetReserved(majors)
			states := fakeStates{"1": {Section: prev1}, "4": {Section: carried}}
			now := time.Now()
			h := &Handler{Source: src, Store: st, Breaker: brk, Backoff: bo, Notifier: &fakeNotifier{},
				Reserved: res, States: states, Now: func() time.Time { return now }, Metrics: NewMetrics(prometheus.NewRegistry())}
			data, err := check.Encode(check.Check{Course: catalog.CourseKey{Term: "2267", Subject: "CSE", CatalogNbr: "240"},
				ClassNbrs: []string{"1", "2", "3", "4", "5"}, Sweep: "c1", EnqueuedAt: now})
			if err != nil {
				t.Fatal(err)
			}
			if err := h.Handle(context.Background(), &stream.Entry{ID: "1-0", Type: check.MessageType, Data: data, Deliveries: 1}); err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if fmt.Sprint(res.asked) != fmt.Sprint(tc.wantAsked) {
				t.Errorf("looked up %v, want %v", res.asked, tc.wantAsked)
			}
			got := map[string]catalog.Section{}
			for _, s := range st.obs[0].Sections {
				got[s.ClassNbr] = s
			}
			for nbr, want := range tc.wantOpen {
				n := got[nbr].NonReservedOpen
				if (n == nil) != (want == nil) || (n != nil && *n != *want) {
					t.Errorf("section %s: open to everyone %v, want %v", nbr, n, want)
				}
			}
			if fmt.Sprint(brk.outcomes) != fmt.Sprint(tc.wantOut) {
				t.Errorf("breaker outcomes %v, want %v", brk.outcomes, tc.wantOut)
			}
			if got := len(bo.limited) > 0; got != tc.limited {
				t.Errorf("backed off = %v, want %v", got, tc.limited)
			}
		})
	}
}

func ptr(n int) *int { return &n }
