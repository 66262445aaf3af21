package asusim

import (
	"maps"
	"net/http"
	"net/url"
	"strings"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
)

// searchKey names what a class search's first page asked for, so a test
// can tell how often a course (or a subject, or a term) was searched:
//
//   - a course: its catalog.CourseKey ("2267:CSE:240"),
//   - a subject walk: its catalog.ScanKey ("2267:CSE:*"),
//   - a term walk: its catalog.ScanKey ("2267:*"),
//   - a class number: its catalog.SectionKey ("2267:70412"),
//   - anything else (keywords, no term, a catalog number alone): "other".
//
// Subjects are upper-cased, as searches match them.
func searchKey(v url.Values) string {
	term, class := v.Get("term"), v.Get("classNbr")
	subject, nbr := strings.ToUpper(strings.TrimSpace(v.Get("subject"))), v.Get("catalogNbr")
	switch {
	case term == "" || strings.TrimSpace(v.Get("keywords")) != "":
		return "other"
	case class != "":
		return catalog.SectionKey{Term: term, ClassNbr: class}.String()
	case subject != "" && nbr != "":
		return catalog.CourseKey{Term: term, Subject: subject, CatalogNbr: nbr}.String()
	case nbr != "":
		return "other"
	}
	return catalog.ScanKey{Term: term, Subject: subject}.String()
}

// countSearch counts every request for a class search's first page by its
// searchKey, refused and faulted ones included: they asked for it all the
// same. A walk's scroll pages name no search and are not counted again.
func (s *Server) countSearch(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if v := r.URL.Query(); v.Get("scrollId") == "" {
			key := searchKey(v)
			s.searchMu.Lock()
			s.searches[key]++
			s.searchMu.Unlock()
		}
		h(w, r)
	}
}

// CourseSearches returns how many class searches asked for course c.
func (s *Server) CourseSearches(c catalog.CourseKey) int64 {
	c.Subject = strings.ToUpper(c.Subject)
	return s.searchCount(c.String())
}

// ScanSearches returns how many walks of k (a subject's or a whole
// term's) were started: requests for their first page.
func (s *Server) ScanSearches(k catalog.ScanKey) int64 {
	k.Subject = strings.ToUpper(k.Subject)
	return s.searchCount(k.String())
}

func (s *Server) searchCount(key string) int64 {
	s.searchMu.Lock()
	defer s.searchMu.Unlock()
	return s.searches[key]
}

// Searches returns the class searches counted so far by what they asked
// for (see State.Searches).
func (s *Server) Searches() map[string]int64 {
	s.searchMu.Lock()
	defer s.searchMu.Unlock()
	return maps.Clone(s.searches)
}
