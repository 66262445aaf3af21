package web_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/check"
	"github.com/pickmyclass/pickmyclass/pkg/store"
	"github.com/pickmyclass/pickmyclass/pkg/testenv"
)

// chromiumPath is where Debian's chromium package puts the browser.
const chromiumPath = "/usr/bin/chromium"

// browserPath returns a Chromium to drive. When /usr/bin/chromium is missing
// it runs testdata/install-chromium.sh; when that fails too the test skips,
// except under CI=true (testenv.Required), where it fails.
func browserPath(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err == nil {
		return chromiumPath
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "bash", filepath.Join("testdata", "install-chromium.sh")).CombinedOutput()
	if _, statErr := os.Stat(chromiumPath); statErr == nil {
		return chromiumPath
	}
	msg := fmt.Sprintf("chromium is not installed and testdata/install-chromium.sh failed (%v):\n%s", err, tail(string(out), 2000))
	if testenv.Required() {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// artifactsDir is where screenshots go: $PMC_ARTIFACTS_DIR/screenshots, or
// testdata/screenshots (ignored by git).
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join("testdata", "screenshots")
	if d := os.Getenv("PMC_ARTIFACTS_DIR"); d != "" {
		dir = filepath.Join(d, "screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browser is one headless Chromium tab pointed at a test server.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string
	dir  string
}

// newBrowser starts headless Chromium with a fresh profile. Every step of
// the test runs under ctx, which bounds the whole browser session.
func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	exe := browserPath(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-features", "Translate,MediaRouter,OptimizationHints"),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("password-store", "basic"),
	}
	root, stop := context.WithTimeout(context.Background(), 3*time.Minute)
	actx, cancelAlloc := chromedp.NewExecAllocator(root, opts...)
	ctx, cancelCtx := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
		stop()
	})
	// The first Run starts the browser.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return &browser{t: t, ctx: ctx, base: base, dir: artifactsDir(t)}
}

// do runs the steps, each wait bounded by 30 seconds, and fails the test
// with what for on error.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		loc, _ := chromedp.Run(b.ctx, chromedp.Location())
		b.t.Fatalf("%s (at %s): %v", what, loc, err)
	}
}

// open navigates to path on the test server.
func (b *browser) open(path string) chromedp.Action[chromedp.Void] {
	return chromedp.Navigate(b.base + path)
}

// shot writes a full-page PNG screenshot named name.png.
func (b *browser) shot(name string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		png, err := chromedp.FullScreenshot(100)(ctx, t)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(b.dir, name+".png"), png, 0o644)
	})
}

// viewport sets the page width (390 is a phone, 1280 a desktop) and the
// colour scheme the page sees through prefers-color-scheme.
func viewport(width int64, scheme string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		var opts []chromedp.EmulateViewportOption
		height := int64(900)
		if width < 600 {
			height = 844
			opts = append(opts, chromedp.EmulateScale(1), chromedp.EmulatePortrait)
		}
		if _, err := chromedp.EmulateViewport(width, height, opts...)(ctx, t); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
		})
		return err
	})
}

// shots captures the current page at phone and desktop width, light, and
// at phone width in dark mode, then restores the desktop light view.
func (b *browser) shots(name string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		viewport(390, "light"), b.shot(name+"-phone"),
		viewport(390, "dark"), b.shot(name+"-phone-dark"),
		viewport(1280, "light"), b.shot(name+"-desktop"),
	)
}

// text is an XPath selector for an element of kind tag whose text contains s.
func text(tag, s string) chromedp.Search {
	return chromedp.Search(fmt.Sprintf(`//%s[contains(normalize-space(.), %q)]`, tag, s))
}

