package check

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
)

func TestEncodeDecode(t *testing.T) {
	t.Parallel()
	in := Check{
		Course:     catalog.CourseKey{Term: "2267", Subject: "CSE", CatalogNbr: "240"},
		ClassNbrs:  []string{"70412", "70413"},
		Cycle:      "2026-11-29T05:00:00Z",
		EnqueuedAt: time.Date(2026, 11, 29, 5, 0, 1, 0, time.UTC),
	}
	b, err := Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, out); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestDecodeRejects(t *testing.T) {
	t.Parallel()
	incomplete, _ := Encode(Check{Course: catalog.CourseKey{Term: "2267"}, ClassNbrs: []string{"1"}})
	empty, _ := Encode(Check{Course: catalog.CourseKey{Term: "2267", Subject: "CSE", CatalogNbr: "240"}})
	for name, b := range map[string][]byte{
		"garbage":    []byte("\xff\xff\xff not protobuf"),
		"incomplete": incomplete,
		"no classes": empty,
	} {
		if _, err := Decode(b); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Decode error = %v, want ErrInvalid", name, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	good, _ := Encode(Check{Course: catalog.CourseKey{Term: "2267", Subject: "CSE", CatalogNbr: "240"}, ClassNbrs: []string{"70412"}})
	f.Add(good)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Decode(b)
		if err == nil && (c.Course.Term == "" || len(c.ClassNbrs) == 0) {
			t.Fatalf("Decode accepted an incomplete check: %+v", c)
		}
	})
}
