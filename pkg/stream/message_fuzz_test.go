package stream

import (
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// FuzzParseEntry feeds arbitrary envelope fields to the entry parser: it
// must never panic, and an entry it accepts must have a type, keep the
// data and key as stored, and never count fewer deliveries than Redis did.
func FuzzParseEntry(f *testing.F) {
	f.Add("pickmyclass.stream.v1.CourseCheck", "\x0a\x04data", "1700000000123", "2267:CSE:240", "", false, int64(1))
	f.Add("a.B", "", "-1", "", "2", true, int64(3))
	f.Add("", "x", "notanumber", "k", "-5", true, int64(0))
	f.Add("a.B", "x", "99999999999999999999", "k", "9223372036854775807", true, int64(9223372036854775807))
	f.Fuzz(func(t *testing.T, typ, data, ts, key, prior string, hasPrior bool, deliveries int64) {
		values := map[string]any{fieldType: typ, fieldData: data, fieldTS: ts, fieldKey: key}
		if hasPrior {
			values[fieldPrior] = prior
		}
		e, err := parseEntry(redis.XMessage{ID: "1-0", Values: values}, deliveries)
		if err != nil {
			if e != nil {
				t.Fatalf("error %v with an entry %+v", err, e)
			}
			return
		}
		if e.Type == "" || e.Type != typ || string(e.Data) != data || e.Key != key {
			t.Fatalf("entry %+v does not hold the stored fields", e)
		}
		if hasPrior && strings.HasPrefix(prior, "-") {
			t.Fatalf("a negative prior delivery count %q was accepted", prior)
		}
		// The sum may wrap on absurd input; it must not go below Redis's
		// own count otherwise.
		if !hasPrior && e.Deliveries != deliveries {
			t.Fatalf("deliveries %d, want %d", e.Deliveries, deliveries)
		}
	})
}

// FuzzParseID checks that any stream ID the parser accepts prints back as
// an ID that parses to the same value, and that ordering is strict.
func FuzzParseID(f *testing.F) {
	for _, s := range []string{"0-0", "1700000000123-5", "18446744073709551615-18446744073709551615", "12", "-", "1-", "a-b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := parseID(s)
		if err != nil {
			return
		}
		again, err := parseID(id.String())
		if err != nil || again != id {
			t.Fatalf("%q → %v → %q → %v, %v", s, id, id.String(), again, err)
		}
		if id.less(id) {
			t.Fatalf("%v less than itself", id)
		}
	})
}

// FuzzParseDeadLetter checks that the lenient dead-letter parser accepts
// any field values without panicking.
func FuzzParseDeadLetter(f *testing.F) {
	f.Add("a.B", "data", "1700000000123", "k", "max deliveries exceeded", "3", "1-0", "1700000000999")
	f.Add("", "", "x", "", "", "-1", "", "y")
	f.Fuzz(func(t *testing.T, typ, data, ts, key, reason, deliveries, orig, failed string) {
		dl := parseDeadLetter(redis.XMessage{ID: "2-0", Values: map[string]any{
			fieldType: typ, fieldData: data, fieldTS: ts, fieldKey: key,
			fieldReason: reason, fieldDeliveries: deliveries, fieldOriginalID: orig, fieldFailedAt: failed,
		}})
		if dl.ID != "2-0" || dl.Reason != reason || string(dl.Data) != data {
			t.Fatalf("dead letter %+v does not hold the stored fields", dl)
		}
	})
}
