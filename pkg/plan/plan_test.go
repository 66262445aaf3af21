package plan

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
)

// course is a watched course of term 2267 with n watched sections.
func course(subject, nbr string, n int) Course {
	c := Course{Key: catalog.CourseKey{Term: "2267", Subject: subject, CatalogNbr: nbr}, Watchers: n}
	for i := range n {
		c.ClassNbrs = append(c.ClassNbrs, fmt.Sprintf("%s%s%02d", subject, nbr, i))
	}
	return c
}

// courses returns n watched courses of subject, each with per sections.
func courses(subject string, n, per int) []Course {
	out := make([]Course, n)
	for i := range n {
		out[i] = course(subject, fmt.Sprint(100+i), per)
	}
	return out
}

func subj(s string) catalog.ScanKey { return catalog.ScanKey{Term: "2267", Subject: s} }

// countsFor records known sizes: every watched course has exactly its
// watched sections, each subject and the term the sizes given.
func countsFor(cs []Course, term int, subjects map[string]int) Counts {
	c := Counts{Terms: map[string]int{}, Subjects: map[catalog.ScanKey]int{}, Courses: map[catalog.CourseKey]int{}}
	if term > 0 {
		c.Terms["2267"] = term
	}
	for s, n := range subjects {
		c.Subjects[subj(s)] = n
	}
	for _, x := range cs {
		c.Courses[x.Key] = len(x.ClassNbrs)
	}
	return c
}

var defaultBudget = Budget{RequestsPerSecond: 3, SectionsPerSecond: 250, Floor: time.Minute}

// shape summarizes a plan as unit keys, sorted.
func shape(p Plan) []string {
	var keys []string
	for _, u := range p.Units {
		keys = append(keys, u.Key())
	}
	slices.Sort(keys)
	return keys
}

