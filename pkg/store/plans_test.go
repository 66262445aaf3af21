package store_test

import (
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/store"
	"github.com/pickmyclass/pickmyclass/pkg/store/storetest"
	"github.com/pickmyclass/pickmyclass/pkg/testenv"
)

// TestStatementsArePlannedPerExecution runs the hot statements of a check and
// of a dashboard more often than PostgreSQL's five custom plans on one
// connection, and reads that connection's plan counts. With the default
// plan cache it settles on generic plans, made here while section_states is
// nearly empty: sequential scans that would stay for the connection's life
// however large the table grows. Open must make it plan every execution.
func TestStatementsArePlannedPerExecution(t *testing.T) {
	t.Parallel()
	_, dbURL := storetest.NewDB(t)
	for _, tc := range []struct {
		name        string
		params      string
		wantGeneric bool
	}{
		{"default", "", false},
		{"overridden by the URL", "plan_cache_mode=auto", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testenv.Context(t, time.Minute)
			u, err := url.Parse(dbURL)
			if err != nil {
				t.Fatal(err)
			}
			q := u.Query()
			q.Set("pool_max_conns", "1") // every statement on one connection
			if tc.params != "" {
				v, _ := url.ParseQuery(tc.params)
				for k := range v {
					q.Set(k, v.Get(k))
				}
			}
			u.RawQuery = q.Encode()
			db, err := store.Open(ctx, u.String())
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			user := storetest.User(t, db, fmt.Sprintf("plans-%s@example.edu", testenv.RandomID()))
			if _, err := db.CreateWatch(ctx, user.ID, store.NewWatch{Term: term, ClassNbr: "70001", Subject: subj, CatalogNbr: catNbr}, 10); err != nil {
				t.Fatal(err)
			}
			const runs = 8
			base := time.Now()
			for i := range runs {
				if _, err := db.ApplyCourse(ctx, store.CourseObservation{
					Course: course, ObservedAt: base.Add(time.Duration(i) * time.Second),
					Sections: []catalog.Section{sec(term, "70001", 20+i)}, Wanted: []string{"70001"},
				}); err != nil {
					t.Fatal(err)
				}
				if _, err := db.ListWatches(ctx, user.ID); err != nil {
					t.Fatal(err)
				}
			}
			var generic, custom int64
			if err := db.Pool().QueryRow(ctx,
				`SELECT coalesce(sum(generic_plans), 0), coalesce(sum(custom_plans), 0) FROM pg_prepared_statements
				 WHERE statement LIKE '%section_states%' AND statement NOT LIKE '%pg_prepared_statements%'`).Scan(&generic, &custom); err != nil {
				t.Fatal(err)
			}
			if tc.wantGeneric != (generic > 0) {
				t.Fatalf("%d generic and %d custom plans of statements on section_states; want generic plans: %v", generic, custom, tc.wantGeneric)
			}
			if !tc.wantGeneric && custom < 3*runs {
				t.Fatalf("%d custom plans of statements on section_states, want at least %d", custom, 3*runs)
			}
		})
	}
}

// A write that fails part-way through ApplyCourse's transaction leaves
// nothing behind, and the connection it ran on serves the next call.
func TestApplyCourseFailureRollsBack(t *testing.T) {
	t.Parallel()
	_, dbURL := storetest.NewDB(t)
	ctx := testenv.Context(t, time.Minute)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("pool_max_conns", "1")
	u.RawQuery = q.Encode()
	db, err := store.Open(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	good, bad := sec(term, "70001", 10), sec(term, "70002", 10)
	bad.Title = "a NUL \x00 PostgreSQL cannot store"
	obs := store.CourseObservation{Course: course, ObservedAt: at(1), Sections: []catalog.Section{good, bad}, Wanted: []string{"70001", "70002"}}
	if _, err := db.ApplyCourse(ctx, obs); err == nil {
		t.Fatal("ApplyCourse stored a title with a NUL byte")
	}
	var n int
	if err := db.Pool().QueryRow(ctx, "SELECT count(*) FROM section_states").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%d section states stored by a failed ApplyCourse, want 0", n)
	}
	bad.Title = "Intro to Systems"
	obs.Sections = []catalog.Section{good, bad}
	res, err := db.ApplyCourse(ctx, obs)
	if err != nil || res.Applied != 2 {
		t.Fatalf("ApplyCourse after a failed one = %+v, %v; want 2 applied", res, err)
	}
}
