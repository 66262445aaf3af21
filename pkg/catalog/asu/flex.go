package asu

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
)

// The upstream index is fed by PeopleSoft exports whose field types drift
// (a count arrives as "81" one day and 81 the next, a list as a bare string,
// anything as null). The flex types below never fail to unmarshal, so one odd
// field degrades to its zero value instead of losing the whole section.

// flexString is a string that also accepts numbers and booleans.
type flexString string

func (s *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	*s = ""
	if len(b) == 0 {
		return nil
	}
	switch b[0] {
	case '"':
		var v string
		if json.Unmarshal(b, &v) == nil {
			*s = flexString(strings.TrimSpace(v))
		}
	case 't', 'f':
		*s = flexString(b)
	case 'n', '[', '{':
		// null or a structure where a scalar was expected: treat as absent.
	default:
		*s = flexString(b) // a number, kept as written
	}
	return nil
}

// flexInt is an integer that also accepts numeric strings and floats; OK
// reports whether a usable value was present, so callers can fall back to
// another field.
type flexInt struct {
	N  int
	OK bool
}

func (n *flexInt) UnmarshalJSON(b []byte) error {
	*n = flexInt{}
	var s flexString
	_ = s.UnmarshalJSON(b)
	str := strings.TrimSpace(string(s))
	if str == "" || str == "true" || str == "false" {
		return nil
	}
	if v, err := strconv.Atoi(str); err == nil {
		*n = flexInt{N: v, OK: true}
		return nil
	}
	if f, err := strconv.ParseFloat(str, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) && math.Abs(f) < math.MaxInt32 {
		*n = flexInt{N: int(f), OK: true}
	}
	return nil
}

// flexStrings is a list of strings that also accepts a single scalar.
type flexStrings []string

func (l *flexStrings) UnmarshalJSON(b []byte) error {
	*l = nil
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil
	}
	if b[0] != '[' {
		var s flexString
		_ = s.UnmarshalJSON(b)
		if s != "" {
			*l = flexStrings{string(s)}
		}
		return nil
	}
	var raw []json.RawMessage
	if json.Unmarshal(b, &raw) != nil {
		return nil
	}
	for _, r := range raw {
		var s flexString
		_ = s.UnmarshalJSON(r)
		*l = append(*l, string(s)) // empty entries kept so positions still line up
	}
	return nil
}
