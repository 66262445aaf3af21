package store

import (
	"reflect"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
)

// TestEverySectionFieldIsVisible changes each field of catalog.Section in
// turn: every change but the term's (the key of the whole batch) must be
// seen by sameVisible, so a field added to Section and forgotten in
// upsertColumns is caught here rather than silently left out of storage and
// change detection.
func TestEverySectionFieldIsVisible(t *testing.T) {
	t.Parallel()
	seats := 3
	base := catalog.Section{
		Term: "2267", ClassNbr: "70412", Subject: "CSE", CatalogNbr: "240", SectionCode: "01", Title: "T",
		Instructors: []catalog.Instructor{{Name: "Ada Lovelace", ID: "ada"}}, Capacity: 10, Enrolled: 7,
		Status: catalog.StatusOpen, HasReservedSeats: true, NonReservedOpen: &seats, Campus: "TEMPE",
		Location: "BYENG 210", Online: false, Mode: "P", Session: "C",
		Meetings:       []catalog.Meeting{{Days: "MW", StartTime: "9:00 AM", EndTime: "10:15 AM"}},
		ReservedGroups: []catalog.ReservedGroup{{Name: "Majors", Capacity: 4, Enrolled: 4}},
		Offering:       catalog.Offering{CourseID: "1", OfferNbr: "1", Career: "UGRD"},
		Component:      "LEC", Association: "1", Primary: true,
		EnrollDeadline: time.Date(2026, 8, 27, 7, 0, 0, 0, time.UTC),
	}
	if !sameVisible(base, base) {
		t.Fatal("a section differs from itself")
	}
	typ := reflect.TypeOf(base)
	for i := range typ.NumField() {
		f := typ.Field(i)
		if f.Name == "Offering" {
			continue // the source's own identifiers: neither stored nor shown
		}
		changed := base
		v := reflect.ValueOf(&changed).Elem().Field(i)
		switch f.Type.Kind() {
		case reflect.String:
			v.SetString(v.String() + "x")
		case reflect.Int:
			v.SetInt(v.Int() + 1)
		case reflect.Bool:
			v.SetBool(!v.Bool())
		case reflect.Pointer:
			v.Set(reflect.Zero(f.Type)) // known → unknown
		case reflect.Slice:
			v.Set(reflect.Zero(f.Type)) // some → none
		case reflect.Struct:
			v.Set(reflect.Zero(f.Type)) // a time known → unknown
		default:
			t.Fatalf("field %s has kind %s: teach this test to change it", f.Name, f.Type.Kind())
		}
		if got := sameVisible(base, changed); got != (f.Name == "Term") {
			t.Errorf("changing %s: sameVisible = %t", f.Name, got)
		}
	}
	// Nil and empty lists look alike.
	a, b := base, base
	a.Instructors, b.Instructors = nil, []catalog.Instructor{}
	if !sameVisible(a, b) {
		t.Error("nil and empty instructors differ")
	}
}

// TestUpsertArgumentsMatchPlaceholders: the generated upsert uses exactly
// the parameters a batch supplies.
func TestUpsertArgumentsMatchPlaceholders(t *testing.T) {
	t.Parallel()
	var rows stateRows
	if err := rows.add(stateRow{s: catalog.Section{Term: "2267", ClassNbr: "70412"}, changedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	args := rows.args("2267", time.Now())
	highest := 0
	for _, m := range regexp.MustCompile(`\$(\d+)`).FindAllStringSubmatch(upsertStatesSQL, -1) {
		n, _ := strconv.Atoi(m[1])
		highest = max(highest, n)
	}
	if highest != len(args) || len(args) != 2+len(upsertColumns) {
		t.Errorf("the upsert uses $1..$%d, a batch supplies %d arguments for %d columns", highest, len(args), len(upsertColumns))
	}
	for i, col := range args[2:] {
		if n := len(col.([]any)); n != 1 {
			t.Errorf("column %s holds %d values for one row", upsertColumns[i].name, n)
		}
	}
}
