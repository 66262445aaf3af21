package asu

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
)

// Page is one parsed page of a class search.
type Page struct {
	// Sections holds the usable sections of the page, in upstream order.
	Sections []catalog.Section `json:"sections"`
	// ScrollID is the cursor for the next page; empty when none was given.
	ScrollID string `json:"scroll_id,omitempty"`
	// Total is the number of rows the whole search matches.
	Total int `json:"total"`

	// rows counts every row on the page, including skipped ones, so paging
	// can tell "read everything" from "dropped a bad row" without asking
	// upstream for one more, empty, page.
	rows int
}

// ErrMalformed is wrapped by Parse's errors: the body is not a class search
// response.
var ErrMalformed = errors.New("malformed class search response")

// envelope accepts both the public API's shape ({classes, scrollId, total})
// and the raw Elasticsearch shape ({hits:{hits:[{_source}]}, _scroll_id})
// that other deployments of the same API return.
type envelope struct {
	Classes    *[]json.RawMessage `json:"classes"`
	ScrollID   flexString         `json:"scrollId"`
	ESScrollID flexString         `json:"_scroll_id"`
	Total      json.RawMessage    `json:"total"`
	Hits       *esHits            `json:"hits"`
}

type esHits struct {
	Total json.RawMessage `json:"total"`
	Hits  []struct {
		Source json.RawMessage `json:"_source"`
	} `json:"hits"`
}

// row is one section as the API returns it: a summary plus the PeopleSoft
// columns in CLAS.
type row struct {
	CLAS           *clas      `json:"CLAS"`
	SubjectNumber  flexString `json:"SUBJECTNUMBER"`
	SectionClassNo flexString `json:"SECTIONCLASSNUMBER"`
	EnrollDeadline flexString `json:"ENROLLDEADLINE"`
	SeatInfo       *struct {
		Cap flexInt `json:"ENRL_CAP"`
		Tot flexInt `json:"ENRL_TOT"`
	} `json:"seatInfo"`
}

type clas struct {
	Strm            flexString  `json:"STRM"`
	ClassNbr        flexString  `json:"CLASSNBR"`
	Subject         flexString  `json:"SUBJECT"`
	CatalogNbr      flexString  `json:"CATALOGNBR"`
	ClassSection    flexString  `json:"CLASSSECTION"`
	Title           flexString  `json:"TITLE"`
	TitleLong       flexString  `json:"COURSETITLELONG"`
	EnrlCap         flexInt     `json:"ENRLCAP"`
	EnrlTot         flexInt     `json:"ENRLTOT"`
	EnrlStat        flexString  `json:"ENRLSTAT"`
	ClassStat       flexString  `json:"CLASSSTAT"`
	Reserved        flexString  `json:"HASACTIVERESERVEDSEATS"`
	Instructors     flexStrings `json:"INSTRUCTORSLIST"`
	InstructorFirst flexStrings `json:"INSTRUCTORSFIRSTNAMELIST"`
	InstructorLast  flexStrings `json:"INSTRUCTORSLASTNAMELIST"`
	DayList         flexStrings `json:"DAYLIST"`
	StartTime       flexString  `json:"STARTTIME"`
	EndTime         flexString  `json:"ENDTIME"`
	StartTimes      flexStrings `json:"STARTTIMES"`
	EndTimes        flexStrings `json:"ENDTIMES"`
	Mon             flexString  `json:"MON"`
	Tues            flexString  `json:"TUES"`
	Wed             flexString  `json:"WED"`
	Thurs           flexString  `json:"THURS"`
	Fri             flexString  `json:"FRI"`
	Sat             flexString  `json:"SAT"`
	Sun             flexString  `json:"SUN"`
	Campus          flexString  `json:"CAMPUS"`
	Location        flexString  `json:"LOCATION"`
	FacilityID      flexString  `json:"FACILITYID"`
	Mode            flexString  `json:"INSTRUCTIONMODE"`
	Session         flexString  `json:"SESSIONCODE"`
	CourseID        flexString  `json:"CRSEID"`
	OfferNbr        flexString  `json:"CRSEOFFERNBR"`
	Career          flexString  `json:"ACADCAREER"`
	Component       flexString  `json:"SSRCOMPONENT"`
	Associated      flexString  `json:"ASSOCIATEDCLASS"`
	SSR             flexString  `json:"SSR"`
	Primary         flexString  `json:"COMPONENTPRIMARY"`
	EnrollDeadline  flexString  `json:"ENROLLDEADLINE"`
	EndDate         flexString  `json:"ENDDATE"`
}

