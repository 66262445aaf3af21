package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/mail"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"

	"github.com/pickmyclass/pickmyclass/pkg/store"
)

// Account rules.
const (
	minPassword     = 8
	maxPassword     = 72 // bcrypt's limit, in bytes
	maxEmail        = 254
	lockoutFailures = 5
	lockoutWindow   = 15 * time.Minute
	verifyTTL       = 24 * time.Hour
	resetTTL        = time.Hour
)

// DefaultPasswordCost is the bcrypt cost of new password hashes: about a
// quarter of a second on a current server core.
const DefaultPasswordCost = 12

func validEmail(field, email string, f *fields) string {
	email = store.NormalizeEmail(email)
	switch {
	case email == "":
		f.add(field, "Enter your email address.")
	case len(email) > maxEmail:
		f.add(field, "That email address is too long.")
	default:
		a, err := mail.ParseAddress(email)
		if err != nil || a.Address != email || !strings.Contains(email[strings.LastIndexByte(email, '@')+1:], ".") {
			f.add(field, "Enter a valid email address, like name@example.edu.")
		}
	}
	return email
}

// checkPassword applies the password rules on the server: length and the
// most common passwords.
func checkPassword(field, pw, email string, f *fields) {
	switch {
	case len([]rune(pw)) < minPassword:
		f.add(field, fmt.Sprintf("Use at least %d characters.", minPassword))
	case len(pw) > maxPassword:
		f.add(field, fmt.Sprintf("Use at most %d bytes.", maxPassword))
	case isCommonPassword(pw):
		f.add(field, "That password is too common; choose one that is harder to guess.")
	case email != "" && strings.EqualFold(pw, email):
		f.add(field, "Do not use your email address as your password.")
	}
}

func (a *app) hash(pw string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), a.PasswordCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// decodeJSON reads a JSON body into v, refusing other content types,
// unknown fields and trailing data.
func decodeJSON(c echo.Context, v any) error {
	if !strings.HasPrefix(c.Request().Header.Get(echo.HeaderContentType), echo.MIMEApplicationJSON) {
		return errorf(http.StatusUnsupportedMediaType, "send a JSON body with Content-Type: application/json")
	}
	dec := json.NewDecoder(c.Request().Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var he *echo.HTTPError
		if errors.As(err, &he) {
			return he
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errorf(http.StatusRequestEntityTooLarge, "request body too large")
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return invalid(FieldError{Field: te.Field, Message: "has the wrong type; expected " + te.Type.String()})
		}
		return errorf(http.StatusBadRequest, "invalid JSON body: "+strings.TrimPrefix(err.Error(), "json: "))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errorf(http.StatusBadRequest, "invalid JSON body: unexpected data after the object")
	}
	return nil
}

// registerInput is the registration form.
type registerInput struct {
	Email           string `json:"email"`
	Password        string `json:"password"`
	ConfirmPassword string `json:"confirm_password"`
	AgeConfirmed    bool   `json:"age_confirmed"`
	TermsAccepted   bool   `json:"terms_accepted"`
}

// register creates an account and mails its verification link. When the
// email is taken it mails the owner instead, so the response never tells
// whether an account exists; both are one database statement, so neither
// does its timing.
func (a *app) register(ctx context.Context, in registerInput) error {
	var f fields
	email := validEmail("email", in.Email, &f)
	checkPassword("password", in.Password, email, &f)
	if in.ConfirmPassword != in.Password {
		f.add("confirm_password", "The passwords do not match.")
	}
	if !in.AgeConfirmed {
		f.add("age_confirmed", "Confirm that you are 18 or older.")
	}
	if !in.TermsAccepted {
		f.add("terms_accepted", "Accept the Terms of Service and Privacy Policy.")
	}
	if err := f.err(); err != nil {
		return err
	}
	h, err := a.hash(in.Password)
	if err != nil {
		return err
	}
	now := a.Now()
	secret := newSecret()
	err = a.DB.Register(ctx, store.NewAccount{Email: email, PasswordHash: h, AgeConfirmedAt: now, TermsAcceptedAt: now},
		hashSecret(secret), a.verificationMail(email, secret), store.OutboxMail{
			Subject: "You already have a PickMyClass account",
			Text: "Someone (probably you) tried to register " + email + " on PickMyClass, which already has an account.\n\n" +
				"Sign in: " + a.BaseURL + "/login\nForgot your password? " + a.BaseURL + "/forgot-password\n\nIf it was not you, ignore this email.",
			ExpiresAt: now.Add(verifyTTL),
		})
	if err != nil {
		return err
	}
	a.Outbox.Wake()
	return nil
}

