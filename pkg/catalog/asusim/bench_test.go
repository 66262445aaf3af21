package asusim_test

import (
	"fmt"
	"testing"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asu"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asusim"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asusim/asusimtest"
)

// BenchmarkCourse measures one course fetch through the adapter against a
// catalog of the benchmark size (20,000 courses).
func BenchmarkCourse(b *testing.B) {
	_, base := asusimtest.Start(b, asusim.Generate("2267", 20000, 5, 0.3, 1))
	c, err := asu.New(asu.Config{BaseURL: base})
	if err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		key := catalog.CourseKey{Term: "2267", Subject: "CSE", CatalogNbr: fmt.Sprint(100 + i%1000)}
		if got, err := c.Course(b.Context(), key); err != nil || len(got) != 5 {
			b.Fatalf("Course(%s) = %d sections, %v", key, len(got), err)
		}
		i++
	}
}
