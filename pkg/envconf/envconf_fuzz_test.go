package envconf

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// FuzzReader feeds one arbitrary value to every typed reader: none may
// panic, a value outside its range is an error and gives the default, and
// a URL is accepted only with an allowed scheme.
func FuzzReader(f *testing.F) {
	for _, s := range []string{"", "10", "-1", "1e309", "+Inf", "1h", "-5m", "9999999999h", "true", "redis://u:p@h:1/0", "ftp://x", "postgres://"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		get := func(string) string { return v }
		r := New(get)
		if n := r.Int("N", 5, 1, 100); r.Err() == nil && (n < 1 || n > 100) {
			t.Fatalf("Int(%q) = %d outside [1, 100] without an error", v, n)
		} else if r.Err() != nil && n != 5 {
			t.Fatalf("Int(%q) = %d with an error, want the default", v, n)
		}
		r = New(get)
		if x := r.Float("F", 3, 0.01, 1000); r.Err() == nil && !(x >= 0.01 && x <= 1000) {
			t.Fatalf("Float(%q) = %v outside [0.01, 1000] without an error", v, x)
		}
		r = New(get)
		if d := r.Duration("D", time.Minute, time.Millisecond, time.Hour); r.Err() == nil && (d < time.Millisecond || d > time.Hour) {
			t.Fatalf("Duration(%q) = %s outside [1ms, 1h] without an error", v, d)
		}
		r = New(get)
		r.Bool("B", false)
		r = New(get)
		if u := r.URL("U", "", "redis", "rediss"); r.Err() == nil && v != "" {
			p, err := url.Parse(u)
			if err != nil || (p.Scheme != "redis" && p.Scheme != "rediss") {
				t.Fatalf("URL(%q) = %q accepted with scheme %q", v, u, p.Scheme)
			}
		}
		_ = Redact(v)
	})
}

// FuzzRedact checks that a password in a URL never reaches the logs.
func FuzzRedact(f *testing.F) {
	for _, s := range []string{"s3cret-password", "p@ss:w/rd?#%", "xxxxxxxxxx", "unicodé-пароль"} {
		f.Add(s, "db.example.com:5432")
	}
	f.Fuzz(func(t *testing.T, password, host string) {
		if len(password) < 8 || strings.Contains(host, password) || strings.Contains("postgres://user:xxxxx@/app?sslmode=require", password) {
			return // too short, or the password is part of what may show
		}
		u := (&url.URL{Scheme: "postgres", User: url.UserPassword("user", password), Host: host, Path: "/app", RawQuery: "sslmode=require"}).String()
		got := Redact(u)
		if strings.Contains(got, password) || strings.Contains(got, url.QueryEscape(password)) || strings.Contains(got, url.PathEscape(password)) {
			t.Fatalf("Redact(%q) = %q shows the password", u, got)
		}
	})
}
