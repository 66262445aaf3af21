package web

import (
	"errors"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"github.com/rs/zerolog"

	"github.com/pickmyclass/pickmyclass/pkg/store"
)

// FieldError is one field's problem, in the error body's "details".
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is an error with its HTTP status and what the client may see.
type Error struct {
	Status  int
	Message string
	Details []FieldError
	// RetryAfter, in seconds, is sent as the Retry-After header when set.
	RetryAfter int
}

func (e *Error) Error() string { return e.Message }

// errorf returns an *Error with status and message.
func errorf(status int, msg string) *Error { return &Error{Status: status, Message: msg} }

// invalid returns the 400 for a request whose fields failed validation.
func invalid(details ...FieldError) *Error {
	return &Error{Status: http.StatusBadRequest, Message: "invalid input", Details: details}
}

// fields collects field errors during validation.
type fields []FieldError

func (f *fields) add(field, msg string) { *f = append(*f, FieldError{Field: field, Message: msg}) }

// err returns the validation error, or nil when every field was valid.
func (f fields) err() error {
	if len(f) == 0 {
		return nil
	}
	return invalid(f...)
}

// byField maps field names to their messages, for forms.
func byField(err error) map[string]string {
	var e *Error
	m := map[string]string{}
	if errors.As(err, &e) {
		for _, d := range e.Details {
			if _, ok := m[d.Field]; !ok {
				m[d.Field] = d.Message
			}
		}
	}
	return m
}

// statusOf maps an error to its status and public message. Store sentinels
// are mapped here, once; anything unknown is a 500 whose details stay in
// the log.
func statusOf(err error) (*Error, bool) {
	var e *Error
	var he *echo.HTTPError
	switch {
	case errors.As(err, &e):
		return e, true
	case errors.As(err, &he):
		msg, ok := he.Message.(string)
		if !ok {
			msg = http.StatusText(he.Code)
		}
		if he.Code == http.StatusRequestEntityTooLarge {
			msg = "request body too large"
		}
		return &Error{Status: he.Code, Message: strings.ToLower(msg[:1]) + msg[1:]}, true
	case errors.Is(err, store.ErrNotFound):
		return errorf(http.StatusNotFound, "not found"), true
	case errors.Is(err, store.ErrConflict):
		return errorf(http.StatusConflict, "already exists"), true
	}
	return errorf(http.StatusInternalServerError, "internal server error"), false
}

// wantsJSON reports whether the client gets JSON errors: the API and
// clients that ask for it.
func wantsJSON(c echo.Context) bool {
	return strings.HasPrefix(c.Request().URL.Path, "/api/") ||
		strings.Contains(c.Request().Header.Get(echo.HeaderAccept), echo.MIMEApplicationJSON)
}

// errorHandler is the one place errors become responses: JSON
// {"error", "details"} for the API, an HTML page otherwise. Unknown errors
// are logged with the request ID and answered with a generic 500.
func (a *app) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	e, known := statusOf(err)
	if !known || e.Status >= 500 {
		zerolog.Ctx(c.Request().Context()).Error().Err(err).Msg("request failed")
	}
	if e.RetryAfter > 0 {
		c.Response().Header().Set("Retry-After", itoa(e.RetryAfter))
	}
	details := e.Details
	if details == nil {
		details = []FieldError{}
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(e.Status)
		return
	}
	if wantsJSON(c) {
		_ = c.JSON(e.Status, map[string]any{"error": e.Message, "details": details})
		return
	}
	_ = a.render(c, e.Status, "error", pageData{Title: http.StatusText(e.Status), Data: e})
}

// storable reports whether s can be stored in or compared with a
// PostgreSQL text column: valid UTF-8 without NUL bytes. Anything else
// would fail in the database and surface as a 500.
func storable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// tooLarge reports whether err comes from reading a body over the limit:
// the body-limit middleware's 413 or an http.MaxBytesReader's error.
func tooLarge(err error) bool {
	var he *echo.HTTPError
	var mbe *http.MaxBytesError
	return (errors.As(err, &he) && he.Code == http.StatusRequestEntityTooLarge) || errors.As(err, &mbe)
}
