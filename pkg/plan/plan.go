// Package plan chooses how to ask the university about every watched
// section in one sweep, as cheaply as the politeness budgets allow.
//
// The class search answers three kinds of query: one course (usually one
// request), one subject walked through all its scroll pages, or a whole term
// walked the same way. A request returns up to PageSize sections, so a
// subject with many watched courses costs fewer requests as one walk than as
// one request per course, but it also transfers every section of the
// subject. Both are budgeted — requests per second and sections per second,
// shared by every worker — and a sweep lasts as long as the tighter budget
// takes to serve it. Make picks, per subject and per term, the queries that
// make the sweep shortest.
//
// What the last observations told us (each term's, subject's and course's
// section count) prices the walks. A count not seen yet is estimated from
// the counts that are known, or from a prior; the first walk of a subject or
// term then tells the truth, and the next plan uses it.
//
// The package is pure: no I/O, no clock.
package plan

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
)

// Priors stand in for counts never observed. They are deliberately generous:
// an unknown subject or term is assumed big, so a plan walks it only when
// many of its courses are watched, and a small deployment never walks a whole
// term on first sight.
const (
	// PriorSubjectSections is the assumed size of a subject never walked.
	PriorSubjectSections = 200
	// PriorTermSections is the assumed size of a term never walked (a
	// large university's term has 15,000–25,000 sections).
	PriorTermSections = 20000
)

// DefaultPageSize is how many sections one request of the class search returns.
const DefaultPageSize = 200

// Course is a watched course and what makes its sections urgent.
type Course struct {
	Key catalog.CourseKey
	// ClassNbrs are the watched sections of the course (sorted, distinct).
	ClassNbrs []string
	// Watchers counts the active watches on them.
	Watchers int
	// Full counts watched sections last seen with no open seat: the ones
	// whose opening someone is waiting for.
	Full int
	// ChangedAt is the latest change seen on a watched section; zero if none.
	ChangedAt time.Time
	// WholeCourse says course or linked watches need every section of the
	// course; the same request serves them and the section watches.
	WholeCourse bool
}

// watched counts what is waiting on c's check: its watched sections, or
// one for a course watched whole only.
func (c Course) watched() int {
	if c.WholeCourse {
		return max(len(c.ClassNbrs), 1)
	}
	return len(c.ClassNbrs)
}

// Counts are section counts from earlier observations. A missing entry is
// unknown. Subjects, in subject and course keys, are upper-case.
type Counts struct {
	Terms    map[string]int
	Subjects map[catalog.ScanKey]int
	Courses  map[catalog.CourseKey]int
}

// Budget is the politeness budget a sweep must fit.
type Budget struct {
	RequestsPerSecond float64
	SectionsPerSecond float64
	// PageSize is the number of sections one request returns (default 200).
	PageSize int
	// Floor is the shortest a sweep may last. When several plans fit under
	// it, the one that asks least of the university wins, not the fastest.
	Floor time.Duration
}

// Mode selects the kinds of query a plan may use.
type Mode int

const (
	// Auto lets each subject and term use whichever query is cheapest.
	Auto Mode = iota
	// PerCourse asks for every watched course on its own: the plan the
	// pipeline had before walks, kept for comparison and as a fallback.
	PerCourse
)

// Unit is one query of a sweep: a course request or a walk.
type Unit struct {
	// Course is set for a course request.
	Course catalog.CourseKey
	// Scan is set (its Term non-empty) for a walk of a subject or term.
	Scan catalog.ScanKey
	// Watched lists the watched courses the unit covers.
	Watched []Course
	// Requests and Sections are the unit's estimated cost.
	Requests, Sections int
}

// IsScan reports whether the unit is a walk.
func (u Unit) IsScan() bool { return u.Scan.Term != "" }

// Key names the unit; it is unique within a plan.
func (u Unit) Key() string {
	if u.IsScan() {
		return u.Scan.String()
	}
	return u.Course.String()
}

// ClassNbrs counts the watched sections the unit covers.
func (u Unit) ClassNbrs() int {
	n := 0
	for _, c := range u.Watched {
		n += c.watched()
	}
	return n
}

