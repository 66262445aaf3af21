// Package counts keeps, in Redis, how many sections the university's class
// search holds per term, subject and course, as the latest observations
// told: workers record them after every complete query, and the scheduler's
// query planner prices the next sweep with them.
package counts

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/plan"
)

// ttl is how long a term's counts live after their last update: a term
// nobody watches any more stops costing memory.
const ttl = 30 * 24 * time.Hour

// Fields of a term's hash.
const (
	termField     = "*"
	subjectPrefix = "S:"
	coursePrefix  = "C:"
)

// Store reads and writes the counts.
type Store struct {
	rdb redis.UniversalClient
	key func(term string) string
}

// New returns the counts kept under the keys key(term).
func New(rdb redis.UniversalClient, key func(term string) string) *Store {
	return &Store{rdb: rdb, key: key}
}

// RecordCourse records the section count of one course.
func (s *Store) RecordCourse(ctx context.Context, c catalog.CourseKey, n int) error {
	return s.write(ctx, c.Term, map[string]any{courseField(c): n})
}

// RecordScan records what a complete walk told: the total of the subject
// (or the term) and the size of every course and subject in it. A course of
// the subject absent from the walk is not removed: it counts as unknown only
// when it ages out with the term.
func (s *Store) RecordScan(ctx context.Context, sc catalog.Scan) error {
	fields := map[string]any{}
	if sc.Key.Subject == "" {
		fields[termField] = sc.Total
	} else {
		fields[subjectPrefix+strings.ToUpper(sc.Key.Subject)] = sc.Total
	}
	courses := map[string]int{}
	subjects := map[string]int{}
	for _, sec := range sc.Sections {
		courses[courseField(sec.Course())]++
		subjects[subjectPrefix+strings.ToUpper(sec.Subject)]++
	}
	for f, n := range courses {
		fields[f] = n
	}
	if sc.Key.Subject == "" {
		for f, n := range subjects {
			fields[f] = n
		}
	}
	return s.write(ctx, sc.Key.Term, fields)
}

func courseField(c catalog.CourseKey) string {
	return coursePrefix + strings.ToUpper(c.Subject) + ":" + c.CatalogNbr
}

func (s *Store) write(ctx context.Context, term string, fields map[string]any) error {
	key := s.key(term)
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, key, fields)
		p.Expire(ctx, key, ttl)
		return nil
	})
	if err != nil {
		return fmt.Errorf("record section counts of term %s: %w", term, err)
	}
	return nil
}

// Load returns the counts of terms, for the planner.
func (s *Store) Load(ctx context.Context, terms []string) (plan.Counts, error) {
	out := plan.Counts{Terms: map[string]int{}, Subjects: map[catalog.ScanKey]int{}, Courses: map[catalog.CourseKey]int{}}
	cmds := make([]*redis.MapStringStringCmd, len(terms))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, t := range terms {
			cmds[i] = p.HGetAll(ctx, s.key(t))
		}
		return nil
	})
	if err != nil {
		return out, fmt.Errorf("load section counts: %w", err)
	}
	for i, t := range terms {
		for f, v := range cmds[i].Val() {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				continue // unreadable: unknown, as if never seen
			}
			switch {
			case f == termField:
				out.Terms[t] = n
			case strings.HasPrefix(f, subjectPrefix):
				out.Subjects[catalog.ScanKey{Term: t, Subject: f[len(subjectPrefix):]}] = n
			case strings.HasPrefix(f, coursePrefix):
				subject, nbr, ok := strings.Cut(f[len(coursePrefix):], ":")
				if ok {
					out.Courses[catalog.CourseKey{Term: t, Subject: subject, CatalogNbr: nbr}] = n
				}
			}
		}
	}
	return out, nil
}
