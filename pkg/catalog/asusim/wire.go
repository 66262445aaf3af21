package asusim

import (
	"strconv"
	"strings"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
)

// The types below are the real API's shape: the fields our adapter reads,
// then (in clasBulk and sectionBulk) the many it does not, derived from the
// section, so a row weighs about what upstream's does (a captured CSE 310
// page runs about 4,800 bytes a section) and transfer figures measured
// against the simulator hold for ASU. CLAS fields are strings (PeopleSoft
// columns), seatInfo holds ints, and an online section has null days and
// times, as upstream.

type apiSection struct {
	CLAS               apiCLAS `json:"CLAS"`
	SubjectNumber      string  `json:"SUBJECTNUMBER"`
	SectionClassNumber string  `json:"SECTIONCLASSNUMBER"`
	sectionBulk
	SeatInfo struct {
		EnrlCap int `json:"ENRL_CAP"`
		EnrlTot int `json:"ENRL_TOT"`
	} `json:"seatInfo"`
}

type apiCLAS struct {
	STRM                     string   `json:"STRM"`
	CLASSNBR                 string   `json:"CLASSNBR"`
	SUBJECT                  string   `json:"SUBJECT"`
	CATALOGNBR               string   `json:"CATALOGNBR"`
	CLASSSECTION             string   `json:"CLASSSECTION"`
	TITLE                    string   `json:"TITLE"`
	COURSETITLELONG          string   `json:"COURSETITLELONG"`
	ENRLTOT                  string   `json:"ENRLTOT"`
	ENRLCAP                  string   `json:"ENRLCAP"`
	WAITTOT                  string   `json:"WAITTOT"`
	WAITCAP                  string   `json:"WAITCAP"`
	ENRLSTAT                 string   `json:"ENRLSTAT"`
	CLASSSTAT                string   `json:"CLASSSTAT"`
	HASACTIVERESERVEDSEATS   string   `json:"HASACTIVERESERVEDSEATS"`
	INSTRUCTORSLIST          []string `json:"INSTRUCTORSLIST"`
	INSTRUCTORSFIRSTNAMELIST []string `json:"INSTRUCTORSFIRSTNAMELIST"`
	INSTRUCTORSLASTNAMELIST  []string `json:"INSTRUCTORSLASTNAMELIST"`
	DAYLIST                  *string  `json:"DAYLIST"`
	STARTTIME                *string  `json:"STARTTIME"`
	ENDTIME                  *string  `json:"ENDTIME"`
	CAMPUS                   string   `json:"CAMPUS"`
	LOCATION                 string   `json:"LOCATION"`
	FACILITYID               *string  `json:"FACILITYID"`
	INSTRUCTIONMODE          string   `json:"INSTRUCTIONMODE"`
	SESSIONCODE              string   `json:"SESSIONCODE"`
	SSR                      string   `json:"SSR"`
	SSRCOMPONENT             string   `json:"SSRCOMPONENT"`
	ASSOCIATEDCLASS          string   `json:"ASSOCIATEDCLASS"`
	COMPONENTPRIMARY         string   `json:"COMPONENTPRIMARY"`
	ENROLLDEADLINE           string   `json:"ENROLLDEADLINE"`
	ENDDATE                  string   `json:"ENDDATE"`
	clasBulk
}

// shortTitleLen is the width of PeopleSoft's TITLE column; the full title is
// in COURSETITLELONG.
const shortTitleLen = 30

// toAPI renders a section whose course has the components cc and whose
// enrollment deadline is the day deadline (deadlineLayout). COMPONENTPRIMARY
// is the course's primary component, as PeopleSoft's course catalog writes
// it: a section is primary when its SSRCOMPONENT is that code.
func toAPI(sec SectionSpec, cc courseComponents, deadline string) apiSection {
	_, end := termDates(sec.Term)
	c := apiCLAS{
		STRM: sec.Term, CLASSNBR: sec.ClassNbr, SUBJECT: sec.Subject, CATALOGNBR: sec.CatalogNbr,
		CLASSSECTION: sec.Section, TITLE: sec.Title, COURSETITLELONG: sec.Title,
		ENRLTOT: strconv.Itoa(sec.Enrolled), ENRLCAP: strconv.Itoa(sec.Capacity), WAITTOT: "0", WAITCAP: "0",
		ENRLSTAT: "O", CLASSSTAT: "A", HASACTIVERESERVEDSEATS: "N",
		INSTRUCTORSLIST: []string{}, INSTRUCTORSFIRSTNAMELIST: []string{}, INSTRUCTORSLASTNAMELIST: []string{},
		CAMPUS: sec.Campus, LOCATION: sec.Campus, INSTRUCTIONMODE: "P", SESSIONCODE: "C", SSR: cc.ssr,
		SSRCOMPONENT: sec.component(), ASSOCIATEDCLASS: sec.association(), COMPONENTPRIMARY: cc.primary,
		ENROLLDEADLINE: deadline + " 00:00:00.0", ENDDATE: end,
	}
	if r := []rune(c.TITLE); len(r) > shortTitleLen {
		c.TITLE = string(r[:shortTitleLen])
	}
	switch {
	case sec.Status == catalog.StatusCancelled:
		c.CLASSSTAT, c.ENRLSTAT = "X", "C"
	case sec.Status == catalog.StatusClosed, sec.Status == "" && sec.Full():
		c.ENRLSTAT = "C"
	}
	if sec.Reserved {
		c.HASACTIVERESERVEDSEATS = "Y"
	}
	for _, in := range sec.Instructors {
		first, last := in.Name, ""
		if i := strings.LastIndexByte(in.Name, ' '); i >= 0 {
			first, last = in.Name[:i], in.Name[i+1:]
		}
		suffix := ""
		if in.ID != "" {
			suffix = "~" + in.ID
		}
		c.INSTRUCTORSLIST = append(c.INSTRUCTORSLIST, in.Name)
		c.INSTRUCTORSFIRSTNAMELIST = append(c.INSTRUCTORSFIRSTNAMELIST, first+suffix)
		c.INSTRUCTORSLASTNAMELIST = append(c.INSTRUCTORSLASTNAMELIST, last+suffix)
	}
	if sec.Online {
		c.LOCATION, c.INSTRUCTIONMODE, c.SESSIONCODE = "ASUONLINE", "OL", "B"
		if c.CAMPUS == "" {
			c.CAMPUS = "ONLNE"
		}
	} else {
		c.DAYLIST, c.STARTTIME, c.ENDTIME, c.FACILITYID = ptr(sec.Days), ptr(sec.StartTime), ptr(sec.EndTime), ptr(sec.Location)
	}
	c.clasBulk = bulkCLAS(sec, c)
	a := apiSection{
		CLAS:               c,
		SubjectNumber:      sec.Subject + " " + sec.CatalogNbr,
		SectionClassNumber: sec.Section + "-(" + sec.ClassNbr + ")",
		sectionBulk:        bulkSection(sec, c),
	}
	a.SeatInfo.EnrlCap, a.SeatInfo.EnrlTot = sec.Capacity, sec.Enrolled
	return a
}

func ptr(s string) *string { return &s }