// Parse decodes one page of GET /classes. It tolerates odd field types per
// field, skips rows without a class number or term, and fails (wrapping
// ErrMalformed) only when the body is not JSON or carries no class list.
func Parse(body []byte) (Page, error) {
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return Page{}, errors.Join(ErrMalformed, err)
	}
	var (
		rows  []json.RawMessage
		total flexInt
	)
	switch {
	case env.Classes != nil:
		rows = *env.Classes
		total = parseTotal(env.Total)
	case env.Hits != nil:
		for _, h := range env.Hits.Hits {
			rows = append(rows, h.Source)
		}
		total = parseTotal(env.Hits.Total)
	case hasNullClasses(body):
		// "classes": null is how an empty result has been seen to look.
	default:
		return Page{}, errors.Join(ErrMalformed, errors.New(`no "classes" list`))
	}

	p := Page{ScrollID: string(env.ScrollID), rows: len(rows)}
	if p.ScrollID == "" {
		p.ScrollID = string(env.ESScrollID)
	}
	for _, raw := range rows {
		if s, ok := parseRow(raw); ok {
			p.Sections = append(p.Sections, s)
		}
	}
	p.Total = len(rows)
	if total.OK && total.N > p.Total {
		p.Total = total.N
	}
	return p, nil
}

// hasNullClasses reports whether body is an object whose "classes" is null,
// which json leaves indistinguishable from an absent key.
func hasNullClasses(body []byte) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return false
	}
	v, ok := m["classes"]
	return ok && bytes.Equal(bytes.TrimSpace(v), []byte("null"))
}

// parseTotal reads {"value": N} or a bare N.
func parseTotal(raw json.RawMessage) flexInt {
	var obj struct {
		Value flexInt `json:"value"`
	}
	if json.Unmarshal(raw, &obj) == nil && obj.Value.OK {
		return obj.Value
	}
	var n flexInt
	_ = n.UnmarshalJSON(raw)
	return n
}

func parseRow(raw json.RawMessage) (catalog.Section, bool) {
	var r row
	if json.Unmarshal(raw, &r) != nil {
		return catalog.Section{}, false
	}
	c := r.CLAS
	if c == nil {
		// Some exports flatten CLAS into the row itself.
		c = new(clas)
		if json.Unmarshal(raw, c) != nil {
			return catalog.Section{}, false
		}
	}
	if c.ClassNbr == "" || c.Strm == "" {
		return catalog.Section{}, false
	}

	s := catalog.Section{
		Term:        string(c.Strm),
		ClassNbr:    string(c.ClassNbr),
		Subject:     string(c.Subject),
		CatalogNbr:  string(c.CatalogNbr),
		SectionCode: string(c.ClassSection),
		Title:       string(c.TitleLong),
		Campus:      string(c.Campus),
		Mode:        string(c.Mode),
		Session:     string(c.Session),
	}
	if s.Title == "" {
		s.Title = string(c.Title)
	}
	if s.Subject == "" || s.CatalogNbr == "" {
		if subj, nbr, ok := strings.Cut(string(r.SubjectNumber), " "); ok {
			s.Subject, s.CatalogNbr = strings.TrimSpace(subj), strings.TrimSpace(nbr)
		}
	}
	if s.SectionCode == "" {
		s.SectionCode, _, _ = strings.Cut(string(r.SectionClassNo), "-")
	}

	// seatInfo holds ints and is preferred; CLAS's strings are the fallback,
	// field by field. A negative count is as unusable as a missing one.
	capacity, enrolled := c.EnrlCap, c.EnrlTot
	if r.SeatInfo != nil {
		if r.SeatInfo.Cap.OK && r.SeatInfo.Cap.N >= 0 {
			capacity = r.SeatInfo.Cap
		}
		if r.SeatInfo.Tot.OK && r.SeatInfo.Tot.N >= 0 {
			enrolled = r.SeatInfo.Tot
		}
	}
	s.Capacity, s.Enrolled = max(capacity.N, 0), max(enrolled.N, 0)
	s.Status = status(c, s.Capacity, s.Enrolled)
	if (!capacity.OK || capacity.N < 0 || !enrolled.OK || enrolled.N < 0) && s.Status != catalog.StatusCancelled {
		// Without both counts the row says nothing about seats: reading it
		// as 0 of 0, closed, would make the next good read an opening.
		s.Capacity, s.Enrolled, s.Status = 0, 0, catalog.StatusUnknown
	}
	s.HasReservedSeats = yes(string(c.Reserved))
	s.Offering = catalog.Offering{CourseID: string(c.CourseID), OfferNbr: string(c.OfferNbr), Career: string(c.Career)}
	s.Instructors = instructors(c)

	s.Component = strings.ToUpper(string(c.Component))
	s.Association = string(c.Associated)
	s.Primary = primary(c, s.Component)
	s.EnrollDeadline = enrollDeadline(c, r.EnrollDeadline)

	s.Online = isOnline(c)
	if !s.Online {
		s.Location = string(c.FacilityID)
		s.Meetings = meetings(c)
	}
	return s, true
}

