package asusim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
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

// BenchmarkTermWalk walks a whole term of 20,000 sections in 300 subjects
// (100 pages) over HTTP. It measures the simulator, not a client: each body
// is read in full but only its cursor and total are decoded (the rows are
// counted by the simulator). It reports the body bytes per section.
func BenchmarkTermWalk(b *testing.B) {
	const sections = 20000
	sim, base := asusimtest.Start(b, asusim.GenerateTerm("2267", sections, 300, 1))
	var walks, size int
	for b.Loop() {
		pages, n, err := rawWalk(b.Context(), base, "term=2267")
		if err != nil || pages != sections/asusim.PageSize {
			b.Fatalf("walk read %d pages: %v", pages, err)
		}
		walks++
		size = n
	}
	b.SetBytes(int64(size))
	b.ReportMetric(float64(size)/sections, "B/section")
	st := sim.State(false)
	if st.SectionsServed != int64(walks*sections) || st.LiveScrolls != 0 {
		b.Errorf("%d walks served %d rows and left %d scroll contexts", walks, st.SectionsServed, st.LiveScrolls)
	}
}

// rawWalk reads every page of a search and returns the pages and body
// bytes read.
func rawWalk(ctx context.Context, base, query string) (pages, size int, err error) {
	u := base + "/classes?" + query
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return pages, size, err
		}
		req.Header.Set("Authorization", "Bearer null")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return pages, size, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return pages, size, err
		}
		if resp.StatusCode != http.StatusOK {
			return pages, size, fmt.Errorf("status %d: %s", resp.StatusCode, body)
		}
		pages++
		size += len(body)
		// The simulator writes the rows first and the cursor last.
		i := bytes.LastIndex(body, []byte(`],"aggregations":`))
		if i < 0 {
			return pages, size, fmt.Errorf("page %d: no aggregations after the rows", pages)
		}
		var tail struct {
			ScrollID string              `json:"scrollId"`
			Total    struct{ Value int } `json:"total"`
		}
		if err := json.Unmarshal(append([]byte("{"), body[i+2:]...), &tail); err != nil {
			return pages, size, fmt.Errorf("page %d: %w", pages, err)
		}
		if pages*asusim.PageSize >= tail.Total.Value {
			return pages, size, nil
		}
		u = base + "/classes?scrollId=" + url.QueryEscape(tail.ScrollID)
	}
}
