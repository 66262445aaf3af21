package asusim

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asu"
)

// Scenario is a simulated catalog: its terms and sections.
type Scenario struct {
	Terms    []catalog.Term `json:"terms"`
	Sections []SectionSpec  `json:"sections"`
	// EnrollDeadlines gives a term's last day to enroll ("2006-01-02", in
	// Arizona), for its sections that set none; a term missing here gets
	// the server's default, DefaultEnrollWindow after it started.
	EnrollDeadlines map[string]string `json:"enroll_deadlines,omitempty"`
}

// SectionSpec is one simulated section, in the scenario file's vocabulary.
type SectionSpec struct {
	Term        string               `json:"term"`
	ClassNbr    string               `json:"class_nbr"`
	Subject     string               `json:"subject"`
	CatalogNbr  string               `json:"catalog_nbr"`
	Section     string               `json:"section"`
	Title       string               `json:"title"`
	Capacity    int                  `json:"capacity"`
	Enrolled    int                  `json:"enrolled"`
	Instructors []catalog.Instructor `json:"instructors,omitempty"`
	Reserved    bool                 `json:"reserved,omitempty"`
	// ReservedGroups are the seats held for some students, served by GET
	// …/search/reservedseatsadditionalinfo; they are part of Capacity and
	// Enrolled, as on ASU.
	ReservedGroups []catalog.ReservedGroup `json:"reserved_groups,omitempty"`
	// Status overrides the seats: "open", "closed" or "cancelled"; empty
	// derives it from the seats.
	Status    catalog.Status `json:"status,omitempty"`
	Days      string         `json:"days,omitempty"`
	StartTime string         `json:"start_time,omitempty"`
	EndTime   string         `json:"end_time,omitempty"`
	Campus    string         `json:"campus,omitempty"`
	Location  string         `json:"location,omitempty"`
	Online    bool           `json:"online,omitempty"`
	// Component is the kind of class: "LEC" (the default), "LAB", "REC",
	// "SEM"… A course's primary component is its lecture when it has one;
	// its sections of other kinds are linked to a lecture by Association.
	Component string `json:"component,omitempty"`
	// Association ties labs and recitations to their lecture: the
	// lecture's section code, on the lecture and on each of them (ASU's
	// ASSOCIATEDCLASS). Empty is the section's own code.
	Association string `json:"association,omitempty"`
	// EnrollDeadline is the last day to enroll, "2006-01-02" in Arizona;
	// empty is the term's (see Scenario.EnrollDeadlines).
	EnrollDeadline string `json:"enroll_deadline,omitempty"`
}

// Key returns the section's key.
func (s SectionSpec) Key() catalog.SectionKey {
	return catalog.SectionKey{Term: s.Term, ClassNbr: s.ClassNbr}
}

// Full reports whether the section has no open seat.
func (s SectionSpec) Full() bool { return s.Enrolled >= s.Capacity }

// Course returns the key of the section's course, its subject upper-cased
// as searches match it.
func (s SectionSpec) Course() catalog.CourseKey {
	return catalog.CourseKey{Term: s.Term, Subject: strings.ToUpper(s.Subject), CatalogNbr: s.CatalogNbr}
}

// component returns the section's component code, "LEC" by default.
func (s SectionSpec) component() string {
	return cmp.Or(strings.ToUpper(strings.TrimSpace(s.Component)), "LEC")
}

// componentNames are the components a simulated section can be, with the
// words SSR uses for them, in the order SSR lists them.
var componentNames = []struct{ code, word string }{
	{"LEC", "Lecture"}, {"LAB", "Laboratory"}, {"REC", "Recitation"},
	{"DIS", "Discussion"}, {"SEM", "Seminar"}, {"STU", "Studio"},
}

// componentWord is the word for a component code ("Lecture" for "LEC").
func componentWord(code string) string {
	for _, n := range componentNames {
		if n.code == code {
			return n.word
		}
	}
	return code
}

func validComponent(c string) error {
	c = strings.ToUpper(strings.TrimSpace(c))
	if c == "" || slices.ContainsFunc(componentNames, func(n struct{ code, word string }) bool { return n.code == c }) {
		return nil
	}
	return fmt.Errorf("component %q is not LEC, LAB, REC, DIS, SEM or STU", c)
}

// association returns the section's association, its own code by default.
func (s SectionSpec) association() string { return cmp.Or(s.Association, s.Section) }

// deadlineLayout is how scenarios and the control API write a deadline day.
const deadlineLayout = "2006-01-02"

// validDeadline accepts "" (none of its own) or a day in deadlineLayout.
func validDeadline(day string) error {
	if day == "" {
		return nil
	}
	if _, err := time.Parse(deadlineLayout, day); err != nil {
		return fmt.Errorf("enroll deadline %q is not a YYYY-MM-DD day", day)
	}
	return nil
}

func (s SectionSpec) validate() error {
	var errs []error
	if s.Term == "" || s.ClassNbr == "" {
		errs = append(errs, errors.New("term and class_nbr are required"))
	}
	if s.Subject == "" || s.CatalogNbr == "" {
		errs = append(errs, errors.New("subject and catalog_nbr are required"))
	}
	if s.Capacity < 0 || s.Enrolled < 0 {
		errs = append(errs, errors.New("seats cannot be negative"))
	}
	if err := validStatus(s.Status); err != nil {
		errs = append(errs, err)
	}
	if err := validGroups(s.ReservedGroups); err != nil {
		errs = append(errs, err)
	}
	if err := validDeadline(s.EnrollDeadline); err != nil {
		errs = append(errs, err)
	}
	if err := validComponent(s.Component); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("section %s: %w", s.Key(), err)
	}
	return nil
}

