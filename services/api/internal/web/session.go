package web

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"github.com/rs/zerolog"

	"github.com/pickmyclass/pickmyclass/pkg/store"
)

const (
	sessionCookie = "pmc_session"
	csrfCookie    = "pmc_csrf"
	csrfHeader    = "X-CSRF-Token"
	csrfField     = "_csrf"
	// sessionTTL is a sliding expiry: a session unused this long ends. A
	// session also ends store.MaxSessionAge after sign-in, however used.
	sessionTTL = 30 * 24 * time.Hour
	// sessionTouchEvery bounds how often use of a session is written back
	// (extending it by sessionTTL): once an hour, not on every request.
	sessionTouchEvery = time.Hour

	ctxUser    = "user"
	ctxSession = "session_id"
	ctxCSRF    = "csrf"
)

// newSecret returns 32 random bytes, base64url-encoded.
func newSecret() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// hashSecret is what the database stores for a session or one-time token:
// a leaked table holds nothing a browser could present.
func hashSecret(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func (a *app) cookie(name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: a.secure, SameSite: http.SameSiteLaxMode,
	}
}

// csrf is a double-submit check on every state-changing request: the
// request must carry, in the X-CSRF-Token header or the _csrf form field,
// the value of the pmc_csrf cookie that only our own pages can read.
// Cross-site requests announced by the browser are refused outright. The
// RFC 8058 one-click unsubscribe and the mail provider's webhooks are
// exempt: they carry their own signatures and no session.
func (a *app) csrf(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		token := ""
		if ck, err := c.Cookie(csrfCookie); err == nil && len(ck.Value) >= 32 {
			token = ck.Value
		} else {
			token = newSecret()
			c.SetCookie(a.cookie(csrfCookie, token, 0))
		}
		c.Set(ctxCSRF, token)
		switch c.Request().Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			return next(c)
		}
		// Parse a form body here, once: c.FormValue ignores errors, so a body
		// over the limit (or malformed) would otherwise reach the handlers as
		// empty fields instead of being refused.
		if isForm(c) {
			if _, err := c.FormParams(); err != nil {
				if tooLarge(err) {
					return errorf(http.StatusRequestEntityTooLarge, "request body too large")
				}
				return errorf(http.StatusBadRequest, "malformed form body")
			}
		}
		switch c.Request().URL.Path {
		case "/api/unsubscribe", "/api/webhooks/resend", "/api/webhooks/email":
			return next(c)
		}
		if c.Request().Header.Get("Sec-Fetch-Site") == "cross-site" {
			return errorf(http.StatusForbidden, "cross-site request refused")
		}
		sent := c.Request().Header.Get(csrfHeader)
		if sent == "" && isForm(c) {
			sent = c.FormValue(csrfField)
		}
		if sent == "" || subtle.ConstantTimeCompare([]byte(sent), []byte(token)) != 1 {
			return errorf(http.StatusForbidden, "missing or invalid CSRF token; reload the page and try again")
		}
		return next(c)
	}
}

func isForm(c echo.Context) bool {
	ct := c.Request().Header.Get(echo.HeaderContentType)
	return strings.HasPrefix(ct, echo.MIMEApplicationForm) || strings.HasPrefix(ct, echo.MIMEMultipartForm)
}

// loadSession puts the signed-in user, if any, in the context.
func (a *app) loadSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ck, err := c.Cookie(sessionCookie)
		if err != nil || ck.Value == "" || len(ck.Value) > 100 {
			return next(c)
		}
		id := hashSecret(ck.Value)
		now := a.Now()
		ctx := c.Request().Context()
		sess, err := a.DB.Session(ctx, id, now)
		if errors.Is(err, store.ErrNotFound) {
			c.SetCookie(a.cookie(sessionCookie, "", -1))
			return next(c)
		}
		if err != nil {
			return err
		}
		if now.Sub(sess.LastSeenAt) >= sessionTouchEvery {
			// Best effort: a session not extended now is extended on a
			// later request.
			if err := a.DB.TouchSession(ctx, id, now, now.Add(sessionTTL)); err != nil {
				zerolog.Ctx(ctx).Warn().Err(err).Msg("extend session")
			} else {
				left := min(sessionTTL, sess.CreatedAt.Add(store.MaxSessionAge).Sub(now))
				c.SetCookie(a.cookie(sessionCookie, ck.Value, int(left.Seconds())))
			}
		}
		u := sess.User
		c.Set(ctxUser, &u)
		c.Set(ctxSession, id)
		return next(c)
	}
}

