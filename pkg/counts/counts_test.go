package counts_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/counts"
	"github.com/pickmyclass/pickmyclass/pkg/plan"
	"github.com/pickmyclass/pickmyclass/pkg/testenv"
)

func TestRecordAndLoad(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	ctx := testenv.Context(t, 10*time.Second)
	s := counts.New(rdb, func(term string) string { return prefix + "counts:" + term })

	sec := func(subject, nbr string) catalog.Section {
		return catalog.Section{Term: "2267", Subject: subject, CatalogNbr: nbr}
	}
	// A subject walk: the subject's total and each course's size.
	if err := s.RecordScan(ctx, catalog.Scan{Key: catalog.ScanKey{Term: "2267", Subject: "cse"}, Total: 3,
		Sections: []catalog.Section{sec("CSE", "240"), sec("CSE", "240"), sec("cse", "110")}}); err != nil {
		t.Fatal(err)
	}
	// A term walk: the term's total and every subject's size too.
	if err := s.RecordScan(ctx, catalog.Scan{Key: catalog.ScanKey{Term: "2271"}, Total: 2,
		Sections: []catalog.Section{{Term: "2271", Subject: "MAT", CatalogNbr: "265"}, {Term: "2271", Subject: "PHY", CatalogNbr: "121"}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordCourse(ctx, catalog.CourseKey{Term: "2267", Subject: "MAT", CatalogNbr: "265"}, 4); err != nil {
		t.Fatal(err)
	}
	// A value written by something else is unknown, not an error.
	if err := rdb.HSet(ctx, prefix+"counts:2267", "S:BIO", "lots").Err(); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load(ctx, []string{"2267", "2271", "2281"})
	if err != nil {
		t.Fatal(err)
	}
	want := plan.Counts{
		Terms: map[string]int{"2271": 2},
		Subjects: map[catalog.ScanKey]int{
			{Term: "2267", Subject: "CSE"}: 3,
			{Term: "2271", Subject: "MAT"}: 1, {Term: "2271", Subject: "PHY"}: 1,
		},
		Courses: map[catalog.CourseKey]int{
			{Term: "2267", Subject: "CSE", CatalogNbr: "240"}: 2, {Term: "2267", Subject: "CSE", CatalogNbr: "110"}: 1,
			{Term: "2267", Subject: "MAT", CatalogNbr: "265"}: 4,
			{Term: "2271", Subject: "MAT", CatalogNbr: "265"}: 1, {Term: "2271", Subject: "PHY", CatalogNbr: "121"}: 1,
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Load (-want +got):\n%s", diff)
	}
	if ttl := rdb.TTL(ctx, prefix+"counts:2267").Val(); ttl <= 0 {
		t.Errorf("counts key TTL = %s, want one set", ttl)
	}
}
