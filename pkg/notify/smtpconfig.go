package notify

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TLS modes for SMTPConfig.TLS.
const (
	TLSNone          = "none"          // plain text; only for a relay on a trusted network
	TLSStartTLS      = "starttls"      // upgrade with STARTTLS or fail (submission, port 587)
	TLSImplicit      = "tls"           // TLS from the first byte (port 465)
	TLSOpportunistic = "opportunistic" // STARTTLS when offered, plain text otherwise
)

// DefaultSMTPTimeout bounds each SMTP dial and command when
// SMTPConfig.Timeout is zero.
const DefaultSMTPTimeout = 30 * time.Second

// SMTPConfig configures an SMTP sender.
type SMTPConfig struct {
	Host string
	// Port defaults to 465 for TLSImplicit and 587 otherwise.
	Port int
	// Username enables SMTP AUTH with the strongest mechanism the server
	// offers. Without TLS only challenge-response mechanisms (SCRAM,
	// CRAM-MD5) are used, so a PLAIN-only server needs TLS.
	Username string
	Password string
	// TLS is one of the TLS* modes; empty means TLSStartTLS.
	TLS string
	// TLSConfig overrides the TLS settings (for example a private CA); nil
	// verifies the server's certificate against the system roots for Host.
	TLSConfig *tls.Config
	From      string // "PickMyClass <alerts@example.edu>"
	// Timeout bounds the dial and each SMTP command; zero means
	// DefaultSMTPTimeout.
	Timeout time.Duration
	// Metrics registers the sender's metrics; nil skips registration.
	Metrics prometheus.Registerer
}

// String describes the config with the password masked, so it can be logged.
func (c SMTPConfig) String() string {
	u := url.URL{Scheme: "smtp", Host: net.JoinHostPort(c.Host, strconv.Itoa(c.Port))}
	if c.Username != "" {
		u.User = url.UserPassword(c.Username, "xxxxx")
	}
	u.RawQuery = url.Values{"tls": {c.TLS}}.Encode()
	return fmt.Sprintf("%s from=%q timeout=%s", u.String(), c.From, c.Timeout)
}

// ParseSMTPURL parses an SMTP server URL such as
// "smtp://user:pass@smtp.example.com:587?tls=starttls" or
// "smtps://user:pass@smtp.example.com" into a config. The smtp scheme
// defaults to port 587 and STARTTLS, smtps to port 465 and implicit TLS; the
// tls query parameter overrides the mode. Special characters in the user
// name or password must be percent-encoded. From, Timeout and Metrics are
// left for the caller.
func ParseSMTPURL(raw string) (SMTPConfig, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return SMTPConfig{}, fmt.Errorf("parse smtp url: %w", err)
	}
	var cfg SMTPConfig
	switch u.Scheme {
	case "smtp":
		cfg.TLS, cfg.Port = TLSStartTLS, 587
	case "smtps":
		cfg.TLS, cfg.Port = TLSImplicit, 465
	default:
		return SMTPConfig{}, fmt.Errorf("parse smtp url: scheme %q is not smtp or smtps", u.Scheme)
	}
	cfg.Host = u.Hostname()
	if cfg.Host == "" {
		return SMTPConfig{}, errors.New("parse smtp url: no host")
	}
	if p := u.Port(); p != "" {
		if cfg.Port, err = strconv.Atoi(p); err != nil || cfg.Port < 1 || cfg.Port > 65535 {
			return SMTPConfig{}, fmt.Errorf("parse smtp url: bad port %q", p)
		}
	}
	if u.User != nil {
		cfg.Username = u.User.Username()
		cfg.Password, _ = u.User.Password()
	}
	for k, v := range u.Query() {
		if k != "tls" {
			// A misspelt option silently ignored would leave mail insecure
			// or undelivered; fail at start-up instead.
			return SMTPConfig{}, fmt.Errorf("parse smtp url: unknown parameter %q", k)
		}
		cfg.TLS = v[len(v)-1]
	}
	if !validTLSMode(cfg.TLS) {
		return SMTPConfig{}, fmt.Errorf("parse smtp url: tls=%q is not none, starttls, tls or opportunistic", cfg.TLS)
	}
	return cfg, nil
}

func validTLSMode(m string) bool {
	switch m {
	case TLSNone, TLSStartTLS, TLSImplicit, TLSOpportunistic:
		return true
	}
	return false
}

// NewSMTPFromURL is NewSMTP for an address in ParseSMTPURL's form and the
// sender's address, as the services configure it (SMTP_URL, MAIL_FROM).
func NewSMTPFromURL(rawURL, from string, reg prometheus.Registerer) (*SMTP, error) {
	cfg, err := ParseSMTPURL(rawURL)
	if err != nil {
		return nil, err
	}
	cfg.From, cfg.Metrics = from, reg
	return NewSMTP(cfg)
}