// currentUser returns the signed-in user, or nil.
func currentUser(c echo.Context) *store.User {
	u, _ := c.Get(ctxUser).(*store.User)
	return u
}

func csrfToken(c echo.Context) string {
	s, _ := c.Get(ctxCSRF).(string)
	return s
}

// requireUser answers 401 (JSON) or redirects to the login page.
func (a *app) requireUser(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if currentUser(c) == nil {
			if wantsJSON(c) {
				return errorf(http.StatusUnauthorized, "sign in first")
			}
			return c.Redirect(http.StatusSeeOther, "/login")
		}
		return next(c)
	}
}

// requireVerified keeps accounts whose email is unconfirmed out of the app.
func (a *app) requireVerified(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if currentUser(c).VerifiedAt == nil {
			if wantsJSON(c) {
				return errorf(http.StatusForbidden, "confirm your email address first")
			}
			return c.Redirect(http.StatusSeeOther, "/verify-email")
		}
		return next(c)
	}
}

// requireAdmin answers 404 to everyone but administrators whose email is
// confirmed: the admin pages do not admit they exist, and an account whose
// address was never proven is nobody's to trust.
func (a *app) requireAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if u := currentUser(c); u == nil || !u.IsAdmin || u.VerifiedAt == nil {
			return errorf(http.StatusNotFound, "not found")
		}
		return next(c)
	}
}

// startSession signs the user in with a fresh session, ending the one the
// browser held (rotation at login defeats session fixation), and rotates
// the CSRF token.
func (a *app) startSession(c echo.Context, u store.User) error {
	ctx := c.Request().Context()
	if old, ok := c.Get(ctxSession).([]byte); ok {
		if err := a.DB.DeleteSession(ctx, old); err != nil {
			return err
		}
	}
	secret := newSecret()
	if err := a.DB.CreateSession(ctx, store.NewSession{
		ID: hashSecret(secret), UserID: u.ID, ExpiresAt: a.Now().Add(sessionTTL),
		UserAgent: truncate(c.Request().UserAgent(), 200), IP: c.RealIP(),
	}); err != nil {
		return err
	}
	c.SetCookie(a.cookie(sessionCookie, secret, int(sessionTTL.Seconds())))
	token := newSecret()
	c.SetCookie(a.cookie(csrfCookie, token, 0))
	c.Set(ctxCSRF, token)
	c.Set(ctxUser, &u)
	c.Set(ctxSession, hashSecret(secret))
	return nil
}

// endSession signs the browser out.
func (a *app) endSession(c echo.Context) error {
	if id, ok := c.Get(ctxSession).([]byte); ok {
		if err := a.DB.DeleteSession(c.Request().Context(), id); err != nil {
			return err
		}
	}
	c.SetCookie(a.cookie(sessionCookie, "", -1))
	c.Set(ctxUser, nil)
	return nil
}

// authRateLimit caps auth requests per client IP with a fixed one-minute
// window in Redis, shared by every API instance. It says nothing about the
// account asked for.
func (a *app) authRateLimit(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		window := a.Now().Unix() / 60
		key := a.Keys.AuthRate(c.RealIP(), window)
		n, err := a.Redis.Incr(ctx, key).Result()
		if err != nil {
			return err
		}
		if n == 1 {
			a.Redis.Expire(ctx, key, 2*time.Minute)
		}
		if n > int64(a.AuthRatePerMinute) {
			e := errorf(http.StatusTooManyRequests, "too many requests; wait a minute and try again")
			e.RetryAfter = int(60 - a.Now().Unix()%60)
			return e
		}
		return next(c)
	}
}

// truncate returns at most n bytes of s as valid UTF-8 text PostgreSQL
// accepts: bytes that are not UTF-8 and NULs (both allowed in a header
// value) are replaced, and the cut never splits a character.
func truncate(s string, n int) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
