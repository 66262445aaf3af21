package asusim

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// FuzzParseScenario feeds arbitrary bytes to the scenario parser: it must
// never panic; a scenario it accepts is valid, survives a JSON round trip
// unchanged, and can be served.
func FuzzParseScenario(f *testing.F) {
	f.Add([]byte(`{"terms":[{"code":"2267","name":"Fall 2026"}],"sections":[{"term":"2267","class_nbr":"70412","subject":"CSE","catalog_nbr":"240","section":"0001","title":"Intro","capacity":2,"enrolled":2,"instructors":[{"name":"Ada Lovelace","id":"alovela1"}]}]}`))
	f.Add([]byte(`{"sections":[{"term":"2267","class_nbr":"1","subject":"A","catalog_nbr":"1","capacity":-1,"status":"weird"}]}`))
	f.Add([]byte(`{"terms":[],"sections":null,"extra":1}`))
	f.Add([]byte(`{"sections":[{"term":"2267","class_nbr":"1","subject":"A","catalog_nbr":"1"},{"term":"2267","class_nbr":"1","subject":"A","catalog_nbr":"1"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		sc, err := ParseScenario(b)
		if err != nil {
			return
		}
		if err := sc.Validate(); err != nil {
			t.Fatalf("accepted an invalid scenario: %v", err)
		}
		again, err := json.Marshal(sc)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseScenario(again)
		if err != nil {
			t.Fatalf("round trip of %s: %v", again, err)
		}
		if diff := cmp.Diff(sc, back, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip changed the scenario (-first +second):\n%s", diff)
		}
		_ = New(sc)
	})
}