func validGroups(groups []catalog.ReservedGroup) error {
	for _, g := range groups {
		if g.Capacity < 0 || g.Enrolled < 0 {
			return fmt.Errorf("reserved group %q: seats cannot be negative", g.Name)
		}
	}
	return nil
}

func validStatus(st catalog.Status) error {
	switch st {
	case "", catalog.StatusOpen, catalog.StatusClosed, catalog.StatusCancelled:
		return nil
	}
	return fmt.Errorf("status %q is not open, closed, cancelled or empty", st)
}

// Validate reports every problem in the scenario at once.
func (sc Scenario) Validate() error {
	var errs []error
	seen := map[catalog.SectionKey]bool{}
	for _, s := range sc.Sections {
		if err := s.validate(); err != nil {
			errs = append(errs, err)
		}
		if seen[s.Key()] {
			errs = append(errs, fmt.Errorf("section %s is listed twice", s.Key()))
		}
		seen[s.Key()] = true
	}
	for _, t := range sc.Terms {
		if t.Code == "" {
			errs = append(errs, errors.New("a term has no code"))
		}
	}
	for term, day := range sc.EnrollDeadlines {
		if err := validDeadline(day); term == "" || day == "" || err != nil {
			errs = append(errs, fmt.Errorf("term %q: enroll deadline %q is not a YYYY-MM-DD day", term, day))
		}
	}
	return errors.Join(errs...)
}

// ParseScenario decodes and validates a scenario; unknown fields are errors,
// so a typo in a hand-written file does not silently drop a setting.
func ParseScenario(b []byte) (Scenario, error) {
	var sc Scenario
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sc); err != nil {
		return Scenario{}, fmt.Errorf("decode scenario: %w", err)
	}
	if err := sc.Validate(); err != nil {
		return Scenario{}, fmt.Errorf("invalid scenario: %w", err)
	}
	return sc, nil
}

// LoadScenario reads a scenario file.
func LoadScenario(path string) (Scenario, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Scenario{}, fmt.Errorf("load scenario: %w", err)
	}
	sc, err := ParseScenario(b)
	if err != nil {
		return Scenario{}, fmt.Errorf("load scenario %s: %w", path, err)
	}
	return sc, nil
}

var (
	genSubjects = []string{"CSE", "MAT", "ENG", "PHY", "BIO", "CHM", "ECN", "PSY", "HST", "ART", "MUS", "PHI", "SOC", "POS", "GLG", "AST", "EEE", "MAE", "CEE", "IEE"}
	genPeople   = []catalog.Instructor{
		{Name: "Ada Lovelace", ID: "alovela1"}, {Name: "Grace Hopper", ID: "ghopper"},
		{Name: "Alan Turing", ID: "aturing2"}, {Name: "Emmy Noether", ID: "enoether"},
		{Name: "Katherine Johnson", ID: "kjohns14"}, {Name: "Edsger Dijkstra", ID: "edijkst"},
		{Name: "Barbara Liskov", ID: "bliskov"}, {Name: "Donald Knuth", ID: "dknuth"},
	}
	genSlots = []struct{ days, start, end string }{
		{"M W", "9:00 AM", "10:15 AM"}, {"M W", "1:30 PM", "2:45 PM"}, {"T Th", "10:30 AM", "11:45 AM"},
		{"T Th", "4:30 PM", "5:45 PM"}, {"M W F", "8:35 AM", "9:25 AM"}, {"F", "12:00 PM", "2:50 PM"},
	}
	genRooms = []string{"PSH153", "COORL1-74", "BYAC110", "LSE104", "ECG237", "SCOB228", "LL101", "PSF101"}
)

// Generate builds a synthetic catalog of one term: courses courses of
// sectionsPerCourse sections each, of which about fullFraction are full. The
// same seed gives the same catalog. Class numbers start at 10000 and are
// unique within the term. About one course in four (of two sections or
// more) is lectures with 1 to 3 labs or recitations each.
func Generate(term string, courses, sectionsPerCourse int, fullFraction float64, seed int64) Scenario {
	rng, links := rand.New(rand.NewSource(seed)), linkRand(seed)
	sc := Scenario{
		Terms:    []catalog.Term{{Code: term, Name: asu.TermName(term)}},
		Sections: make([]SectionSpec, 0, max(courses*sectionsPerCourse, 0)),
	}
	classNbr := 10000
	for i := range max(courses, 0) {
		subject := genSubjects[i%len(genSubjects)]
		nbr := strconv.Itoa(100 + i/len(genSubjects))
		title := fmt.Sprintf("%s Topics %s", subject, nbr)
		first := len(sc.Sections)
		for j := range max(sectionsPerCourse, 0) {
			capacity := 20 + rng.Intn(13)*10
			s := SectionSpec{
				Term: term, ClassNbr: strconv.Itoa(classNbr), Subject: subject, CatalogNbr: nbr,
				Section: fmt.Sprintf("%04d", j+1), Title: title,
				Capacity: capacity, Enrolled: rng.Intn(capacity),
				Reserved: rng.Intn(10) == 0,
				Campus:   "TEMPE",
			}
			classNbr++
			if rng.Float64() < fullFraction {
				s.Enrolled = capacity
			}
			if rng.Intn(8) != 0 { // about one in eight is "Staff"
				s.Instructors = []catalog.Instructor{genPeople[rng.Intn(len(genPeople))]}
			}
			if rng.Intn(20) == 0 {
				s.Online, s.Campus = true, "ONLNE"
			} else {
				slot := genSlots[rng.Intn(len(genSlots))]
				s.Days, s.StartTime, s.EndTime = slot.days, slot.start, slot.end
				s.Location = genRooms[rng.Intn(len(genRooms))]
			}
			sc.Sections = append(sc.Sections, s)
		}
		linkComponents(links, sc.Sections[first:])
	}
	return sc
}
