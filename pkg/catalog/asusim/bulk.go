package asusim

import (
	"encoding/json"
	"strconv"
	"strings"
)

// clasBulk holds the CLAS columns the adapter does not read, in upstream's
// vocabulary (null where upstream sends null).
type clasBulk struct {
	CRSEID                            string     `json:"CRSEID"`
	CRSEOFFERNBR                      string     `json:"CRSEOFFERNBR"`
	CLASSMTGNBR                       string     `json:"CLASSMTGNBR"`
	SUBJECTFORSORTING                 string     `json:"SUBJECTFORSORTING"`
	CATALOGNBRFORSORTING              string     `json:"CATALOGNBRFORSORTING"`
	DESCR                             string     `json:"DESCR"`
	DESCR3                            string     `json:"DESCR3"`
	TITLEFORSORTING                   string     `json:"TITLEFORSORTING"`
	STARTDATE                         string     `json:"STARTDATE"`
	MON                               string     `json:"MON"`
	TUES                              string     `json:"TUES"`
	WED                               string     `json:"WED"`
	THURS                             string     `json:"THURS"`
	FRI                               string     `json:"FRI"`
	SAT                               string     `json:"SAT"`
	SUN                               string     `json:"SUN"`
	SCHEDULEPRINT                     string     `json:"SCHEDULEPRINT"`
	DESCR1                            string     `json:"DESCR1"`
	INSTRROLE                         string     `json:"INSTRROLE"`
	RQMNTDESIGNTN                     string     `json:"RQMNTDESIGNTN"`
	DESCR4                            string     `json:"DESCR4"`
	DESCRFORMAL                       string     `json:"DESCRFORMAL"`
	CLASSNOTESSEQ                     string     `json:"CLASSNOTESSEQ"`
	DESCRLONG                         string     `json:"DESCRLONG"`
	ACADCAREER                        string     `json:"ACADCAREER"`
	DESCR2                            string     `json:"DESCR2"`
	UNITSMINIMUM                      string     `json:"UNITSMINIMUM"`
	UNITSMAXIMUM                      string     `json:"UNITSMAXIMUM"`
	FLATAMOUNT1                       string     `json:"FLATAMOUNT1"`
	FLATAMOUNT2                       string     `json:"FLATAMOUNT2"`
	XLATLONGNAME                      string     `json:"XLATLONGNAME"`
	OPTIONALSECTION                   string     `json:"OPTIONALSECTION"`
	COUNTROWS                         string     `json:"COUNTROWS"`
	CONSENT                           string     `json:"CONSENT"`
	CRSTOPICID                        string     `json:"CRSTOPICID"`
	DESCR50                           string     `json:"DESCR50"`
	SCTNCOMBINEDID                    string     `json:"SCTNCOMBINEDID"`
	ACADGROUP                         string     `json:"ACADGROUP"`
	DESCR5                            string     `json:"DESCR5"`
	ACADORG                           string     `json:"ACADORG"`
	DESCR501                          string     `json:"DESCR501"`
	DESCR6                            string     `json:"DESCR6"`
	SCHEDPRINTINSTR                   string     `json:"SCHEDPRINTINSTR"`
	ASUBLDLOCATION                    string     `json:"ASUBLDLOCATION"`
	ASUBLDNAME                        string     `json:"ASUBLDNAME"`
	CRSEID1                           *string    `json:"CRSEID1"`
	CRSEOFFERNBR1                     *string    `json:"CRSEOFFERNBR1"`
	CRSEREPEATABLE                    string     `json:"CRSEREPEATABLE"`
	GRADINGBASIS                      *string    `json:"GRADINGBASIS"`
	XLATLONGNAME1                     *string    `json:"XLATLONGNAME1"`
	FEESEXIST                         *string    `json:"FEESEXIST"`
	DESCRLONG1                        *string    `json:"DESCRLONG1"`
	RQRMNTGROUP                       *string    `json:"RQRMNTGROUP"`
	DESCR31                           *string    `json:"DESCR31"`
	DESCR254A                         *string    `json:"DESCR254A"`
	RQMNTDESIGNTN1                    *string    `json:"RQMNTDESIGNTN1"`
	DESCR41                           *string    `json:"DESCR41"`
	DESCRFORMAL1                      *string    `json:"DESCRFORMAL1"`
	CLASSTYPE                         string     `json:"CLASSTYPE"`
	TERMBEGINDATE                     string     `json:"TERMBEGINDATE"`
	TERMENDDATE                       string     `json:"TERMENDDATE"`
	CAPNBR                            string     `json:"CAPNBR"`
	CAPSTARTDATE                      string     `json:"CAPSTARTDATE"`
	DROPRETAINRECORD                  string     `json:"DROPRETAINRECORD"`
	DROPWITHPENALTY                   string     `json:"DROPWITHPENALTY"`
	WITHDRAWWITHPENALTY               string     `json:"WITHDRAWWITHPENALTY"`
	PROMOD                            string     `json:"PROMOD"`
	INSTRUCTOREDIT                    string     `json:"INSTRUCTOREDIT"`
	OFFICIALSTARTDATE                 string     `json:"OFFICIALSTARTDATE"`
	OFFICIALENDDATE                   string     `json:"OFFICIALENDDATE"`
	PROMODCOHORTCD                    *string    `json:"PROMODCOHORTCD"`
	CLASSDESCR                        string     `json:"CLASSDESCR"`
	LASTFULLUPDATETIMESTAMP           int64      `json:"LASTFULLUPDATETIMESTAMP"`
	KEYWORDSEARCHSTR                  string     `json:"KEYWORDSEARCHSTR"`
	KEYWORDSEARCHSTRNOINSTRUCTOR      string     `json:"KEYWORDSEARCHSTRNOINSTRUCTOR"`
	CLASSNOTENBR                      string     `json:"CLASSNOTENBR"`
	CRSEATTEFFDT                      string     `json:"CRSEATTEFFDT"`
	CRSEATTVALUE                      string     `json:"CRSEATTVALUE"`
	SSRCOUNT                          int        `json:"SSRCOUNT"`
	NOTES                             []string   `json:"NOTES"`
	NOTESNUMBERS                      []string   `json:"NOTESNUMBERS"`
	IFRAMENOTES                       *string    `json:"IFRAMENOTES"`
	PASSENROLLDEADLINE                *string    `json:"PASSENROLLDEADLINE"`
	PASSTERM                          string     `json:"PASSTERM"`
	SHOWSUNNUM                        string     `json:"SHOWSUNNUM"`
	MTGDATESSTRTIME                   *string    `json:"MTGDATESSTRTIME"`
	MULTIPLEMTGDATES                  string     `json:"MULTIPLEMTGDATES"`
	LOCATIONBUILDING                  string     `json:"LOCATIONBUILDING"` // JSON in a string, as upstream
	BLDGCD                            *string    `json:"BLDGCD"`
	ADDRESS1                          string     `json:"ADDRESS1"`
	ADDRESS2                          string     `json:"ADDRESS2"`
	ADDRESS3                          string     `json:"ADDRESS3"`
	CITY                              string     `json:"CITY"`
	STATE                             string     `json:"STATE"`
	ASUBLDADDRESS                     string     `json:"ASUBLDADDRESS"`
	SUBJECTDESCRIPTION                string     `json:"SUBJECTDESCRIPTION"`
	INSTRUCTORSFIRSTNAMESHOWALL       []string   `json:"INSTRUCTORSFIRSTNAMESHOWALL"`
	INSTRUCTORSLASTNAMESHOWALL        []string   `json:"INSTRUCTORSLASTNAMESHOWALL"`
	INSTRUCTORLISTFORKEYWORD          string     `json:"INSTRUCTORLISTFORKEYWORD"`
	INSTRUCTORSLASTNAMELISTFORSORTING string     `json:"INSTRUCTORSLASTNAMELISTFORSORTING"`
	MEETINGDATES                      [][]string `json:"MEETINGDATES"`
	MEETINGDATESFORSORTING            int64      `json:"MEETINGDATESFORSORTING"`
	STARTTIMES                        []*string  `json:"STARTTIMES"`
	ENDTIMES                          []*string  `json:"ENDTIMES"`
	ASUBLDNAMELIST                    string     `json:"ASUBLDNAMELIST"`
	ENDTIMEFORMATTED                  string     `json:"ENDTIMEFORMATTED"`
	CLASSDAYS                         string     `json:"CLASSDAYS"`
	CATALOGNBRNUMBER                  int        `json:"CATALOGNBRNUMBER"`
	UNITSRANGE                        string     `json:"UNITSRANGE"`
	ASSOCIATEDCLASSNOTNULL            string     `json:"ASSOCIATEDCLASSNOTNULL"`
	STARTTIMESFORSORTING              *string    `json:"STARTTIMESFORSORTING"`
	SHORTDESC                         string     `json:"SHORT_DESC"`
	STARTTIMEFORMATTED                string     `json:"STARTTIMEFORMATTED"`
	ID                                string     `json:"id"`
}