// Plan is the queries of one sweep, most urgent first.
type Plan struct {
	Units []Unit
	// Requests and Sections sum the units' estimated costs.
	Requests, Sections int
	// Duration is how long the budgets take to serve the whole plan: the
	// shortest a sweep can be.
	Duration time.Duration
	// Delay estimates how long after a seat opens the plan sees it, on
	// average over the watched sections: half a period until the unit
	// covering the section runs, plus the time its walk takes from the
	// search's snapshot at the first page to the last page (a walk pays its
	// section budget before it starts, so its pages go at the request rate).
	Delay time.Duration
}

// Period is how long the sweep of p should last: its Duration with a tenth
// spare for retries and counts that grew, and never under floor.
func (p Plan) Period(floor time.Duration) time.Duration {
	return max(floor, p.Duration+p.Duration/10)
}

// Make plans one sweep over courses. Courses of several terms are planned
// term by term; a course listed twice is planned once.
func Make(courses []Course, counts Counts, b Budget, mode Mode) Plan {
	if b.PageSize <= 0 {
		b.PageSize = DefaultPageSize
	}
	if !(b.RequestsPerSecond > 0) || !(b.SectionsPerSecond > 0) {
		// Without a usable budget nothing can be priced; per course is the
		// plan that transfers least.
		mode = PerCourse
		b.RequestsPerSecond, b.SectionsPerSecond = 1, 1
	}
	terms := group(courses)
	if mode == PerCourse {
		var units []Unit
		for _, t := range terms {
			for _, s := range t.subjects {
				for _, c := range s.courses {
					units = append(units, courseUnit(c, counts, b))
				}
			}
		}
		return finish(units, b)
	}
	// The best plan for a weighting of the two budgets is found subject by
	// subject. A plain sum of the two costs would over-walk when sections
	// are the tight budget and under-walk when requests are, so several
	// weightings are tried, each with and without whole-term walks: among
	// the plans that fit under the floor the one that uses least of both
	// budgets wins; if none fits, the one that sees an opening soonest
	// (a term walk is cheap but long, and a seat that opens after its first
	// page waits for the next one).
	var best Plan
	var bestLoad float64
	first := true
	for _, w := range weights {
		for _, termWalks := range []bool{true, false} {
			var units []Unit
			for _, t := range terms {
				units = append(units, planTerm(t, counts, b, w, termWalks)...)
			}
			p := finish(units, b)
			load := float64(p.Requests)/b.RequestsPerSecond + float64(p.Sections)/b.SectionsPerSecond
			fits, bestFits := p.Duration <= b.Floor, best.Duration <= b.Floor
			better := fits && (!bestFits || load < bestLoad) ||
				!fits && !bestFits && (p.Delay < best.Delay || p.Delay == best.Delay && load < bestLoad)
			if first || better {
				best, bestLoad, first = p, load, false
			}
		}
	}
	return best
}

// weights are the shares of a unit's cost given to requests (the rest to
// sections) that Make tries.
var weights = []float64{0.5, 0.05, 0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9, 0.95}

type subjectGroup struct {
	key     catalog.ScanKey
	courses []Course
}

type termGroup struct {
	term     string
	subjects []*subjectGroup
}

// group sorts courses into terms and subjects, in a stable order, dropping
// repeated courses.
func group(courses []Course) []*termGroup {
	sorted := slices.Clone(courses)
	slices.SortStableFunc(sorted, func(a, b Course) int {
		return cmp.Or(cmp.Compare(a.Key.Term, b.Key.Term),
			cmp.Compare(strings.ToUpper(a.Key.Subject), strings.ToUpper(b.Key.Subject)),
			cmp.Compare(a.Key.CatalogNbr, b.Key.CatalogNbr))
	})
	var terms []*termGroup
	var last catalog.CourseKey
	for i, c := range sorted {
		if i > 0 && c.Key == last {
			continue
		}
		last = c.Key
		if len(terms) == 0 || terms[len(terms)-1].term != c.Key.Term {
			terms = append(terms, &termGroup{term: c.Key.Term})
		}
		t := terms[len(terms)-1]
		sk := catalog.ScanKey{Term: c.Key.Term, Subject: strings.ToUpper(c.Key.Subject)}
		if len(t.subjects) == 0 || t.subjects[len(t.subjects)-1].key != sk {
			t.subjects = append(t.subjects, &subjectGroup{key: sk})
		}
		s := t.subjects[len(t.subjects)-1]
		s.courses = append(s.courses, c)
	}
	return terms
}

