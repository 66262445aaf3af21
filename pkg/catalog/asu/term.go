package asu

import (
	"net/url"
	"strconv"
	"time"
)

// ClassURL returns the catalog UI's deep link to one section, for emails.
func ClassURL(term, classNbr string) string {
	q := url.Values{
		"campusOrOnlineSelection": {"A"},
		"classNbr":                {classNbr},
		"honors":                  {"F"},
		"promod":                  {"F"},
		"searchType":              {"all"},
		"term":                    {term},
	}
	return "https://catalog.apps.asu.edu/catalog/classes/classlist?" + q.Encode()
}

// termParts decodes an ASU strm: "2" + two-digit year + season digit
// (1 Spring, 4 Summer, 7 Fall).
func termParts(code string) (year int, season string, end time.Time, ok bool) {
	if len(code) != 4 || code[0] != '2' {
		return 0, "", time.Time{}, false
	}
	yy, err := strconv.Atoi(code[1:3])
	if err != nil || yy < 0 {
		return 0, "", time.Time{}, false
	}
	year = 2000 + yy
	switch code[3] {
	case '1':
		return year, "Spring", time.Date(year, time.May, 31, 23, 59, 59, 0, time.UTC), true
	case '4':
		return year, "Summer", time.Date(year, time.August, 20, 23, 59, 59, 0, time.UTC), true
	case '7':
		return year, "Fall", time.Date(year, time.December, 31, 23, 59, 59, 0, time.UTC), true
	}
	return 0, "", time.Time{}, false
}

// TermName returns the human name of a term code ("2267" → "Fall 2026"), or
// the code itself when it does not follow ASU's scheme.
func TermName(code string) string {
	year, season, _, ok := termParts(code)
	if !ok {
		return code
	}
	return season + " " + strconv.Itoa(year)
}

// TermEnds returns a generous end of the term (Spring: May 31, Summer:
// Aug 20, Fall: Dec 31, end of day UTC), after which its sections need no
// more checks; ok is false for a code outside ASU's scheme.
func TermEnds(code string) (time.Time, bool) {
	_, _, end, ok := termParts(code)
	return end, ok
}
