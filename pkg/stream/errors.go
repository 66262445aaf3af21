package stream

import (
	"errors"
	"time"
)

// PermanentError marks a handler failure that no retry can fix: the entry
// is dead-lettered at once. Create it with Permanent.
type PermanentError struct {
	Err error
}

// Permanent wraps err so the consumer dead-letters the entry instead of
// retrying it.
func Permanent(err error) error {
	if err == nil {
		err = errors.New("permanent failure")
	}
	return &PermanentError{Err: err}
}

// Error implements error.
func (e *PermanentError) Error() string { return e.Err.Error() }

// Unwrap returns the wrapped error.
func (e *PermanentError) Unwrap() error { return e.Err }

// DeferError asks for the entry to run again after a delay without the
// attempt counting as a delivery. Create it with Defer.
type DeferError struct {
	Err   error
	After time.Duration
}

// Defer wraps err so the consumer re-schedules the entry to run after d,
// e.g. when the upstream answered 429 or its breaker is open.
func Defer(err error, d time.Duration) error {
	if err == nil {
		err = errors.New("deferred")
	}
	return &DeferError{Err: err, After: max(d, 0)}
}

// Error implements error.
func (e *DeferError) Error() string { return e.Err.Error() }

// Unwrap returns the wrapped error.
func (e *DeferError) Unwrap() error { return e.Err }