// planTerm picks, for each subject of a term, a walk of the subject or one
// request per course, and then, if termWalks, whether one walk of the whole
// term beats all of those.
func planTerm(t *termGroup, counts Counts, b Budget, w float64, termWalks bool) []Unit {
	price := func(requests, sections int) float64 {
		return w*float64(requests)/b.RequestsPerSecond + (1-w)*float64(sections)/b.SectionsPerSecond
	}
	var units []Unit
	var total float64
	// seen sums what the term is known to hold at least: the size of every
	// subject walked, and of the courses asked for in subjects never walked.
	var seen int
	for _, s := range t.subjects {
		perCourse := make([]Unit, 0, len(s.courses))
		var cost float64
		var coursesSeen int
		for _, c := range s.courses {
			u := courseUnit(c, counts, b)
			perCourse = append(perCourse, u)
			cost += price(u.Requests, u.Sections)
			coursesSeen += u.Sections
		}
		n, ok := counts.Subjects[s.key]
		if ok {
			seen += n
		} else {
			seen += coursesSeen
			n = PriorSubjectSections
		}
		walk := Unit{Scan: s.key, Watched: s.courses, Requests: pages(n, b.PageSize), Sections: n}
		// A walk must win outright: on a tie, per-course transfers less
		// and is never wrong about a subject's size.
		if walkCost := price(walk.Requests, walk.Sections); walkCost < cost {
			units = append(units, walk)
			total += walkCost
		} else {
			units = append(units, perCourse...)
			total += cost
		}
	}
	if !termWalks {
		return units
	}
	n, ok := counts.Terms[t.term]
	if !ok {
		// A term never walked is assumed as big as a large university's,
		// or as big as what is known of it if that is more. Its subjects
		// never walked count only their courses seen: were each assumed
		// PriorSubjectSections, the many small subjects of a busy term
		// would price its walk out for good, and the walk that would tell
		// its true size would never run. If the walk costs more than
		// assumed, the next plan knows it.
		n = max(PriorTermSections, seen)
	}
	term := Unit{Scan: catalog.ScanKey{Term: t.term}, Requests: pages(n, b.PageSize), Sections: n}
	if price(term.Requests, term.Sections) < total {
		for _, s := range t.subjects {
			term.Watched = append(term.Watched, s.courses...)
		}
		return []Unit{term}
	}
	return units
}

// courseUnit is one request for a course; a course never counted is
// assumed to have just its watched sections.
func courseUnit(c Course, counts Counts, b Budget) Unit {
	k := c.Key
	k.Subject = strings.ToUpper(k.Subject)
	n, ok := counts.Courses[k]
	if !ok {
		n = c.watched()
	}
	return Unit{Course: c.Key, Watched: []Course{c}, Requests: pages(n, b.PageSize), Sections: n}
}

// pages is the number of requests a search matching n sections takes: at
// least one, even for an empty answer.
func pages(n, size int) int { return max(1, (n+size-1)/size) }

// finish orders units most urgent first and sums their cost.
func finish(units []Unit, b Budget) Plan {
	type urgency struct {
		full, watchers int
		changed        time.Time
	}
	urg := make(map[string]urgency, len(units))
	for _, u := range units {
		var g urgency
		for _, c := range u.Watched {
			g.full += c.Full
			g.watchers += c.Watchers
			if c.ChangedAt.After(g.changed) {
				g.changed = c.ChangedAt
			}
		}
		urg[u.Key()] = g
	}
	slices.SortStableFunc(units, func(a, b Unit) int {
		x, y := urg[a.Key()], urg[b.Key()]
		return cmp.Or(cmp.Compare(y.full, x.full), cmp.Compare(y.watchers, x.watchers), y.changed.Compare(x.changed))
	})
	p := Plan{Units: units}
	var watched int
	var reading float64 // watched sections × seconds their walk reads after its snapshot
	for _, u := range units {
		p.Requests += u.Requests
		p.Sections += u.Sections
		n := u.ClassNbrs()
		watched += n
		reading += float64(n) * float64(u.Requests-1) / b.RequestsPerSecond
	}
	secs := math.Max(float64(p.Requests)/b.RequestsPerSecond, float64(p.Sections)/b.SectionsPerSecond)
	p.Duration = time.Duration(secs * float64(time.Second))
	p.Delay = p.Period(b.Floor) / 2
	if watched > 0 {
		p.Delay += time.Duration(reading / float64(watched) * float64(time.Second))
	}
	return p
}
