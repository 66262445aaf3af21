package store_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/store"
	"github.com/pickmyclass/pickmyclass/pkg/store/storetest"
)

// seedWatchesSQL seeds $1 verified users with 5 watches each, one course of 5
// sections per user, so $1 × 5 distinct sections are watched; every tenth
// user is disabled to give the filter work.
const seedWatchesSQL = `
WITH u AS (
	INSERT INTO users (email, password_hash, verified_at, disabled_at)
	SELECT 'bench' || g || '@example.edu', 'x', now(), CASE WHEN g % 10 = 0 THEN now() END
	FROM generate_series(1, $1) g
	RETURNING id
)
INSERT INTO class_watches (user_id, term, class_nbr, subject, catalog_nbr)
SELECT u.id, '2267', (u.id * 5 + s)::text, 'S' || (u.id % 50), (u.id)::text
FROM u, generate_series(0, 4) s`

// BenchmarkDueCourses measures the scheduler's query over 100,000 watched
// sections.
func BenchmarkDueCourses(b *testing.B) {
	db, _ := storetest.NewDB(b)
	ctx := context.Background()
	if _, err := db.Pool().Exec(ctx, seedWatchesSQL, 20000); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Pool().Exec(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}
	var sections int
	for b.Loop() {
		due, err := db.DueCourses(ctx)
		if err != nil {
			b.Fatal(err)
		}
		sections = 0
		for _, c := range due {
			sections += len(c.ClassNbrs)
		}
	}
	if sections != 90000 {
		b.Fatalf("due sections = %d, want 90000 (the disabled tenth excluded)", sections)
	}
	b.ReportMetric(float64(sections), "sections")
}

// BenchmarkApplyCourse measures ApplyCourse throughput with 5 watched
// sections per course, each with one watcher, every check changing seats
// and half of them opening a section, from 8 concurrent workers.
func BenchmarkApplyCourse(b *testing.B) {
	db, _ := storetest.NewDB(b)
	ctx := context.Background()
	const users = 400
	if _, err := db.Pool().Exec(ctx, seedWatchesSQL, users); err != nil {
		b.Fatal(err)
	}
	due, err := db.DueCourses(ctx)
	if err != nil {
		b.Fatal(err)
	}
	var round atomic.Int64
	start := time.Now()
	b.ResetTimer()
	var g errgroup.Group
	g.SetLimit(8)
	for i := range b.N {
		c := due[i%len(due)]
		g.Go(func() error {
			n := round.Add(1)
			obs := store.CourseObservation{Course: c.Course, ObservedAt: start.Add(time.Duration(n) * time.Millisecond), Wanted: c.ClassNbrs}
			for j, nbr := range c.ClassNbrs {
				enrolled := 30
				if (int(n)+j)%2 == 0 {
					enrolled = 29
				}
				obs.Sections = append(obs.Sections, catalog.Section{
					Term: c.Course.Term, ClassNbr: nbr, Subject: c.Course.Subject, CatalogNbr: c.Course.CatalogNbr,
					Title: "Bench", Capacity: 30, Enrolled: enrolled, Status: catalog.StatusOpen,
				})
			}
			if _, err := db.ApplyCourse(ctx, obs); err != nil {
				return fmt.Errorf("apply %s: %w", c.Course, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N*5)/time.Since(start).Seconds(), "sections/s")
}