// building is an entry of LOCATIONBUILDING.
type building struct {
	NAMEFORSORTING string `json:"NAMEFORSORTING"`
	NAME           string `json:"NAME"`
	DESCR          string `json:"DESCR"`
	ADDRESS        string `json:"ADDRESS"`
	URL            string `json:"URL"`
}

// sectionBulk holds the top-level fields beside CLAS that the adapter does
// not read.
type sectionBulk struct {
	DAYLIST           []string   `json:"DAYLIST"`
	NOTES             string     `json:"NOTES"`
	HOURS             string     `json:"HOURS"`
	SSR               string     `json:"SSR"`
	LOCATIONBUILDING  []building `json:"LOCATIONBUILDING"`
	MEETINGSTARTDATES []string   `json:"MEETINGSTARTDATES"`
	MTGDATES          []string   `json:"MTGDATES"`
	GROUPORG          string     `json:"GROUPORG"`
	KEYWORDMATCH      struct {
		Value       int      `json:"value"`
		Description string   `json:"description"`
		Details     []string `json:"details"`
	} `json:"KEYWORDMATCH"`
	GSGOLD    string `json:"GSGOLD"`
	GSMAROON  string `json:"GSMAROON"`
	OFFEREDBY struct {
		DEPARTMENT string `json:"DEPARTMENT"`
		INFO       struct {
			ACADORG       string  `json:"ACADORG"`
			ASUCOLLEGEURL string  `json:"ASUCOLLEGEURL"`
			DESCRFORMAL   string  `json:"DESCRFORMAL"`
			ENROLLREQ     *string `json:"ENROLLREQ"`
			ACADGROUP     string  `json:"ACADGROUP"`
		} `json:"INFO"`
	} `json:"OFFEREDBY"`
	HASSYLLABUS bool   `json:"HASSYLLABUS"`
	SYLLABUSURL string `json:"SYLLABUSURL,omitempty"`
}