// sendVerification issues a single-use verification link and queues its
// mail.
func (a *app) sendVerification(ctx context.Context, u store.User) error {
	secret := newSecret()
	if err := a.DB.IssueTokenMail(ctx, hashSecret(secret), u.ID, store.PurposeVerifyEmail, a.verificationMail(u.Email, secret)); err != nil {
		return err
	}
	a.Outbox.Wake()
	return nil
}

// verificationMail is the mail that carries the verification link secret.
func (a *app) verificationMail(to, secret string) store.OutboxMail {
	link := a.BaseURL + "/verify-email?token=" + secret
	return store.OutboxMail{
		To:      to,
		Subject: "Confirm your email for PickMyClass",
		Text:    "Welcome to PickMyClass!\n\nConfirm your email address to start watching classes:\n" + link + "\n\nThe link works once, for 24 hours. If you did not sign up, ignore this email.",
		HTML: `<p>Welcome to PickMyClass!</p><p><a href="` + link + `">Confirm your email address</a> to start watching classes.</p>` +
			`<p>The link works once, for 24 hours. If you did not sign up, ignore this email.</p>`,
		ExpiresAt: a.Now().Add(verifyTTL),
	}
}

// queueMail puts m in the outbox, which sends it in the background: a
// request never waits on SMTP, so neither its answer nor its timing depends
// on whether mail could be sent (nor reveals the account).
func (a *app) queueMail(ctx context.Context, m store.OutboxMail) error {
	if err := a.DB.QueueMail(ctx, m); err != nil {
		return err
	}
	a.Outbox.Wake()
	return nil
}

// loginError is the one answer to a wrong email or password.
var loginError = errorf(http.StatusUnauthorized, "Incorrect email or password.")

// login checks credentials under the lockout rule: an (email, client)
// pair gets 5 password checks per 15 minutes since its last success,
// whether or not an account has the email. Each check is reserved before
// bcrypt runs, so parallel requests cannot try more.
func (a *app) login(c echo.Context, email, password string) (store.User, error) {
	ctx := c.Request().Context()
	var f fields
	email = validEmail("email", email, &f)
	if password == "" {
		f.add("password", "Enter your password.")
	} else if len(password) > maxPassword {
		f.add("password", fmt.Sprintf("Passwords are at most %d bytes.", maxPassword))
	}
	if err := f.err(); err != nil {
		return store.User{}, err
	}
	now := a.Now()
	res, err := a.DB.ReserveLoginAttempt(ctx, email, c.RealIP(), now, lockoutWindow, lockoutFailures)
	if err != nil {
		return store.User{}, err
	}
	if res.ID == 0 {
		return store.User{}, lockedError(res.LockedUntil, now)
	}
	u, err := a.DB.GetUserByEmail(ctx, email)
	hash := a.dummyHash
	if err == nil {
		hash = []byte(u.PasswordHash)
	} else if !errors.Is(err, store.ErrNotFound) {
		return store.User{}, err
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil || err != nil {
		if !res.LockedUntil.IsZero() {
			return store.User{}, lockedError(res.LockedUntil, now)
		}
		return store.User{}, loginError
	}
	if err := a.DB.LoginSucceeded(ctx, res.ID); err != nil {
		return store.User{}, err
	}
	a.upgradeHash(ctx, u, password)
	if u.DisabledAt != nil {
		return store.User{}, errorf(http.StatusForbidden, "This account is disabled. Contact support@pickmyclass.app if you think this is a mistake.")
	}
	return u, nil
}

// currentPasswordOK checks a signed-in user's password before a sensitive
// change, under the same lockout as sign-in: someone holding a stolen
// session gets no more guesses here than at the login form. It returns
// false for a wrong password, or the lockout error.
func (a *app) currentPasswordOK(c echo.Context, u *store.User, password string) (bool, error) {
	ctx := c.Request().Context()
	now := a.Now()
	res, err := a.DB.ReserveLoginAttempt(ctx, u.Email, c.RealIP(), now, lockoutWindow, lockoutFailures)
	if err != nil {
		return false, err
	}
	if res.ID == 0 {
		return false, lockedError(res.LockedUntil, now)
	}
	if len(password) > maxPassword || bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(password)) != nil {
		if !res.LockedUntil.IsZero() {
			return false, lockedError(res.LockedUntil, now)
		}
		return false, nil
	}
	return true, a.DB.LoginSucceeded(ctx, res.ID)
}

