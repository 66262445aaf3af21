package envconf

import (
	"strings"
	"testing"
	"time"
)

func TestReaderCollectsEveryProblem(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"N": "abc", "D": "5h", "U": "ftp://x", "B": "maybe", "OK": " 7 ", "F": "2.5",
	}
	r := New(func(k string) string { return env[k] })
	if got := r.Int("OK", 1, 0, 10); got != 7 {
		t.Errorf("Int(OK) = %d, want 7", got)
	}
	if got := r.Float("F", 1, 0, 10); got != 2.5 {
		t.Errorf("Float(F) = %g, want 2.5", got)
	}
	if got := r.Duration("UNSET", time.Minute, 0, time.Hour); got != time.Minute {
		t.Errorf("Duration(UNSET) = %s, want default", got)
	}
	r.Int("N", 1, 0, 10)
	r.Duration("D", time.Second, time.Second, time.Hour)
	r.URL("U", "", "redis", "rediss")
	r.Bool("B", false)
	r.Required("MISSING")
	err := r.Err()
	if err == nil {
		t.Fatal("Err() = nil, want the problems")
	}
	for _, want := range []string{"N \"abc\"", "D \"5h\"", "U: scheme \"ftp\"", "B \"maybe\"", "MISSING is required"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	if got := Redact("postgres://u:secret@h/db"); strings.Contains(got, "secret") {
		t.Errorf("Redact leaked the password: %s", got)
	}
}