// status maps the registrar's flags. CLASSSTAT follows PeopleSoft: "X" is a
// cancelled section and "S" stops further enrollment (closed). "C" is not a
// PeopleSoft class status (it is ENRLSTAT's "closed"), so it is not read as
// cancelled: calling a live section cancelled would silence its watchers,
// while ENRLSTAT already says whether it is closed. ENRLSTAT wins over seat
// arithmetic; only without it are seats used.
func status(c *clas, capacity, enrolled int) catalog.Status {
	switch strings.ToUpper(string(c.ClassStat)) {
	case "X":
		return catalog.StatusCancelled
	case "S":
		return catalog.StatusClosed
	}
	switch strings.ToUpper(string(c.EnrlStat)) {
	case "O":
		return catalog.StatusOpen
	case "C":
		return catalog.StatusClosed
	}
	if enrolled < capacity {
		return catalog.StatusOpen
	}
	return catalog.StatusClosed
}

func yes(v string) bool {
	switch strings.ToUpper(v) {
	case "Y", "YES", "TRUE":
		return true
	}
	return false
}

// instructors pairs INSTRUCTORSLIST names with the asurite after "~" in
// INSTRUCTORSLASTNAMELIST. The lists are parallel when they have the same
// length; otherwise an ID is matched by last name, and when no names are
// listed at all they are rebuilt from the first/last name lists.
func instructors(c *clas) []catalog.Instructor {
	type tagged struct{ name, id string }
	split := func(v string) tagged {
		name, id, _ := strings.Cut(v, "~")
		return tagged{strings.TrimSpace(name), strings.TrimSpace(id)}
	}
	last := make([]tagged, len(c.InstructorLast))
	for i, v := range c.InstructorLast {
		last[i] = split(v)
	}

	var out []catalog.Instructor
	add := func(in catalog.Instructor) {
		// "Staff" is the registrar's placeholder for nobody; an empty list
		// says the same thing in one canonical form.
		if in.Name == "" || strings.EqualFold(in.Name, "staff") {
			return
		}
		for _, have := range out {
			if have == in {
				return
			}
		}
		out = append(out, in)
	}

	names := c.Instructors
	if len(names) == 0 && len(c.InstructorFirst) == len(last) {
		for i, f := range c.InstructorFirst {
			add(catalog.Instructor{Name: strings.TrimSpace(split(f).name + " " + last[i].name), ID: last[i].id})
		}
		return out
	}
	for i, n := range names {
		in := catalog.Instructor{Name: strings.TrimSpace(n)}
		if len(last) == len(names) {
			in.ID = last[i].id
		} else {
			for _, l := range last {
				if l.name != "" && (in.Name == l.name || strings.HasSuffix(in.Name, " "+l.name)) {
					in.ID = l.id
					break
				}
			}
		}
		add(in)
	}
	return out
}

// isOnline recognises ASU Online (LOCATION "ASUONLINE", campus "ONLNE") and
// the online instruction modes; such sections have no room or meeting times.
func isOnline(c *clas) bool {
	if strings.EqualFold(string(c.Location), "ASUONLINE") || strings.EqualFold(string(c.Campus), "ONLNE") {
		return true
	}
	switch strings.ToUpper(string(c.Mode)) {
	case "O", "OL", "ONL", "IC":
		return true
	}
	return false
}