// termDates returns a term's first and last class days in upstream's
// format, from the code "2YYS" (S: 1 spring, 4 summer, 7 fall).
func termDates(term string) (begin, end string) {
	year := 2026
	if len(term) == 4 {
		if yy, err := strconv.Atoi(term[1:3]); err == nil {
			year = 2000 + yy
		}
	}
	y := strconv.Itoa(year)
	const t = " 00:00:00.0"
	switch {
	case strings.HasSuffix(term, "1"):
		return y + "-01-12" + t, y + "-05-01" + t
	case strings.HasSuffix(term, "4"):
		return y + "-05-18" + t, y + "-08-07" + t
	}
	return y + "-08-20" + t, y + "-12-04" + t
}

// bulkCLAS fills the CLAS columns the adapter does not read.
func bulkCLAS(sec SectionSpec, c apiCLAS) clasBulk {
	begin, end := termDates(sec.Term)
	yn := func(day string) string {
		for _, d := range strings.Fields(sec.Days) {
			if d == day && !sec.Online {
				return "Y"
			}
		}
		return "N"
	}
	subjectDescr := sec.Subject + " Program"
	title := strings.TrimSpace(sec.Title)
	var instrKW []string
	var lastNames []string
	for _, in := range sec.Instructors {
		kw := strings.ToLower(in.Name)
		instrKW = append(instrKW, kw)
		if f := strings.Fields(in.Name); len(f) > 0 {
			lastNames = append(lastNames, strings.ToUpper(f[len(f)-1]))
		}
	}
	keywords := strings.ToLower(sec.Subject+" "+title+"  "+subjectDescr+" "+title) + " "
	room, bldg := "INTRT", "INTRT"
	if !sec.Online && sec.Location != "" {
		room = sec.Location
		bldg = strings.TrimRight(room, "0123456789-")
	}
	loc, _ := json.Marshal([]building{buildingOf(sec, room, bldg)}) // always marshals
	catalogNbr, _ := strconv.Atoi(sec.CatalogNbr)
	campus := titleCase(sec.Campus)
	if sec.Online {
		campus = "Online"
	}
	b := clasBulk{
		CRSEID: courseID(sec), CRSEOFFERNBR: "1", CLASSMTGNBR: "1",
		SUBJECTFORSORTING: sec.Subject, CATALOGNBRFORSORTING: sec.CatalogNbr,
		DESCR: "ASU at " + campus, DESCR3: "Campus: " + campus,
		TITLEFORSORTING: "Topic " + title, STARTDATE: begin,
		MON: yn("M"), TUES: yn("T"), WED: yn("W"), THURS: yn("Th"), FRI: yn("F"), SAT: yn("Sa"), SUN: yn("Su"),
		SCHEDULEPRINT: "Y", DESCR1: room, INSTRROLE: "PI", CLASSNOTESSEQ: "0",
		ACADCAREER: "UGRD", DESCR2: componentWord(c.SSRCOMPONENT), UNITSMINIMUM: "3", UNITSMAXIMUM: "3",
		XLATLONGNAME: componentWord(c.SSRCOMPONENT), OPTIONALSECTION: "N",
		COUNTROWS: "0", CONSENT: "N", CRSTOPICID: "0", ACADGROUP: "AS", DESCR5: "College of Liberal Arts and Sciences",
		ACADORG: "C" + sec.Subject, DESCR501: subjectDescr, DESCR6: subjectDescr, SCHEDPRINTINSTR: "Y",
		ASUBLDLOCATION: sec.Campus, ASUBLDNAME: bldg, CRSEREPEATABLE: "N", CLASSTYPE: "E",
		TERMBEGINDATE: begin, TERMENDDATE: end, DROPRETAINRECORD: c.ENROLLDEADLINE,
		DROPWITHPENALTY: end, WITHDRAWWITHPENALTY: end, PROMOD: "N", INSTRUCTOREDIT: "N",
		OFFICIALSTARTDATE: begin, OFFICIALENDDATE: end, CLASSDESCR: strings.ToUpper(title),
		LASTFULLUPDATETIMESTAMP: 1785114087681,
		KEYWORDSEARCHSTR:        keywords + strings.Join(instrKW, " "), KEYWORDSEARCHSTRNOINSTRUCTOR: keywords,
		SSRCOUNT: 1, NOTES: []string{}, NOTESNUMBERS: []string{}, PASSTERM: "Y", SHOWSUNNUM: "Y",
		MULTIPLEMTGDATES: "Y", LOCATIONBUILDING: string(loc), SUBJECTDESCRIPTION: subjectDescr,
		INSTRUCTORSFIRSTNAMESHOWALL: c.INSTRUCTORSFIRSTNAMELIST, INSTRUCTORSLASTNAMESHOWALL: c.INSTRUCTORSLASTNAMELIST,
		INSTRUCTORLISTFORKEYWORD: strings.Join(instrKW, " "), INSTRUCTORSLASTNAMELISTFORSORTING: strings.Join(lastNames, " "),
		MEETINGDATES: [][]string{{begin[:10], end[:10]}}, MEETINGDATESFORSORTING: 1787209200000,
		STARTTIMES: []*string{c.STARTTIME}, ENDTIMES: []*string{c.ENDTIME}, ASUBLDNAMELIST: bldg,
		CATALOGNBRNUMBER: catalogNbr, UNITSRANGE: "3 ", ASSOCIATEDCLASSNOTNULL: c.ASSOCIATEDCLASS,
		STARTTIMESFORSORTING: c.STARTTIME, ID: sec.ClassNbr,
	}
	return b
}