// upgradeHash rehashes a password hashed at a lower cost than today's, now
// that the password is known: old accounts reach the current cost as they
// sign in. A failure is logged; the old hash keeps working.
func (a *app) upgradeHash(ctx context.Context, u store.User, password string) {
	if cost, err := bcrypt.Cost([]byte(u.PasswordHash)); err != nil || cost >= a.PasswordCost {
		return
	}
	h, err := a.hash(password)
	if err == nil {
		err = a.DB.ReplacePasswordHash(ctx, u.ID, u.PasswordHash, h)
	}
	if err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("upgrade password hash")
	}
}

// lockedError is the answer to a locked (email, client) pair.
func lockedError(until, now time.Time) error {
	wait := until.Sub(now)
	mins := int((wait + time.Minute - 1) / time.Minute)
	e := errorf(http.StatusTooManyRequests, fmt.Sprintf("Too many failed sign-in attempts. Try again in %d minute(s), or reset your password.", mins))
	e.RetryAfter = int(wait.Seconds()) + 1
	return e
}

// forgot queues a reset link when an account has the email. Both cases are
// one and the same database statement and no mail is sent during the
// request, so neither the answer nor its timing tells them apart.
func (a *app) forgot(ctx context.Context, email string) error {
	var f fields
	email = validEmail("email", email, &f)
	if err := f.err(); err != nil {
		return err
	}
	secret := newSecret()
	link := a.BaseURL + "/reset-password?token=" + secret
	err := a.DB.RequestPasswordReset(ctx, email, hashSecret(secret), store.OutboxMail{
		Subject: "Reset your PickMyClass password",
		Text:    "Choose a new password for PickMyClass:\n" + link + "\n\nThe link works once, for one hour. If you did not ask for it, ignore this email; your password stays the same.",
		HTML: `<p><a href="` + link + `">Choose a new password</a> for PickMyClass.</p>` +
			`<p>The link works once, for one hour. If you did not ask for it, ignore this email; your password stays the same.</p>`,
		ExpiresAt: a.Now().Add(resetTTL),
	})
	if err != nil {
		return err
	}
	a.Outbox.Wake()
	return nil
}

// resetInput is the reset form.
type resetInput struct {
	Token           string `json:"token"`
	Password        string `json:"password"`
	ConfirmPassword string `json:"confirm_password"`
}

// reset sets a new password from a reset link and ends every session.
func (a *app) reset(ctx context.Context, in resetInput) error {
	var f fields
	if in.Token == "" || len(in.Token) > 100 {
		f.add("token", "This reset link is invalid.")
	}
	checkPassword("password", in.Password, "", &f)
	if in.ConfirmPassword != in.Password {
		f.add("confirm_password", "The passwords do not match.")
	}
	if err := f.err(); err != nil {
		return err
	}
	h, err := a.hash(in.Password)
	if err != nil {
		return err
	}
	uid, err := a.DB.ConsumeToken(ctx, hashSecret(in.Token), store.PurposeResetPassword, a.Now())
	if errors.Is(err, store.ErrNotFound) {
		return invalid(FieldError{Field: "token", Message: "This reset link is invalid, used or expired. Ask for a new one."})
	}
	if err != nil {
		return err
	}
	// A working reset link proves the address too.
	if err := a.DB.MarkVerified(ctx, uid); err != nil {
		return err
	}
	if err := a.DB.SetPasswordWithNotice(ctx, uid, h, nil, a.passwordChangedNotice("reset with a link sent to this address")); err != nil {
		return err
	}
	a.Outbox.Wake()
	return nil
}

