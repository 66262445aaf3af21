package asusim_test

import (
	"reflect"
	"regexp"
	"slices"
	"testing"

	"github.com/pickmyclass/pickmyclass/pkg/catalog/asusim"
)

func TestGenerateTermIsDeterministic(t *testing.T) {
	t.Parallel()
	a := asusim.GenerateTerm("2267", 3000, 60, 42)
	if !reflect.DeepEqual(a, asusim.GenerateTerm("2267", 3000, 60, 42)) {
		t.Error("same seed, different term")
	}
	if reflect.DeepEqual(a, asusim.GenerateTerm("2267", 3000, 60, 43)) {
		t.Error("another seed gave the same term")
	}
}

// TestGenerateTermShape checks the bench's term: 20,000 sections in 300
// subjects.
func TestGenerateTermShape(t *testing.T) {
	t.Parallel()
	sc := asusim.GenerateTerm("2267", 20000, 300, 1)
	if err := sc.Validate(); err != nil {
		t.Fatalf("invalid: %v", err)
	}
	if len(sc.Sections) != 20000 || len(sc.Terms) != 1 || sc.Terms[0].Code != "2267" {
		t.Fatalf("%d sections, terms %v; want 20000 in 2267", len(sc.Sections), sc.Terms)
	}
	code := regexp.MustCompile(`^[A-Z]{3}$`)
	bySubject := map[string]int{}
	byCourse := map[[2]string]int{}
	for _, s := range sc.Sections {
		if !code.MatchString(s.Subject) {
			t.Fatalf("subject code %q", s.Subject)
		}
		if !s.Full() || s.Capacity < 20 || s.Capacity > 300 {
			t.Fatalf("%s: %d/%d; want full, capacity 20..300", s.Key(), s.Enrolled, s.Capacity)
		}
		if len(s.CatalogNbr) != 3 {
			t.Fatalf("%s: catalog number %q", s.Key(), s.CatalogNbr)
		}
		bySubject[s.Subject]++
		byCourse[[2]string{s.Subject, s.CatalogNbr}]++
	}
	if len(bySubject) != 300 {
		t.Errorf("%d subjects; want 300", len(bySubject))
	}
	for c, n := range byCourse {
		if n < 1 || n > 8 {
			t.Errorf("course %v has %d sections; want 1..8", c, n)
		}
	}
	sizes := make([]int, 0, len(bySubject))
	for _, n := range bySubject {
		sizes = append(sizes, n)
	}
	slices.Sort(sizes)
	slices.Reverse(sizes)
	if sizes[0] < 20000/20 {
		t.Errorf("biggest subject has %d sections; want at least 5%% of the term", sizes[0])
	}
	if sizes[2] < 1000 || sizes[len(sizes)-1] > 50 {
		t.Errorf("subject sizes %v … %v; want a few over 1,000 and a long tail", sizes[:5], sizes[len(sizes)-5:])
	}
	for _, s := range []string{"MAT", "ENG", "CSE"} {
		if bySubject[s] < 1000 {
			t.Errorf("%s has %d sections; want a huge subject", s, bySubject[s])
		}
	}
	// Catalog order, class numbers rising with it.
	for i := 1; i < len(sc.Sections); i++ {
		a, b := sc.Sections[i-1], sc.Sections[i]
		if a.Subject > b.Subject || a.Subject == b.Subject && a.CatalogNbr > b.CatalogNbr || a.ClassNbr >= b.ClassNbr {
			t.Fatalf("sections %d and %d out of order: %+v, %+v", i-1, i, a.Key(), b.Key())
		}
	}
}

func TestGenerateTermEdges(t *testing.T) {
	t.Parallel()
	tests := []struct {
		sections, subjects       int
		wantSections, wantSubjes int
	}{
		{sections: 0, subjects: 5, wantSections: 0, wantSubjes: 0},
		{sections: 10, subjects: 30, wantSections: 10, wantSubjes: 10},
		{sections: 10, subjects: 0, wantSections: 10, wantSubjes: 1},
		{sections: 1000, subjects: 40, wantSections: 1000, wantSubjes: 40},
	}
	for _, tc := range tests {
		sc := asusim.GenerateTerm("2271", tc.sections, tc.subjects, 7)
		subjects := map[string]bool{}
		for _, s := range sc.Sections {
			subjects[s.Subject] = true
		}
		if len(sc.Sections) != tc.wantSections || len(subjects) != tc.wantSubjes || len(sc.Terms) != 1 {
			t.Errorf("GenerateTerm(%d, %d) = %d sections in %d subjects; want %d in %d",
				tc.sections, tc.subjects, len(sc.Sections), len(subjects), tc.wantSections, tc.wantSubjes)
		}
	}
}
