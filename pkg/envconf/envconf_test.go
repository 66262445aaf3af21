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

func TestCommon(t *testing.T) {
	t.Parallel()
	env := map[string]string{"DATABASE_URL": "postgres://u:p@db/pmc", "REDIS_URL": "rediss://:s@r:6380/0"}
	r := New(func(k string) string { return env[k] })
	c := r.Common()
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if c.DatabaseURL != env["DATABASE_URL"] || c.RedisURL != env["REDIS_URL"] || c.RedisPrefix != "pmc:" || !c.Migrate ||
		c.Log.Level != "info" || c.Log.Format != "json" {
		t.Errorf("defaults: %+v", c)
	}

	bad := map[string]string{"DATABASE_URL": "mysql://x", "MIGRATE_ON_START": "perhaps", "LOG_FORMAT": "xml"}
	r = New(func(k string) string { return bad[k] })
	r.Common()
	err := r.Err()
	for _, want := range []string{"DATABASE_URL", "REDIS_URL", "MIGRATE_ON_START", "LOG_FORMAT"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %s", err, want)
		}
	}
}

func TestSecret(t *testing.T) {
	t.Parallel()
	for v, ok := range map[string]bool{"": false, "short": false, strings.Repeat("k", 31): false, strings.Repeat("k", 32): true} {
		r := New(func(string) string { return v })
		got := r.Secret("UNSUBSCRIBE_SECRET", 32)
		if err := r.Err(); (err == nil) != ok || (ok && got != v) {
			t.Errorf("Secret(%q) = %q, %v; want ok=%t", v, got, err, ok)
		}
		if err := r.Err(); err != nil && !strings.Contains(err.Error(), "UNSUBSCRIBE_SECRET") {
			t.Errorf("error %v does not name the variable", err)
		}
	}
}