// passwordChangedNotice tells an account's owner that its password was
// changed (how), so a change they did not make does not go unnoticed.
func (a *app) passwordChangedNotice(how string) store.OutboxMail {
	when := a.Now().UTC().Format("Jan 2, 2006 15:04 UTC")
	return store.OutboxMail{
		Subject: "Your PickMyClass password was changed",
		Text: "The password of your PickMyClass account was " + how + " on " + when + ". Every other session was signed out.\n\n" +
			"If this was you, there is nothing to do.\n\nIf it was not, choose a new password now: " + a.BaseURL + "/forgot-password\n" +
			"and tell us at support@pickmyclass.app.",
		HTML: `<p>The password of your PickMyClass account was ` + how + ` on ` + when + `. Every other session was signed out.</p>` +
			`<p>If this was you, there is nothing to do.</p><p>If it was not, <a href="` + a.BaseURL + `/forgot-password">choose a new password now</a> ` +
			`and tell us at support@pickmyclass.app.</p>`,
		ExpiresAt: a.Now().Add(verifyTTL),
	}
}

// verify consumes an email verification link.
func (a *app) verify(ctx context.Context, token string) error {
	if token == "" || len(token) > 100 {
		return invalid(FieldError{Field: "token", Message: "This verification link is invalid."})
	}
	uid, err := a.DB.ConsumeToken(ctx, hashSecret(token), store.PurposeVerifyEmail, a.Now())
	if errors.Is(err, store.ErrNotFound) {
		return invalid(FieldError{Field: "token", Message: "This verification link is invalid, used or expired. Sign in to get a new one."})
	}
	if err != nil {
		return err
	}
	return a.DB.MarkVerified(ctx, uid)
}

// passwordInput is the change-password form.
type passwordInput struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
	ConfirmPassword string `json:"confirm_password"`
}

// changePassword replaces the signed-in user's password, ending their
// other sessions.
func (a *app) changePassword(c echo.Context, in passwordInput) error {
	u := currentUser(c)
	var f fields
	checkPassword("new_password", in.NewPassword, u.Email, &f)
	if in.ConfirmPassword != in.NewPassword {
		f.add("confirm_password", "The passwords do not match.")
	}
	// The current password is checked (and counted) only for a request
	// that is otherwise valid.
	if err := f.err(); err != nil {
		return err
	}
	ok, err := a.currentPasswordOK(c, u, in.CurrentPassword)
	if err != nil {
		return err
	}
	if !ok {
		return invalid(FieldError{Field: "current_password", Message: "Your current password is not right."})
	}
	h, err := a.hash(in.NewPassword)
	if err != nil {
		return err
	}
	keep, _ := c.Get(ctxSession).([]byte)
	if err := a.DB.SetPasswordWithNotice(c.Request().Context(), u.ID, h, keep, a.passwordChangedNotice("changed in your account settings")); err != nil {
		return err
	}
	a.Outbox.Wake()
	return nil
}

// userJSON is the API's view of the signed-in user.
func userJSON(u *store.User) map[string]any {
	return map[string]any{
		"id": u.ID, "email": u.Email, "verified": u.VerifiedAt != nil, "is_admin": u.IsAdmin,
		"notifications_enabled": u.NotifyEmail && u.UnsubscribedAt == nil,
		"email_bounced":         u.BouncedAt != nil, "spam_complaint": u.ComplainedAt != nil,
		"created_at": u.CreatedAt, "alerts_paused_until": pausedUntil(u, time.Now()),
	}
}

// ---- JSON handlers ----

func (a *app) apiCSRF(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"csrf_token": csrfToken(c)})
}

func (a *app) apiMe(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]any{"user": userJSON(currentUser(c))})
}

