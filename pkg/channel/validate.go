package channel

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"strings"
)

// ErrInvalidURL is returned for a channel URL that cannot be saved.
var ErrInvalidURL = errors.New("channel: invalid URL")

// officialHosts are the only hosts whose URLs Discord and Slack channels
// accept, with the path their incoming webhooks live under.
var officialHosts = map[Kind]map[string][]string{
	KindDiscord: {
		"discord.com":        {"/api/webhooks/", "/api/v10/webhooks/", "/api/v9/webhooks/"},
		"ptb.discord.com":    {"/api/webhooks/"},
		"canary.discord.com": {"/api/webhooks/"},
		"discordapp.com":     {"/api/webhooks/"},
	},
	KindSlack: {
		"hooks.slack.com": {"/services/", "/workflows/", "/triggers/"},
	},
}

// maxURL bounds a stored URL.
const maxURL = 2048

// ValidateURL checks a URL typed for a channel of kind k and returns it
// normalised. It must be HTTPS without credentials; Discord and Slack URLs
// must be on their official hosts; and the host must not resolve to a
// forbidden address now. The guard checks the address again at every send.
func (c *Client) ValidateURL(ctx context.Context, k Kind, raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", fmt.Errorf("%w: a URL is required", ErrInvalidURL)
	}
	if len(raw) > maxURL {
		return "", fmt.Errorf("%w: longer than %d characters", ErrInvalidURL, maxURL)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalidURL, err)
	}
	if u.Scheme != "https" {
		return "", fmt.Errorf("%w: it must start with https://", ErrInvalidURL)
	}
	if u.User != nil {
		return "", fmt.Errorf("%w: it must not contain a user name or password", ErrInvalidURL)
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return "", fmt.Errorf("%w: it has no host", ErrInvalidURL)
	}
	u.Host = strings.ToLower(u.Host)
	u.Fragment = ""
	if hosts, ok := officialHosts[k]; ok {
		prefixes, ok := hosts[host]
		if !ok || (u.Port() != "" && u.Port() != "443") {
			return "", fmt.Errorf("%w: a %s webhook URL must be on %s", ErrInvalidURL, k.Label(), strings.Join(hostNames(hosts), " or "))
		}
		if !hasAnyPrefix(u.Path, prefixes) {
			return "", fmt.Errorf("%w: this is not a %s incoming webhook URL", ErrInvalidURL, k.Label())
		}
	}
	if k == KindNtfy && strings.Trim(u.Path, "/") == "" {
		return "", fmt.Errorf("%w: an ntfy URL names a topic, like https://ntfy.sh/my-topic", ErrInvalidURL)
	}
	if err := checkHost(ctx, c.resolver, host); err != nil {
		if errors.Is(err, ErrForbiddenAddress) {
			return "", fmt.Errorf("%w: %s is a private or local address", ErrInvalidURL, host)
		}
		return "", fmt.Errorf("%w: %v", ErrInvalidURL, err)
	}
	return u.String(), nil
}

func hostNames(m map[string][]string) []string {
	var names []string
	for _, h := range []string{"discord.com", "hooks.slack.com"} {
		if _, ok := m[h]; ok {
			names = append(names, h)
		}
	}
	return names
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) && len(s) > len(p) {
			return true
		}
	}
	return false
}

// secretPrefix starts every webhook secret, as Standard Webhooks suggests.
const secretPrefix = "whsec_"

// NewWebhookSecret returns a fresh signing secret: whsec_ and 32 random
// bytes in base64.
func NewWebhookSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return secretPrefix + base64.StdEncoding.EncodeToString(b)
}

// NewCode returns a six-digit verification code.
func NewCode() string {
	n, _ := rand.Int(rand.Reader, big.NewInt(1_000_000)) // never fails
	return fmt.Sprintf("%06d", n.Int64())
}
