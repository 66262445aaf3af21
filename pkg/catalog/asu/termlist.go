package asu

import (
	"encoding/json"
	"errors"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
)

type termEntry struct {
	Value flexString `json:"value"`
	Label flexString `json:"label"`
}

// parseTerms reads GET /terms: {fullList, futureList, currentTerm}, each a
// list (or a single object) of {value, label}; a bare list is accepted too.
// Terms are returned once each, in order of first appearance.
func parseTerms(body []byte) ([]catalog.Term, error) {
	var lists []json.RawMessage
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err == nil {
		for _, k := range []string{"fullList", "futureList", "currentTerm"} {
			if v, ok := obj[k]; ok {
				lists = append(lists, v)
			}
		}
	} else if json.Unmarshal(body, new([]json.RawMessage)) == nil {
		lists = append(lists, body)
	} else {
		return nil, errors.Join(ErrMalformed, err)
	}

	var terms []catalog.Term
	seen := map[string]bool{}
	for _, raw := range lists {
		var entries []termEntry
		if json.Unmarshal(raw, &entries) != nil {
			var one termEntry
			if json.Unmarshal(raw, &one) != nil {
				continue
			}
			entries = []termEntry{one}
		}
		for _, e := range entries {
			code := string(e.Value)
			if code == "" || seen[code] {
				continue
			}
			seen[code] = true
			name := string(e.Label)
			if name == "" {
				name = TermName(code)
			}
			terms = append(terms, catalog.Term{Code: code, Name: name})
		}
	}
	if len(terms) == 0 {
		return nil, errors.Join(ErrMalformed, errors.New("no terms listed"))
	}
	return terms, nil
}