// meetings builds the meeting patterns from the parallel DAYLIST/STARTTIMES/
// ENDTIMES arrays when present, else from the scalar fields; a single day
// list applies to every time pattern.
func meetings(c *clas) []catalog.Meeting {
	days := []string(c.DayList)
	if len(days) == 0 {
		if d := dayFlags(c); d != "" {
			days = []string{d}
		}
	}
	starts, ends := []string(c.StartTimes), []string(c.EndTimes)
	if len(starts) == 0 && len(ends) == 0 {
		starts, ends = []string{string(c.StartTime)}, []string{string(c.EndTime)}
	}
	at := func(l []string, i int) string {
		if len(l) == 1 {
			return strings.TrimSpace(l[0])
		}
		if i < len(l) {
			return strings.TrimSpace(l[i])
		}
		return ""
	}
	var out []catalog.Meeting
	for i := range max(len(days), len(starts), len(ends)) {
		m := catalog.Meeting{Days: at(days, i), StartTime: at(starts, i), EndTime: at(ends, i)}
		if m == (catalog.Meeting{}) {
			continue
		}
		dup := false
		for _, have := range out {
			dup = dup || have == m
		}
		if !dup {
			out = append(out, m)
		}
	}
	return out
}

// dayFlags renders the MON…SUN Y/N columns the way DAYLIST writes days.
func dayFlags(c *clas) string {
	flags := []struct {
		v    flexString
		name string
	}{{c.Mon, "M"}, {c.Tues, "T"}, {c.Wed, "W"}, {c.Thurs, "Th"}, {c.Fri, "F"}, {c.Sat, "Sa"}, {c.Sun, "Su"}}
	var days []string
	for _, f := range flags {
		if yes(string(f.v)) {
			days = append(days, f.name)
		}
	}
	return strings.Join(days, " ")
}

// Phoenix is Arizona's time zone, in which ASU's dates are written. Arizona
// keeps Mountain Standard Time all year (no daylight saving), so a fixed
// zone is exact and needs no tzdata on the host.
var Phoenix = time.FixedZone("MST", -7*60*60)

// ssrComponents maps the words of SSR ("Lecture, Laboratory") to the
// component codes of SSRCOMPONENT.
var ssrComponents = map[string]string{
	"LECTURE": "LEC", "LABORATORY": "LAB", "LAB": "LAB", "RECITATION": "REC",
	"SEMINAR": "SEM", "DISCUSSION": "DIS", "STUDIO": "STU",
}

// primary tells whether a section is the one students enroll in for its
// association. COMPONENTPRIMARY decides when sent: "Y" or "N", or (as
// PeopleSoft's course catalog writes it) the code of the course's primary
// component, which the section is when its own component is that code.
// Without it, a section is primary unless its component is known and is
// neither a lecture nor the first component SSR lists.
func primary(c *clas, component string) bool {
	switch p := strings.ToUpper(string(c.Primary)); p {
	case "":
	case "Y", "YES", "TRUE":
		return true
	case "N", "NO", "FALSE":
		return false
	default:
		return component == "" || component == p
	}
	if component == "" || component == "LEC" {
		return true
	}
	first, _, _ := strings.Cut(string(c.SSR), ",")
	return component == ssrComponents[strings.ToUpper(strings.TrimSpace(first))]
}

// dateLayouts are the forms ASU writes a date in.
var dateLayouts = []string{"2006-01-02 15:04:05.0", "2006-01-02 15:04:05", "2006-01-02"}

// enrollDeadline returns the end (the next midnight, Arizona time) of the
// section's enrollment deadline day: ENROLLDEADLINE in CLAS or beside it,
// or when neither is sent, its last class day (ENDDATE). A date that cannot
// be read is no deadline (zero), not a reason to drop the section.
func enrollDeadline(c *clas, top flexString) time.Time {
	v := cmp.Or(c.EnrollDeadline, top, c.EndDate)
	for _, layout := range dateLayouts {
		if t, err := time.ParseInLocation(layout, string(v), Phoenix); err == nil {
			y, m, d := t.Date()
			return time.Date(y, m, d+1, 0, 0, 0, 0, Phoenix)
		}
	}
	return time.Time{}
}
