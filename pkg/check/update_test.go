package check_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/check"
)

func TestUpdateRoundTrip(t *testing.T) {
	t.Parallel()
	keys := []catalog.SectionKey{{Term: "2267", ClassNbr: "70412"}, {Term: "2271", ClassNbr: "70412"}}
	b, err := check.EncodeUpdate(keys)
	if err != nil {
		t.Fatal(err)
	}
	// The wire format is what api instances of the previous release read.
	if want := `[{"term":"2267","class_nbr":"70412"},{"term":"2271","class_nbr":"70412"}]`; string(b) != want {
		t.Errorf("payload %s, want %s", b, want)
	}
	got, err := check.DecodeUpdate(b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(keys, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if b, _ := check.EncodeUpdate(nil); string(b) != "[]" {
		t.Errorf("empty update encodes as %s", b)
	}
}

func TestDecodeUpdateRejects(t *testing.T) {
	t.Parallel()
	for _, payload := range []string{``, `{}`, `"2267:70412"`, `[{"term":"2267"}]`, `[{"class_nbr":"70412"}]`, `[1]`} {
		if _, err := check.DecodeUpdate([]byte(payload)); !errors.Is(err, check.ErrInvalid) {
			t.Errorf("DecodeUpdate(%q) = %v, want ErrInvalid", payload, err)
		}
	}
}

func TestAuthRateKey(t *testing.T) {
	t.Parallel()
	k := check.Keys{Prefix: "pmc:"}
	if got, want := k.AuthRate("2001:db8::1", 29000000), "pmc:ratelimit:auth:2001:db8::1:29000000"; got != want {
		t.Errorf("AuthRate = %q, want %q", got, want)
	}
	if k.AuthRate("10.0.0.1", 1) == k.AuthRate("10.0.0.1", 2) || k.AuthRate("10.0.0.1", 1) == k.AuthRate("10.0.0.2", 1) {
		t.Error("windows or clients share a key")
	}
}
