package check

import (
	"encoding/json"
	"fmt"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
)

// EncodeUpdate returns the payload a worker publishes on Keys.Updates after
// a check changed sections: the changed sections, which the api relays to
// the dashboards watching them. On the wire it is a JSON array of
// {"term", "class_nbr"} objects.
func EncodeUpdate(changed []catalog.SectionKey) ([]byte, error) {
	if changed == nil {
		changed = []catalog.SectionKey{}
	}
	b, err := json.Marshal(changed)
	if err != nil {
		return nil, fmt.Errorf("encode update: %w", err)
	}
	return b, nil
}

// DecodeUpdate parses an update payload. A payload that is not such an
// array, or names a section without a term or class number, is ErrInvalid.
func DecodeUpdate(b []byte) ([]catalog.SectionKey, error) {
	var keys []catalog.SectionKey
	if err := json.Unmarshal(b, &keys); err != nil {
		return nil, fmt.Errorf("%w: update: %v", ErrInvalid, err)
	}
	for _, k := range keys {
		if k.Term == "" || k.ClassNbr == "" {
			return nil, fmt.Errorf("%w: update names an incomplete section %q", ErrInvalid, k)
		}
	}
	return keys, nil
}
