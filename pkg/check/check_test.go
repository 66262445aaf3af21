package check

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/stream"
)

func TestEncodeDecode(t *testing.T) {
	t.Parallel()
	in := Check{
		Course:     catalog.CourseKey{Term: "2267", Subject: "CSE", CatalogNbr: "240"},
		ClassNbrs:  []string{"70412", "70413"},
		Sweep:      "2026-11-29T05:00:00Z",
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

// A whole-course check needs no class number, round-trips in both message
// types, and covers its course's key beside its sections.
func TestWholeCourse(t *testing.T) {
	t.Parallel()
	k := catalog.CourseKey{Term: "2267", Subject: "CSE", CatalogNbr: "240"}
	b, err := Encode(Check{Course: k, WholeCourse: true})
	if err != nil {
		t.Fatal(err)
	}
	c, err := Decode(b)
	if err != nil || !c.WholeCourse || len(c.ClassNbrs) != 0 {
		t.Fatalf("Decode = %+v, %v", c, err)
	}
	c.ClassNbrs = []string{"70412"}
	got := c.Covers()
	want := []catalog.SectionKey{{Term: "2267", ClassNbr: "70412"}, WholeCourseKey(catalog.CourseKey{Term: "2267", Subject: "cse", CatalogNbr: "240"})}
	if !slices.Equal(got, want) {
		t.Errorf("Covers = %v, want %v", got, want)
	}
	w := Walk{Scan: catalog.ScanKey{Term: "2267", Subject: "CSE"}, Courses: []Check{{Course: k, WholeCourse: true}}}
	wb, err := EncodeWalk(w)
	if err != nil {
		t.Fatal(err)
	}
	dw, err := DecodeWalk(wb)
	if err != nil || len(dw.Courses) != 1 || !dw.Courses[0].WholeCourse {
		t.Fatalf("DecodeWalk = %+v, %v", dw, err)
	}
	e := &stream.Entry{Type: WalkMessageType, Data: wb}
	if _, secs, ok := Waiting(e); !ok || !slices.Equal(secs, []catalog.SectionKey{WholeCourseKey(k)}) {
		t.Errorf("Waiting = %v, %t", secs, ok)
	}
}

func FuzzDecode(f *testing.F) {
	good, _ := Encode(Check{Course: catalog.CourseKey{Term: "2267", Subject: "CSE", CatalogNbr: "240"}, ClassNbrs: []string{"70412"}})
	f.Add(good)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Decode(b)
		if err == nil && (c.Course.Term == "" || len(c.ClassNbrs) == 0 && !c.WholeCourse) {
			t.Fatalf("Decode accepted an incomplete check: %+v", c)
		}
	})
}

func TestForSectionsAndMessage(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 29, 5, 0, 0, 0, time.UTC)
	sec := func(term, nbr, subj, cat string) catalog.Section {
		return catalog.Section{Term: term, ClassNbr: nbr, Subject: subj, CatalogNbr: cat}
	}
	got := ForSections("c1", at,
		sec("2267", "70412", "CSE", "240"), sec("2271", "70412", "MAT", "343"), sec("2267", "70413", "CSE", "240"))
	want := []Check{
		{Course: catalog.CourseKey{Term: "2267", Subject: "CSE", CatalogNbr: "240"}, ClassNbrs: []string{"70412", "70413"}, Sweep: "c1", EnqueuedAt: at},
		{Course: catalog.CourseKey{Term: "2271", Subject: "MAT", CatalogNbr: "343"}, ClassNbrs: []string{"70412"}, Sweep: "c1", EnqueuedAt: at},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("ForSections (-want +got):\n%s", diff)
	}
	m, err := Message(got[0])
	if err != nil {
		t.Fatal(err)
	}
	back, err := Decode(m.Data)
	if err != nil || m.Type != MessageType || m.Key != "2267:CSE:240" {
		t.Fatalf("Message = %+v, %v", m, err)
	}
	if diff := cmp.Diff(got[0], back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestWalkRoundTripAndRejects(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 2, 5, 0, 0, 0, time.UTC)
	cse := catalog.CourseKey{Term: "2267", Subject: "CSE", CatalogNbr: "240"}
	in := Walk{
		Scan:       catalog.ScanKey{Term: "2267", Subject: "CSE"},
		Courses:    []Check{{Course: cse, ClassNbrs: []string{"70412", "70413"}, Sweep: "s7", EnqueuedAt: at}},
		Sweep:      "s7",
		EnqueuedAt: at,
		Sections:   450,
	}
	m, err := WalkMessage(in)
	if err != nil || m.Type != WalkMessageType || m.Key != "2267:CSE:*" {
		t.Fatalf("WalkMessage = %+v, %v", m, err)
	}
	out, err := DecodeWalk(m.Data)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, out); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	sweep, secs, ok := Waiting(&stream.Entry{Type: m.Type, Data: m.Data})
	if !ok || sweep != "s7" || len(secs) != 2 || secs[1] != (catalog.SectionKey{Term: "2267", ClassNbr: "70413"}) {
		t.Errorf("Waiting = %q, %v, %v", sweep, secs, ok)
	}

	bad := map[string]Walk{
		"no term":          {Scan: catalog.ScanKey{Subject: "CSE"}, Courses: in.Courses},
		"no course":        {Scan: in.Scan},
		"other subject":    {Scan: catalog.ScanKey{Term: "2267", Subject: "MAT"}, Courses: in.Courses},
		"incomplete":       {Scan: in.Scan, Courses: []Check{{Course: catalog.CourseKey{Term: "2267", Subject: "CSE"}, ClassNbrs: []string{"1"}}}},
		"no class numbers": {Scan: in.Scan, Courses: []Check{{Course: cse}}},
	}
	for name, w := range bad {
		b, err := EncodeWalk(w)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeWalk(b); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: DecodeWalk error = %v, want ErrInvalid", name, err)
		}
	}
	if _, err := DecodeWalk([]byte("\xff\xff not protobuf")); !errors.Is(err, ErrInvalid) {
		t.Errorf("garbage: DecodeWalk error = %v, want ErrInvalid", err)
	}
	// A term walk covers every subject.
	term := Walk{Scan: catalog.ScanKey{Term: "2267"}, Courses: in.Courses}
	b, _ := EncodeWalk(term)
	if _, err := DecodeWalk(b); err != nil {
		t.Errorf("term walk: %v", err)
	}
}
