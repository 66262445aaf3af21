package asu

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
)

// ErrReservedShape is wrapped by ParseReserved's errors: the body is not a
// list of reserved seat groups.
var ErrReservedShape = errors.New("malformed reserved seats response")

// reservedGroup is one row of GET /reservedseatsadditionalinfo.
type reservedGroup struct {
	Descr   *flexString `json:"descr"`
	EnrlCap flexInt     `json:"enrlCap"`
	EnrlTot flexInt     `json:"enrlTot"`
}

// ParseReserved decodes GET /reservedseatsadditionalinfo: a list of groups
// {descr, enrlCap, enrlTot}, bare or as the one list inside an object. Any
// other shape, or a group without a name or either count, fails wrapping
// ErrReservedShape: a partly read answer would undercount the reserved
// seats and overstate the seats open to everyone.
func ParseReserved(body []byte) ([]catalog.ReservedGroup, error) {
	body = bytes.TrimSpace(body)
	if bytes.Equal(body, []byte("null")) {
		return nil, fmt.Errorf("%w: null", ErrReservedShape)
	}
	var rows []json.RawMessage
	if err := json.Unmarshal(body, &rows); err != nil {
		var obj map[string]json.RawMessage
		if json.Unmarshal(body, &obj) != nil {
			return nil, errors.Join(ErrReservedShape, err)
		}
		lists := 0
		for _, v := range obj {
			var l []json.RawMessage
			if json.Unmarshal(v, &l) == nil && l != nil {
				rows = l
				lists++
			}
		}
		if lists != 1 {
			return nil, fmt.Errorf("%w: an object with %d lists", ErrReservedShape, lists)
		}
	}
	groups := make([]catalog.ReservedGroup, 0, len(rows))
	for i, raw := range rows {
		var g reservedGroup
		if err := json.Unmarshal(raw, &g); err != nil {
			return nil, fmt.Errorf("%w: group %d: %w", ErrReservedShape, i, err)
		}
		if g.Descr == nil || !g.EnrlCap.OK || !g.EnrlTot.OK || g.EnrlCap.N < 0 || g.EnrlTot.N < 0 {
			return nil, fmt.Errorf("%w: group %d lacks descr, enrlCap or enrlTot", ErrReservedShape, i)
		}
		name := string(*g.Descr)
		if name == "" {
			name = "Reserved seats"
		}
		groups = append(groups, catalog.ReservedGroup{Name: name, Capacity: g.EnrlCap.N, Enrolled: g.EnrlTot.N})
	}
	return groups, nil
}

// reservedQuery builds the lookup's parameters from what the class search
// said of the section. ACADCAREER and CRSEOFFERNBR are not always in the
// search rows; then the career follows ASU's numbering (500 and up is
// graduate) and the offer number is 1, the usual value.
func reservedQuery(s catalog.Section) (url.Values, error) {
	if s.Offering.CourseID == "" || s.SectionCode == "" || s.Session == "" {
		return nil, errors.New("the class search gave no CRSEID, CLASSSECTION or SESSIONCODE")
	}
	career := s.Offering.Career
	if career == "" {
		career = "UGRD"
		if n, err := strconv.Atoi(strings.TrimLeft(s.CatalogNbr, "0")); err == nil && n >= 500 {
			career = "GRAD"
		}
	}
	offer := s.Offering.OfferNbr
	if offer == "" {
		offer = "1"
	}
	return url.Values{
		"term":         {s.Term},
		"classNbr":     {s.ClassNbr},
		"crseId":       {s.Offering.CourseID},
		"sessionCode":  {s.Session},
		"classType":    {"E"},
		"acadCareer":   {career},
		"crseOfferNbr": {offer},
		"classSection": {s.SectionCode},
	}, nil
}

// Reserved reads a section's reserved seat groups, through the same request
// budget as every other request. A section whose search row lacks the
// fields the lookup needs, or an answer of 404, is KindNotFound (unknown,
// not an upstream failure); an answer of another shape is KindMalformed.
func (c *Client) Reserved(ctx context.Context, s catalog.Section) ([]catalog.ReservedGroup, error) {
	q, err := reservedQuery(s)
	if err != nil {
		return nil, fmt.Errorf("asu reserved seats %s: %w", s.Key(), &catalog.Error{Kind: catalog.KindNotFound, Err: err})
	}
	body, err := c.get(ctx, c.base+"/reservedseatsadditionalinfo?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("asu reserved seats %s: %w", s.Key(), err)
	}
	groups, err := ParseReserved(body)
	if err != nil {
		return nil, fmt.Errorf("asu reserved seats %s: %w", s.Key(), &catalog.Error{Kind: catalog.KindMalformed, Status: http.StatusOK, Err: err})
	}
	return groups, nil
}