func buildingOf(sec SectionSpec, room, bldg string) building {
	if sec.Online {
		return building{NAMEFORSORTING: "INTERNET - ASYNCHRONOUS", NAME: "Internet - Asynchronous", DESCR: "ASU Online",
			ADDRESS: "Classes are taken online, with no set meeting times.", URL: ""}
	}
	campus := titleCase(sec.Campus)
	return building{NAMEFORSORTING: strings.ToUpper(campus) + " - " + room, NAME: campus + " - " + room,
		DESCR: "ASU at " + campus, ADDRESS: room + " (" + campus + ")",
		URL: "http://www.asu.edu/map/interactive/?psCode=" + bldg}
}

// bulkSection fills the top-level fields the adapter does not read.
func bulkSection(sec SectionSpec, c apiCLAS) sectionBulk {
	b := sectionBulk{
		DAYLIST: []string{sec.Days}, HOURS: "3", SSR: c.SSR,
		MEETINGSTARTDATES: []string{}, MTGDATES: []string{},
		GROUPORG: "College of Liberal Arts and Sciences - " + sec.Subject + " Program",
	}
	if err := json.Unmarshal([]byte(c.LOCATIONBUILDING), &b.LOCATIONBUILDING); err != nil {
		b.LOCATIONBUILDING = []building{}
	}
	b.KEYWORDMATCH.Value = 1
	b.KEYWORDMATCH.Description = "ConstantScore(+SUBJECT:" + strings.ToLower(sec.Subject) + " +SCHEDULEPRINT:y)"
	b.KEYWORDMATCH.Details = []string{}
	b.OFFEREDBY.DEPARTMENT = sec.Subject + " Program"
	b.OFFEREDBY.INFO.ACADORG = "CLAS"
	b.OFFEREDBY.INFO.ASUCOLLEGEURL = "https://thecollege.asu.edu/"
	b.OFFEREDBY.INFO.DESCRFORMAL = "The College of Liberal Arts and Sciences"
	b.OFFEREDBY.INFO.ACADGROUP = "AS"
	if n, _ := strconv.Atoi(sec.ClassNbr); n%2 == 0 {
		b.HASSYLLABUS = true
		b.SYLLABUSURL = "https://syllabus.apps.asu.edu/syllabus/" + sec.Term + "/" + sec.ClassNbr
	}
	return b
}

// titleCase turns "TEMPE" into "Tempe".
func titleCase(s string) string {
	if s == "" {
		return s
	}
	return s[:1] + strings.ToLower(s[1:])
}
