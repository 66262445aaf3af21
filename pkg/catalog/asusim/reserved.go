package asusim

import (
	"net/http"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
)

// reservedRow is one group as GET …/reservedseatsadditionalinfo sends it.
type reservedRow struct {
	Descr   string `json:"descr"`
	EnrlCap int    `json:"enrlCap"`
	EnrlTot int    `json:"enrlTot"`
}

// handleReserved serves a section's reserved groups as a bare list. The
// section is named by term and classNbr; the other identifiers the catalog
// SPA sends (crseId, classSection, sessionCode, classType, acadCareer,
// crseOfferNbr) must be present and crseId and classSection must match the
// class search's, so a client that builds the request wrongly is told so
// (400). A section without reserved seats answers an empty list; an unknown
// one 404.
func (s *Server) handleReserved(w http.ResponseWriter, r *http.Request, _ *Fault) {
	q := r.URL.Query()
	for _, p := range []string{"term", "classNbr", "crseId", "sessionCode", "classType", "acadCareer", "crseOfferNbr", "classSection"} {
		if q.Get(p) == "" {
			writeJSON(w, http.StatusBadRequest, errorBody{"missing parameter " + p})
			return
		}
	}
	sec, ok := s.Section(catalog.SectionKey{Term: q.Get("term"), ClassNbr: q.Get("classNbr")})
	if !ok {
		writeJSON(w, http.StatusNotFound, errorBody{"Not Found"})
		return
	}
	if q.Get("crseId") != courseID(sec) || q.Get("classSection") != sec.Section {
		writeJSON(w, http.StatusBadRequest, errorBody{"crseId or classSection does not match the class"})
		return
	}
	rows := make([]reservedRow, 0, len(sec.ReservedGroups))
	if sec.Reserved {
		for _, g := range sec.ReservedGroups {
			rows = append(rows, reservedRow{Descr: g.Name, EnrlCap: g.Capacity, EnrlTot: g.Enrolled})
		}
	}
	writeJSON(w, http.StatusOK, rows)
}

// courseID is the section's CLAS.CRSEID.
func courseID(sec SectionSpec) string { return "1" + sec.ClassNbr }
