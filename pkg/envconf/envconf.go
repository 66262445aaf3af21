// Package envconf reads service configuration from environment variables.
// A Reader collects every problem instead of stopping at the first, so a
// service that is misconfigured says everything that is wrong at once.
package envconf

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Reader reads typed values through an injected getenv.
type Reader struct {
	getenv func(string) string
	errs   []error
}

// New returns a Reader over getenv (os.Getenv in production, a map in tests).
func New(getenv func(string) string) *Reader { return &Reader{getenv: getenv} }

// Err returns every problem found so far, joined, or nil.
func (r *Reader) Err() error { return errors.Join(r.errs...) }

// Fail records a problem found by the caller's own validation.
func (r *Reader) Fail(format string, args ...any) {
	r.errs = append(r.errs, fmt.Errorf(format, args...))
}

func (r *Reader) raw(name string) (string, bool) {
	v := strings.TrimSpace(r.getenv(name))
	return v, v != ""
}

// String returns the variable or def when unset.
func (r *Reader) String(name, def string) string {
	if v, ok := r.raw(name); ok {
		return v
	}
	return def
}

// Required returns the variable, recording a problem when it is unset.
func (r *Reader) Required(name string) string {
	v, ok := r.raw(name)
	if !ok {
		r.Fail("%s is required", name)
	}
	return v
}

// URL returns the variable parsed as an absolute URL with one of the schemes.
func (r *Reader) URL(name, def string, schemes ...string) string {
	v := r.String(name, def)
	if v == "" {
		r.Fail("%s is required", name)
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || u.Host == "" {
		r.Fail("%s: not an absolute URL", name)
		return v
	}
	for _, s := range schemes {
		if u.Scheme == s {
			return v
		}
	}
	r.Fail("%s: scheme %q, want one of %s", name, u.Scheme, strings.Join(schemes, ", "))
	return v
}

// Int returns the variable as an integer within [lo, hi], or def when unset.
func (r *Reader) Int(name string, def, lo, hi int) int {
	v, ok := r.raw(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		r.Fail("%s %q: want an integer from %d to %d", name, v, lo, hi)
		return def
	}
	return n
}

// Float returns the variable as a number within [lo, hi], or def when unset.
func (r *Reader) Float(name string, def, lo, hi float64) float64 {
	v, ok := r.raw(name)
	if !ok {
		return def
	}
	n, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(n) || n < lo || n > hi {
		r.Fail("%s %q: want a number from %g to %g", name, v, lo, hi)
		return def
	}
	return n
}

// Duration returns the variable as a Go duration ("30s", "30m") within
// [lo, hi], or def when unset.
func (r *Reader) Duration(name string, def, lo, hi time.Duration) time.Duration {
	v, ok := r.raw(name)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < lo || d > hi {
		r.Fail("%s %q: want a duration from %s to %s", name, v, lo, hi)
		return def
	}
	return d
}

// Bool returns the variable as a boolean, or def when unset.
func (r *Reader) Bool(name string, def bool) bool {
	v, ok := r.raw(name)
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.Fail("%s %q: want true or false", name, v)
		return def
	}
	return b
}

// Redact returns u with any password replaced, for logging.
func Redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparseable)"
	}
	return p.Redacted()
}