// TestBrowserJourney drives the web app in real headless Chromium: register,
// confirm the email through the link sent to the SMTP sink, sign in, add a
// watch, see the dashboard update live when a worker publishes a change,
// remove the watch with confirmation and sign out. It writes screenshots of
// the main pages to testdata/screenshots (or $PMC_ARTIFACTS_DIR).
func TestBrowserJourney(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	e := setup(t)
	b := newBrowser(t, e.url)
	const email = "student@example.edu"

	// Landing page, then sign up from its header.
	b.do("landing",
		viewport(1280, "light"),
		b.open("/"),
		chromedp.WaitVisible(chromedp.CSS(".hero h1")),
		b.shots("landing"),
		chromedp.Click(chromedp.CSS(`header.site a[href="/register"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/register"]`)),
		b.shots("register"),
	)
	b.do("register",
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), testPassword),
		chromedp.SendKeys(chromedp.ID("confirm_password"), testPassword),
		chromedp.Click(chromedp.ID("age_confirmed")),
		chromedp.Click(chromedp.ID("terms_accepted")),
		chromedp.Click(chromedp.CSS(`form[action="/register"] button[type=submit]`)),
		chromedp.WaitVisible(text("h1", "Check your inbox")),
	)

	// The verification link from the email, opened in the browser.
	token := tokenOf(e.mailLink(1, email))
	if token == "" {
		t.Fatal("no token in the verification link")
	}
	b.do("verify email",
		b.open("/verify-email?token="+token),
		chromedp.Click(chromedp.CSS(`form[action="/verify-email"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/login"]`)),
		b.shots("login"),
	)
	b.do("sign in",
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), testPassword),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type=submit]`)),
		chromedp.WaitVisible(text("h2", "No classes yet")),
		b.shots("dashboard-empty"),
	)

	// Add a watch: term select and class number, looked up in the catalog
	// and shown before it is added.
	b.do("add watch",
		chromedp.Click(text("a", "Add your first class")),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/dashboard/add"]`)),
		chromedp.SetValue(chromedp.ID("term"), "2267"),
		chromedp.SendKeys(chromedp.ID("class_nbr"), "99999"),
		chromedp.Click(chromedp.ID("lookup")),
		chromedp.WaitVisible(chromedp.ID("class-error")),
		b.shots("add-watch-error"),
		chromedp.Clear(chromedp.ID("class_nbr")),
		chromedp.SendKeys(chromedp.ID("class_nbr"), "70412"),
		b.shots("add-watch"),
		chromedp.Click(chromedp.ID("lookup")),
		chromedp.WaitVisible(text("h3", "CSE 240")),
		chromedp.Click(chromedp.ID("watch-section")),
		chromedp.WaitVisible(chromedp.CSS(`article.card[data-watch]`)),
		chromedp.WaitVisible(text("p", "Now watching CSE 240")),
	)
	ws, err := e.db.ListWatches(context.Background(), mustUserID(t, e, email))
	if err != nil || len(ws) != 1 {
		t.Fatalf("watches = %v, %v", ws, err)
	}
	card := fmt.Sprintf("watch-%d", ws[0].ID)

	// The page subscribes to live updates; wait until it says so, and mark
	// the document so a reload would show.
	b.do("live connection",
		chromedp.WaitVisible(text(`dd[@id="live-status"]`, "Live")),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](`window.pmcNoReload = true`)(ctx, t)
			return err
		}),
	)

	// A worker's first check finds the class full; a later one finds a seat.
	key := catalog.SectionKey{Term: "2267", ClassNbr: "70412"}
	workerCheck(t, e, key, 100)
	b.do("live update: full",
		chromedp.WaitVisible(text(`article[@id="`+card+`"]//p`, "0 of 100 seats open")),
		chromedp.WaitVisible(chromedp.Search(`//dd[@id="count-full"][normalize-space(.)="1"]`)),
	)
	workerCheck(t, e, key, 99)
	b.do("live update: open",
		chromedp.WaitVisible(text(`article[@id="`+card+`"]//p`, "1 of 100 seats open")),
		chromedp.WaitVisible(chromedp.CSS(`#`+card+`.status-open .badge[data-status=open]`)),
		// The summary figures follow the cards.
		chromedp.WaitVisible(chromedp.Search(`//dd[@id="count-open"][normalize-space(.)="1"]`)),
		chromedp.WaitVisible(chromedp.Search(`//dd[@id="count-full"][normalize-space(.)="0"]`)),
	)
	noReload, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`window.pmcNoReload === true`))
	if err != nil || !noReload {
		t.Fatalf("the dashboard reloaded instead of updating in place (%v)", err)
	}
	b.do("dashboard", b.shots("dashboard"))

	// Any section of a course, in person, from the add page's course form.
	b.do("add course watch",
		b.open("/dashboard/add"),
		chromedp.WaitVisible(chromedp.ID("by-course")),
		chromedp.SetValue(chromedp.ID("course_term"), "2267"),
		chromedp.SendKeys(chromedp.ID("subject"), "cse"),
		chromedp.SendKeys(chromedp.ID("catalog_nbr"), "240"),
		chromedp.SetValue(chromedp.ID("mode"), "in_person"),
		chromedp.Click(chromedp.ID("course-gone")),
		b.shots("add-course"),
		chromedp.Click(chromedp.ID("watch-course")),
		chromedp.WaitVisible(text("p", "Now watching any section of CSE 240")),
	)
	// A lecture with any of its labs: the looked-up lecture lists them.
	b.do("add lecture with labs",
		b.open("/dashboard/add"),
		chromedp.SetValue(chromedp.ID("term"), "2267"),
		chromedp.SendKeys(chromedp.ID("class_nbr"), "71001"),
		chromedp.Click(chromedp.ID("lookup")),
		chromedp.WaitVisible(text("h4", "Labs and recitations of this lecture")),
		chromedp.WaitVisible(chromedp.CSS(`#found li[data-class="71003"]`)),
		b.shots("add-lecture-labs"),
		chromedp.Click(chromedp.ID("watch-linked")),
		chromedp.WaitVisible(text("p", "Now watching BIO 181 #71001 with a lab")),
	)
	ws, err = e.db.ListWatches(context.Background(), mustUserID(t, e, email))
	if err != nil || len(ws) != 3 || ws[1].Kind != catalog.WatchCourse || ws[2].Kind != catalog.WatchLinked || !ws[1].NotifyGone {
		t.Fatalf("watches = %+v, %v", ws, err)
	}
	courseCard, linkedCard := fmt.Sprintf("watch-%d", ws[1].ID), fmt.Sprintf("watch-%d", ws[2].ID)
	b.do("live connection for the new cards",
		chromedp.WaitVisible(text(`dd[@id="live-status"]`, "Live")),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](`window.pmcNoReload = true`)(ctx, t)
			return err
		}),
	)
	// The workers check both courses whole; the cards fill in, then follow
	// the seats.
	courseCheck(t, e, cse240)
	courseCheck(t, e, bio181)
	b.do("live update: course and linked cards",
		chromedp.WaitVisible(text(`article[@id="`+courseCard+`"]//p`, "2 of 2 sections match")),
		chromedp.WaitVisible(chromedp.CSS(`#`+courseCard+` li[data-class="70413"].status-open`)),
		chromedp.WaitVisible(chromedp.CSS(`#`+linkedCard+` .badge[data-status=full]`)),
		chromedp.WaitVisible(text(`article[@id="`+linkedCard+`"]//span`, "Lecture full")),
	)
	seats(t, e, "71001", 140)
	seats(t, e, "71002", 21)
	courseCheck(t, e, bio181)
	seats(t, e, "70412", 90)
	courseCheck(t, e, cse240)
	b.do("live update: lecture and lab open, a course section opens",
		chromedp.WaitVisible(chromedp.CSS(`#`+linkedCard+`.status-open .badge[data-status=open]`)),
		chromedp.WaitVisible(text(`article[@id="`+linkedCard+`"]//span`, "Lecture and a lab open")),
		chromedp.WaitVisible(text(`article[@id="`+linkedCard+`"]//li[@data-class="71002"]`, "3 of 24 seats open")),
		chromedp.WaitVisible(text(`article[@id="`+courseCard+`"]//li[@data-class="70412"]`, "10 of 100 seats open")),
		chromedp.WaitVisible(chromedp.Search(`//dd[@id="count-open"][normalize-space(.)="3"]`)),
	)
	noReload, err = chromedp.Run(b.ctx, chromedp.Evaluate[bool](`window.pmcNoReload === true`))
	if err != nil || !noReload {
		t.Fatalf("the dashboard reloaded instead of updating the course and linked cards in place (%v)", err)
	}
	b.do("dashboard with course and linked watches", b.shots("dashboard-kinds"))

	// Pause the linked watch for a week from its card, then resume it.
	b.do("pause a watch",
		chromedp.Click(chromedp.CSS(`#`+linkedCard+` details.pause summary`)),
		chromedp.Click(chromedp.CSS(`#`+linkedCard+` form[action$="/pause"] button[value="1w"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#`+linkedCard+`.status-paused`)),
		chromedp.WaitVisible(text(`article[@id="`+linkedCard+`"]//p`, "No alerts until")),
		b.shots("dashboard-paused"),
		chromedp.Click(chromedp.CSS(`#`+linkedCard+` form[action$="/resume"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`#`+linkedCard+`.status-open`)),
	)
	// The course watch's settings: its filter, seat-gone notices, pause.
	b.do("course watch settings",
		chromedp.Click(chromedp.CSS(`#`+courseCard+` a[href$="/settings"]`)),
		chromedp.WaitVisible(text("h2", "Pause this watch")),
		chromedp.WaitReady(chromedp.CSS(`#mode option[value=in_person][selected]`)),
		chromedp.SendKeys(chromedp.ID("instructor"), "lovelace"),
		chromedp.Click(chromedp.CSS(`form[action$="/settings"] button[type=submit]`)),
		chromedp.WaitVisible(text("p", "Your alert settings were saved.")),
		b.shots("watch-settings-course"),
	)
	if ws, err := e.db.ListWatches(context.Background(), mustUserID(t, e, email)); err != nil || ws[1].Filter.Instructor != "lovelace" || !ws[1].NotifyGone {
		t.Fatalf("after the settings form: %+v, %v", ws, err)
	}

	// The section page with its seat history chart, and the settings page.
	b.do("section page",
		b.open("/dashboard"),
		chromedp.Click(chromedp.CSS(`#`+card+` a[href="/sections/2267/70412"]`)),
		chromedp.WaitVisible(text("h2", "Seat history")),
		chromedp.WaitVisible(chromedp.CSS("svg.chart")),
		b.shots("section"),
	)
	b.do("settings",
		chromedp.Click(chromedp.CSS(`header.site a[href="/settings"]`)),
		chromedp.WaitVisible(text("h2", "Alert emails")),
		b.shots("settings"),
	)

	// Remove the watch, confirming on the confirmation page.
	b.do("delete watch",
		b.open("/dashboard"),
		chromedp.Click(chromedp.CSS(`#`+card+` a.danger`)),
		chromedp.WaitVisible(text("h1", "Stop watching this class?")),
		b.shots("delete"),
		chromedp.Click(chromedp.CSS(`form[action$="/delete"] button.danger`)),
		chromedp.WaitVisible(text("p", "The class was removed")),
		chromedp.WaitNotPresent(chromedp.ID(card)),
	)
	if ws, err := e.db.ListWatches(context.Background(), mustUserID(t, e, email)); err != nil || len(ws) != 2 {
		t.Fatalf("after delete: watches = %v, %v", ws, err)
	}

	// Sign out; the dashboard then sends the browser to sign in.
	b.do("sign out",
		chromedp.Click(chromedp.CSS(`header.site form[action="/logout"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`header.site a[href="/register"]`)),
		b.open("/dashboard"),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/login"]`)),
	)

	// An administrator's overview.
	e.user("admin@example.edu", true)
	b.do("admin overview",
		chromedp.SendKeys(chromedp.ID("email"), "admin@example.edu"),
		chromedp.SendKeys(chromedp.ID("password"), testPassword),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`header.site a[href="/admin"]`)),
		b.open("/admin"),
		chromedp.WaitVisible(text("h1", "Overview")),
		b.shots("admin"),
	)
}

