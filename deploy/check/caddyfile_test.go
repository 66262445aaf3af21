package check

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// TestAccessLogDropsTokens: the links in our emails carry one-time secrets
// in ?token=; Caddy's access log must not keep them, in the request URI or
// in the Referer of the requests the linked page makes. (deploy/lint.sh
// also checks the adapted JSON config with caddy itself.)
func TestAccessLogDropsTokens(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(root, "Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile(`(?s)\n\tlog \{\n(.*?)\n\t\}\n`).FindSubmatch(b)
	if block == nil {
		t.Fatal("the site has no log block")
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^\s*format filter \{`),
		regexp.MustCompile(`(?m)^\s*wrap json$`),
		regexp.MustCompile(`(?s)request>uri query \{\s*delete token\s*\}`),
		regexp.MustCompile(`(?m)^\s*request>headers>Referer delete$`),
	} {
		if !want.Match(block[1]) {
			t.Errorf("the access log block lacks %s:\n%s", want, block[1])
		}
	}
}
