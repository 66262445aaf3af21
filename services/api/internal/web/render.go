package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/pickmyclass/pickmyclass/pkg/catalog/asu"
	"github.com/pickmyclass/pickmyclass/pkg/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pageData is what every page template gets.
type pageData struct {
	Title  string
	User   *store.User
	CSRF   string
	Flash  string
	Errors map[string]string // field → message
	Form   map[string]string // field → submitted value
	Data   any
}

var funcs = template.FuncMap{
	"termName": asu.TermName,
	"when": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			if v.IsZero() {
				return "—"
			}
			return v.UTC().Format("Jan 2, 2006 15:04 UTC")
		case *time.Time:
			if v == nil {
				return "—"
			}
			return v.UTC().Format("Jan 2, 2006 15:04 UTC")
		}
		return fmt.Sprint(t)
	},
	"iso":   func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"deref": func(b *bool) bool { return b != nil && *b },
	"sub":   func(a, b int) int { return a - b },
	"lower": strings.ToLower,
	// capital starts a sentence with a capital letter.
	"capital": func(s string) string {
		r, n := utf8.DecodeRuneInString(s)
		return string(unicode.ToUpper(r)) + s[n:]
	},
}

// pages maps a page name to its template: the layout plus the page file,
// which defines "content". Partials (files starting with "_") are shared.
var pages = func() map[string]*template.Template {
	base := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/_*.html"))
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" || strings.HasPrefix(name, "_") {
			continue
		}
		out[name] = template.Must(template.Must(base.Clone()).ParseFS(templateFS, n))
	}
	return out
}()

// render writes page with the layout. Rendering into a buffer first means
// a template error becomes a clean 500, not half a page.
func (a *app) render(c echo.Context, status int, page string, d pageData) error {
	t, ok := pages[page]
	if !ok {
		return fmt.Errorf("no page %q", page)
	}
	d.User = currentUser(c)
	d.CSRF = csrfToken(c)
	if d.Errors == nil {
		d.Errors = map[string]string{}
	}
	if d.Form == nil {
		d.Form = map[string]string{}
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", d); err != nil {
		return fmt.Errorf("render %s: %w", page, err)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.HTMLBlob(status, buf.Bytes())
}

// renderPartial renders a shared partial (for live updates).
func renderPartial(name string, data any) (string, error) {
	var buf bytes.Buffer
	if err := pages["dashboard"].ExecuteTemplate(&buf, name, data); err != nil {
		return "", fmt.Errorf("render %s: %w", name, err)
	}
	return buf.String(), nil
}

func staticHandler() echo.HandlerFunc {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err)
	}
	h := http.StripPrefix("/static/", http.FileServer(http.FS(sub)))
	return func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", "public, max-age=3600")
		h.ServeHTTP(c.Response(), c.Request())
		return nil
	}
}