// mustUserID returns the id of the account with email.
func mustUserID(t *testing.T, e *env, email string) int64 {
	t.Helper()
	u, err := e.db.GetUserByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// workerCheck does what a worker does for one check: it sets the
// simulator's enrolment, reads the section from the catalog, stores it with
// store.ApplyCourse and publishes the changed keys on the updates channel.
func workerCheck(t *testing.T, e *env, key catalog.SectionKey, enrolled int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	spec, ok := e.sim.Section(key)
	if !ok {
		t.Fatalf("simulator has no %v", key)
	}
	if err := e.sim.SetSeats(key, enrolled, spec.Capacity); err != nil {
		t.Fatal(err)
	}
	sec, err := e.deps.Catalog.Section(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.db.ApplyCourse(ctx, store.CourseObservation{Course: sec.Course(), ObservedAt: time.Now(), Sections: []catalog.Section{sec}, Wanted: []string{key.ClassNbr}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Changed) == 0 {
		t.Fatalf("check of %v changed nothing: %+v", key, res)
	}
	msg, err := check.EncodeUpdate(res.Changed)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.rdb.Publish(ctx, e.keys.Updates(), msg).Err(); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}

// The screenshot directory must never be committed.
func TestScreenshotsIgnored(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", ".gitignore"))
	if err != nil || !strings.Contains(string(b), "screenshots/") {
		t.Fatalf("testdata/.gitignore must ignore screenshots/: %v", err)
	}
}