func (a *app) apiRegister(c echo.Context) error {
	var in registerInput
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if err := a.register(c.Request().Context(), in); err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, map[string]string{"message": "Check your inbox for a link to confirm your email address."})
}

func (a *app) apiLogin(c echo.Context) error {
	var in struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	u, err := a.login(c, in.Email, in.Password)
	if err != nil {
		return err
	}
	if err := a.startSession(c, u); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"user": userJSON(&u), "csrf_token": csrfToken(c)})
}

func (a *app) apiLogout(c echo.Context) error {
	if err := a.endSession(c); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (a *app) apiForgot(c echo.Context) error {
	var in struct {
		Email string `json:"email"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if err := a.forgot(c.Request().Context(), in.Email); err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, map[string]string{"message": "If an account has that email, a reset link is on its way."})
}

func (a *app) apiReset(c echo.Context) error {
	var in resetInput
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if err := a.reset(c.Request().Context(), in); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]string{"message": "Your password was changed. Sign in with the new one."})
}

func (a *app) apiVerify(c echo.Context) error {
	var in struct {
		Token string `json:"token"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if err := a.verify(c.Request().Context(), in.Token); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]string{"message": "Your email address is confirmed."})
}

func (a *app) apiResend(c echo.Context) error {
	u := currentUser(c)
	if u.VerifiedAt != nil {
		return errorf(http.StatusConflict, "Your email address is already confirmed.")
	}
	if err := a.sendVerification(c.Request().Context(), *u); err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, map[string]string{"message": "A new confirmation link is on its way."})
}

func (a *app) apiPassword(c echo.Context) error {
	var in passwordInput
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if err := a.changePassword(c, in); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]string{"message": "Your password was changed; your other sessions were signed out."})
}

// ---- HTML handlers ----

// formErr re-renders page with the field errors of err, or returns err
// when it is not a field-level problem.
func (a *app) formErr(c echo.Context, page, title string, err error, form map[string]string, data any) error {
	var e *Error
	if errors.As(err, &e) && (len(e.Details) > 0 || e.Status == http.StatusUnauthorized || e.Status == http.StatusTooManyRequests || e.Status == http.StatusForbidden || e.Status == http.StatusConflict || e.Status == http.StatusUnprocessableEntity || e.Status == http.StatusNotFound) {
		errs := byField(err)
		if len(e.Details) == 0 {
			errs["form"] = e.Message
		}
		if e.RetryAfter > 0 {
			c.Response().Header().Set("Retry-After", itoa(e.RetryAfter))
		}
		return a.render(c, e.Status, page, pageData{Title: title, Errors: errs, Form: form, Data: data})
	}
	return err
}

func (a *app) signedInHome(c echo.Context) error {
	if u := currentUser(c); u != nil {
		if u.VerifiedAt == nil {
			return c.Redirect(http.StatusSeeOther, "/verify-email")
		}
		return c.Redirect(http.StatusSeeOther, "/dashboard")
	}
	return nil
}

func (a *app) registerPage(c echo.Context) error {
	if currentUser(c) != nil {
		return a.signedInHome(c)
	}
	return a.render(c, http.StatusOK, "register", pageData{Title: "Create your account"})
}

func (a *app) registerForm(c echo.Context) error {
	in := registerInput{
		Email: c.FormValue("email"), Password: c.FormValue("password"), ConfirmPassword: c.FormValue("confirm_password"),
		AgeConfirmed: c.FormValue("age_confirmed") != "", TermsAccepted: c.FormValue("terms_accepted") != "",
	}
	if err := a.register(c.Request().Context(), in); err != nil {
		return a.formErr(c, "register", "Create your account", err, map[string]string{"email": in.Email}, nil)
	}
	return a.render(c, http.StatusOK, "checkinbox", pageData{Title: "Check your inbox", Data: store.NormalizeEmail(in.Email)})
}

func (a *app) loginPage(c echo.Context) error {
	if currentUser(c) != nil {
		return a.signedInHome(c)
	}
	return a.render(c, http.StatusOK, "login", pageData{Title: "Sign in", Flash: loginFlash(c.QueryParam("m"))})
}