func TestMake(t *testing.T) {
	t.Parallel()
	cse := courses("CSE", 30, 3)
	mat := courses("MAT", 2, 2)
	huge := courses("BIO", 4, 2)
	big := []Course{course("ENG", "101", 250)}
	var dense []Course
	denseSubjects := map[string]int{}
	for i := range 60 {
		s := fmt.Sprintf("S%02d", i)
		dense = append(dense, courses(s, 4, 2)...)
		denseSubjects[s] = 60
	}

	var busy []Course
	busyCounts := Counts{Terms: map[string]int{}, Subjects: map[catalog.ScanKey]int{}, Courses: map[catalog.CourseKey]int{}}
	for i := range 300 {
		s := fmt.Sprintf("B%03d", i)
		if i%2 == 0 {
			cs := courses(s, 20, 2)
			busy = append(busy, cs...)
			busyCounts.Subjects[subj(s)] = 100
			for _, c := range cs {
				busyCounts.Courses[c.Key] = 5
			}
			continue
		}
		c := course(s, "101", 1)
		busy = append(busy, c)
		busyCounts.Courses[c.Key] = 3
	}

	busyTerm := Counts{Terms: map[string]int{"2267": 20000}, Subjects: busyCounts.Subjects, Courses: busyCounts.Courses}

	tests := []struct {
		name    string
		courses []Course
		counts  Counts
		budget  Budget
		mode    Mode
		want    []string // unit keys, sorted
		check   func(t *testing.T, p Plan)
	}{
		{
			name:    "sparse: two courses of a big subject are asked for alone",
			courses: mat,
			counts:  countsFor(mat, 20000, map[string]int{"MAT": 600}),
			budget:  defaultBudget,
			want:    []string{"2267:MAT:100", "2267:MAT:101"},
		},
		{
			name:    "a subject watched densely is walked",
			courses: append(slices.Clone(cse), mat...),
			counts:  countsFor(append(slices.Clone(cse), mat...), 20000, map[string]int{"CSE": 300, "MAT": 600}),
			budget:  defaultBudget,
			want:    []string{"2267:CSE:*", "2267:MAT:100", "2267:MAT:101"},
			check: func(t *testing.T, p Plan) {
				if p.Requests != 2+2 || p.Sections != 300+4 {
					t.Errorf("cost = %d requests, %d sections; want 4, 304", p.Requests, p.Sections)
				}
			},
		},
		{
			name:    "one huge subject with few watched courses is not walked",
			courses: huge,
			counts:  countsFor(huge, 20000, map[string]int{"BIO": 3000}),
			budget:  defaultBudget,
			want:    []string{"2267:BIO:100", "2267:BIO:101", "2267:BIO:102", "2267:BIO:103"},
		},
		{
			name:    "a course over the page size costs two requests",
			courses: big,
			counts:  countsFor(big, 20000, map[string]int{"ENG": 2000}),
			budget:  defaultBudget,
			want:    []string{"2267:ENG:101"},
			check: func(t *testing.T, p Plan) {
				if p.Requests != 2 || p.Sections != 250 {
					t.Errorf("cost = %d requests, %d sections; want 2, 250", p.Requests, p.Sections)
				}
			},
		},
		{
			name:    "a subject over the page size walks all its pages",
			courses: courses("CSE", 40, 3),
			counts:  countsFor(courses("CSE", 40, 3), 20000, map[string]int{"CSE": 450}),
			budget:  defaultBudget,
			want:    []string{"2267:CSE:*"},
			check: func(t *testing.T, p Plan) {
				if p.Requests != 3 || p.Sections != 450 {
					t.Errorf("cost = %d requests, %d sections; want 3, 450", p.Requests, p.Sections)
				}
			},
		},
		{
			name:    "most subjects watched: one walk of the whole term",
			courses: dense,
			counts:  countsFor(dense, 3600, denseSubjects),
			budget:  defaultBudget,
			want:    []string{"2267:*"},
			check: func(t *testing.T, p Plan) {
				if p.Requests != 18 || p.Sections != 3600 {
					t.Errorf("cost = %d requests, %d sections; want 18, 3600", p.Requests, p.Sections)
				}
				if got := p.Units[0].ClassNbrs(); got != 480 {
					t.Errorf("term walk covers %d watched sections, want 480", got)
				}
			},
		},
		{
			name:    "the same dense term with a tight sections budget walks subjects instead",
			courses: dense,
			counts:  countsFor(dense, 100000, denseSubjects),
			budget:  Budget{RequestsPerSecond: 3, SectionsPerSecond: 50},
			check: func(t *testing.T, p Plan) {
				for _, u := range p.Units {
					if u.Scan.Term != "" && u.Scan.Subject == "" {
						t.Fatalf("walked the 100,000-section term: %+v", shape(p))
					}
				}
			},
		},
		{
			name:    "counts unknown on first sight: a few courses are asked for alone",
			courses: append(slices.Clone(mat), course("CSE", "240", 3)),
			budget:  defaultBudget,
			want:    []string{"2267:CSE:240", "2267:MAT:100", "2267:MAT:101"},
		},
		{
			name:    "counts unknown on first sight: a densely watched subject is walked to learn its size",
			courses: cse,
			budget:  defaultBudget,
			want:    []string{"2267:CSE:*"},
			check: func(t *testing.T, p Plan) {
				if p.Sections != PriorSubjectSections {
					t.Errorf("unknown subject priced at %d sections, want the prior %d", p.Sections, PriorSubjectSections)
				}
			},
		},
		{
			// 150 subjects of 100 sections walked, 150 small ones asked for
			// course by course and never walked: the term is priced at what
			// is known of it (at least the prior), not at 200 sections for
			// every small subject, so it is walked and its size learnt.
			name:    "a busy term whose small subjects were never walked is walked whole",
			courses: busy,
			counts:  busyCounts,
			// Under a long floor every plan fits, and the cheapest wins.
			budget: Budget{RequestsPerSecond: 3, SectionsPerSecond: 250, Floor: 10 * time.Minute},
			want:   []string{"2267:*"},
			check: func(t *testing.T, p Plan) {
				if p.Sections != PriorTermSections {
					t.Errorf("term walk priced at %d sections, want the prior %d", p.Sections, PriorTermSections)
				}
			},
		},
		{
			// The term walk is shorter (80 s of sections against 100 s of
			// requests) but reads for 33 s after its snapshot: an opening
			// is seen 77 s after on average, against 55 s with a walk per
			// subject, none longer than a page.
			name:    "budgets bind: subject walks that see openings sooner beat a long term walk",
			courses: busy,
			counts:  busyTerm,
			budget:  defaultBudget,
			check: func(t *testing.T, p Plan) {
				for _, u := range p.Units {
					if u.IsScan() && u.Scan.Subject == "" {
						t.Fatalf("walked the whole term: %d units", len(p.Units))
					}
				}
				if p.Delay != 55*time.Second {
					t.Errorf("delay %s; want 55s (half the 110 s period, pages of one request)", p.Delay)
				}
			},
		},
		{
			name:    "per-course mode asks for every course",
			courses: cse[:3],
			counts:  countsFor(cse, 20000, map[string]int{"CSE": 300}),
			budget:  defaultBudget,
			mode:    PerCourse,
			want:    []string{"2267:CSE:100", "2267:CSE:101", "2267:CSE:102"},
		},
		{
			name:    "no usable budget falls back to per course",
			courses: cse[:2],
			budget:  Budget{},
			want:    []string{"2267:CSE:100", "2267:CSE:101"},
		},
		{
			name:    "a course listed twice is planned once; terms are planned apart",
			courses: []Course{course("CSE", "240", 1), course("CSE", "240", 1), {Key: catalog.CourseKey{Term: "2271", Subject: "CSE", CatalogNbr: "240"}, ClassNbrs: []string{"1"}}},
			budget:  defaultBudget,
			want:    []string{"2267:CSE:240", "2271:CSE:240"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := Make(tt.courses, tt.counts, tt.budget, tt.mode)
			if tt.want != nil && !slices.Equal(shape(p), tt.want) {
				t.Errorf("units = %v, want %v", shape(p), tt.want)
			}
			covered := 0
			for _, u := range p.Units {
				covered += u.ClassNbrs()
			}
			want := map[string]bool{}
			for _, c := range tt.courses {
				for _, n := range c.ClassNbrs {
					want[c.Key.Term+n] = true
				}
			}
			if covered != len(want) {
				t.Errorf("plan covers %d watched sections, want each of %d once", covered, len(want))
			}
			if tt.check != nil {
				tt.check(t, p)
			}
		})
	}
}

