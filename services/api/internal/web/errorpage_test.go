package web_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// A browser gets the same field messages as a JSON client, on the HTML
// error page.
func TestHTMLErrorPageNamesTheFields(t *testing.T) {
	t.Parallel()
	e := setup(t)
	req, err := http.NewRequest("GET", e.url+"/go/asu?term=fall&classNbr=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	body := string(b)
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(res.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("status %d, content type %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	for _, want := range []string{"<strong>term</strong>", "<strong>classNbr</strong>"} {
		if !strings.Contains(body, want) {
			t.Errorf("error page lacks %s:\n%s", want, body)
		}
	}
}