// loginFlash turns a known message key into text; arbitrary text from the
// query string is never shown.
func loginFlash(key string) string {
	return map[string]string{
		"verified": "Your email address is confirmed. Sign in to continue.",
		"reset":    "Your password was changed. Sign in with the new one.",
		"deleted":  "Your account was deleted. Sorry to see you go.",
		"out":      "You are signed out.",
	}[key]
}

func (a *app) loginForm(c echo.Context) error {
	email := c.FormValue("email")
	u, err := a.login(c, email, c.FormValue("password"))
	if err != nil {
		return a.formErr(c, "login", "Sign in", err, map[string]string{"email": email}, nil)
	}
	if err := a.startSession(c, u); err != nil {
		return err
	}
	if u.VerifiedAt == nil {
		return c.Redirect(http.StatusSeeOther, "/verify-email")
	}
	return c.Redirect(http.StatusSeeOther, "/dashboard")
}

func (a *app) logoutForm(c echo.Context) error {
	if err := a.endSession(c); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/login?m=out")
}

func (a *app) forgotPage(c echo.Context) error {
	return a.render(c, http.StatusOK, "forgot", pageData{Title: "Reset your password"})
}

func (a *app) forgotForm(c echo.Context) error {
	email := c.FormValue("email")
	if err := a.forgot(c.Request().Context(), email); err != nil {
		return a.formErr(c, "forgot", "Reset your password", err, map[string]string{"email": email}, nil)
	}
	return a.render(c, http.StatusOK, "forgot", pageData{Title: "Reset your password",
		Flash: "If an account has that email, a reset link is on its way. It works for one hour."})
}

func (a *app) resetPage(c echo.Context) error {
	return a.render(c, http.StatusOK, "reset", pageData{Title: "Choose a new password", Form: map[string]string{"token": c.QueryParam("token")}})
}

func (a *app) resetForm(c echo.Context) error {
	in := resetInput{Token: c.FormValue("token"), Password: c.FormValue("password"), ConfirmPassword: c.FormValue("confirm_password")}
	if err := a.reset(c.Request().Context(), in); err != nil {
		return a.formErr(c, "reset", "Choose a new password", err, map[string]string{"token": in.Token}, nil)
	}
	// Every session ended, this browser's too.
	c.SetCookie(a.cookie(sessionCookie, "", -1))
	return c.Redirect(http.StatusSeeOther, "/login?m=reset")
}

// verifyPage shows the confirmation button for a link (a GET confirms
// nothing: mail scanners follow links), or tells a signed-in unverified
// user to check their inbox.
func (a *app) verifyPage(c echo.Context) error {
	token := c.QueryParam("token")
	if token == "" {
		if u := currentUser(c); u == nil || u.VerifiedAt != nil {
			return a.signedInHomeOr(c, "/login")
		}
	}
	// No text from the query string is shown: a link could make the page
	// say anything.
	return a.render(c, http.StatusOK, "verify", pageData{Title: "Confirm your email", Form: map[string]string{"token": token}})
}

func (a *app) signedInHomeOr(c echo.Context, path string) error {
	if currentUser(c) != nil {
		return a.signedInHome(c)
	}
	return c.Redirect(http.StatusSeeOther, path)
}

func (a *app) verifyForm(c echo.Context) error {
	token := c.FormValue("token")
	if err := a.verify(c.Request().Context(), token); err != nil {
		return a.formErr(c, "verify", "Confirm your email", err, map[string]string{"token": token}, nil)
	}
	if u := currentUser(c); u != nil {
		return c.Redirect(http.StatusSeeOther, "/dashboard")
	}
	return c.Redirect(http.StatusSeeOther, "/login?m=verified")
}

func (a *app) resendForm(c echo.Context) error {
	u := currentUser(c)
	if u.VerifiedAt != nil {
		return c.Redirect(http.StatusSeeOther, "/dashboard")
	}
	if err := a.sendVerification(c.Request().Context(), *u); err != nil {
		return err
	}
	return a.render(c, http.StatusOK, "verify", pageData{Title: "Confirm your email", Flash: "A new confirmation link is on its way."})
}