func TestMakeIsCheaperThanPerCourse(t *testing.T) {
	t.Parallel()
	// The bench's shape: 20,000 sections in 300 subjects, five of them
	// big, about 4,000 watched courses skewed toward the big ones.
	var cs []Course
	subjects := map[string]int{}
	total := 0
	for i := range 300 {
		s := fmt.Sprintf("S%03d", i)
		n, watched := 34, 7
		if i < 5 {
			n, watched = 2000, 400
		}
		subjects[s] = n
		total += n
		cs = append(cs, courses(s, watched, 2)...)
	}
	counts := countsFor(cs, total, subjects)
	auto := Make(cs, counts, defaultBudget, Auto)
	per := Make(cs, counts, defaultBudget, PerCourse)
	if auto.Requests*10 > per.Requests {
		t.Errorf("planned %d requests per sweep, per course %d: want at most a tenth", auto.Requests, per.Requests)
	}
	if auto.Duration >= per.Duration/10 {
		t.Errorf("planned sweep %s, per course %s: want at least 10× shorter", auto.Duration, per.Duration)
	}
	if got := time.Duration(float64(auto.Sections) / defaultBudget.SectionsPerSecond * float64(time.Second)); got > auto.Duration {
		t.Errorf("plan transfers %d sections (%s at the budget) but claims to last %s", auto.Sections, got, auto.Duration)
	}
}

func TestMakeOrdersByUrgency(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	quiet := Course{Key: catalog.CourseKey{Term: "2267", Subject: "AAA", CatalogNbr: "1"}, ClassNbrs: []string{"1"}, Watchers: 9}
	full := Course{Key: catalog.CourseKey{Term: "2267", Subject: "ZZZ", CatalogNbr: "1"}, ClassNbrs: []string{"2"}, Watchers: 1, Full: 1}
	popular := Course{Key: catalog.CourseKey{Term: "2267", Subject: "MMM", CatalogNbr: "1"}, ClassNbrs: []string{"3"}, Watchers: 20}
	recent := Course{Key: catalog.CourseKey{Term: "2267", Subject: "BBB", CatalogNbr: "1"}, ClassNbrs: []string{"4"}, Watchers: 9, ChangedAt: now}
	p := Make([]Course{quiet, full, popular, recent}, Counts{}, defaultBudget, Auto)
	var got []string
	for _, u := range p.Units {
		got = append(got, u.Key())
	}
	want := []string{"2267:ZZZ:1", "2267:MMM:1", "2267:BBB:1", "2267:AAA:1"}
	if !slices.Equal(got, want) {
		t.Errorf("order = %v, want %v (full first, then watchers, then recent change)", got, want)
	}
}

func TestPeriod(t *testing.T) {
	t.Parallel()
	p := Plan{Duration: 100 * time.Second}
	if got := p.Period(time.Minute); got != 110*time.Second {
		t.Errorf("Period = %s, want 110s", got)
	}
	if got := (Plan{Duration: time.Second}).Period(time.Minute); got != time.Minute {
		t.Errorf("Period under the floor = %s, want 1m", got)
	}
}

// Course watches on courses already watched by section cost nothing more:
// the same units, requests and sections, whatever the mode and sizes.
func TestWholeCoursesCostNoMoreRequests(t *testing.T) {
	t.Parallel()
	cs := courses("CSE", 40, 3)
	counts := countsFor(cs, 20000, map[string]int{"CSE": 400})
	for i := range cs {
		// Their courses hold more than the watched sections.
		counts.Courses[cs[i].Key] = 8
	}
	for _, mode := range []Mode{Auto, PerCourse} {
		before := Make(cs, counts, defaultBudget, mode)
		whole := slices.Clone(cs)
		for i := range whole {
			if i%2 == 0 {
				whole[i].WholeCourse = true
				whole[i].Watchers++
			}
		}
		after := Make(whole, counts, defaultBudget, mode)
		if !slices.Equal(shape(before), shape(after)) || before.Requests != after.Requests || before.Sections != after.Sections {
			t.Errorf("mode %v: %d requests / %d sections in %v, then %d / %d in %v", mode,
				before.Requests, before.Sections, shape(before), after.Requests, after.Sections, shape(after))
		}
	}
	// A course watched whole only, never counted, still costs one request.
	only := Course{Key: catalog.CourseKey{Term: "2267", Subject: "MAT", CatalogNbr: "343"}, Watchers: 1, WholeCourse: true}
	if p := Make([]Course{only}, Counts{}, defaultBudget, PerCourse); p.Requests != 1 || p.Units[0].ClassNbrs() != 1 {
		t.Errorf("a course watched whole only: %d requests, %d watched", p.Requests, p.Units[0].ClassNbrs())
	}
}
