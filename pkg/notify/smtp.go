package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	gomail "github.com/wneessen/go-mail"

	"github.com/pickmyclass/pickmyclass/pkg/obs"
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

// SMTP sends email through an SMTP server. Each Send opens its own
// connection, so one SMTP serves any number of goroutines; SendBatch shares
// one connection among several messages.
type SMTP struct {
	client     *gomail.Client
	from       *mail.Address
	fromDomain string
	implicit   bool
	tlsConfig  *tls.Config
	timeout    time.Duration
	metrics    *smtpMetrics
}

// NewSMTP validates cfg and returns a sender. It does not connect: a mail
// server that is down at start-up should delay alerts, not stop the worker.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	if cfg.TLS == "" {
		cfg.TLS = TLSStartTLS
	}
	if cfg.Port == 0 {
		cfg.Port = 587
		if cfg.TLS == TLSImplicit {
			cfg.Port = 465
		}
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultSMTPTimeout
	}
	var problems []error
	if cfg.Host == "" {
		problems = append(problems, errors.New("smtp host is empty"))
	}
	if cfg.Port < 1 || cfg.Port > 65535 {
		problems = append(problems, fmt.Errorf("smtp port %d is out of range", cfg.Port))
	}
	if !validTLSMode(cfg.TLS) {
		problems = append(problems, fmt.Errorf("smtp tls mode %q is not none, starttls, tls or opportunistic", cfg.TLS))
	}
	if cfg.Timeout < 0 {
		problems = append(problems, fmt.Errorf("smtp timeout %s is negative", cfg.Timeout))
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		problems = append(problems, fmt.Errorf("smtp from %q: %w", cfg.From, err))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("notify: smtp config: %w", errors.Join(problems...))
	}

	tlsConfig := cfg.TLSConfig
	if tlsConfig == nil {
		tlsConfig = &tls.Config{ServerName: cfg.Host, MinVersion: tls.VersionTLS12}
	}
	s := &SMTP{
		from:       from,
		fromDomain: from.Address[strings.LastIndexByte(from.Address, '@')+1:],
		implicit:   cfg.TLS == TLSImplicit,
		tlsConfig:  tlsConfig,
		timeout:    cfg.Timeout,
	}
	opts := []gomail.Option{
		gomail.WithPort(cfg.Port),
		gomail.WithTimeout(cfg.Timeout),
		gomail.WithTLSConfig(tlsConfig),
		gomail.WithDialContextFunc(s.dial),
	}
	switch cfg.TLS {
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	case TLSStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	default:
		// Implicit TLS is dialled by s.dial; go-mail then finds the
		// connection already encrypted and, told to be opportunistic, does
		// not ask for STARTTLS on top.
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	}
	if cfg.Username != "" {
		// Auto-discovery picks the strongest mechanism the server offers and
		// never sends a password in the clear over an unencrypted link.
		opts = append(opts,
			gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(cfg.Username),
			gomail.WithPassword(cfg.Password))
	}
	if s.client, err = gomail.NewClient(cfg.Host, opts...); err != nil {
		return nil, fmt.Errorf("notify: smtp client: %w", err)
	}
	if s.metrics, err = newSMTPMetrics(cfg.Metrics); err != nil {
		return nil, fmt.Errorf("notify: smtp metrics: %w", err)
	}
	return s, nil
}

// Send delivers e over a new connection. It returns as soon as ctx ends,
// abandoning the connection; a message the server had already accepted
// counts as sent.
func (s *SMTP) Send(ctx context.Context, e Email) error {
	return s.SendBatch(ctx, []Email{e})[0]
}

// SendBatch delivers emails over one connection and returns one error per
// email, nil for each one delivered. A failure to connect fails them all.
func (s *SMTP) SendBatch(ctx context.Context, emails []Email) []error {
	start := time.Now()
	errs := s.sendBatch(ctx, emails)
	s.metrics.duration.Observe(time.Since(start).Seconds())
	for _, err := range errs {
		switch {
		case err == nil:
			s.metrics.sent.Inc()
		case errors.Is(err, ErrPermanent):
			s.metrics.permanent.Inc()
		default:
			s.metrics.temporary.Inc()
		}
	}
	return errs
}

func (s *SMTP) sendBatch(ctx context.Context, emails []Email) []error {
	errs := make([]error, len(emails))
	msgs := make([]*gomail.Msg, 0, len(emails))
	idx := make([]int, 0, len(emails)) // msgs[i] is emails[idx[i]]
	for i, e := range emails {
		m, err := s.message(e)
		if err != nil {
			errs[i] = fmt.Errorf("build email: %w: %w", ErrPermanent, err)
			continue
		}
		msgs = append(msgs, m)
		idx = append(idx, i)
	}
	if len(msgs) == 0 {
		return errs
	}
	fail := func(err error) []error {
		for _, i := range idx {
			errs[i] = err
		}
		return errs
	}
	if err := ctx.Err(); err != nil {
		return fail(fmt.Errorf("send email: %w", err))
	}

	// go-mail's context covers only the dial, and its commands hold a lock
	// while they wait for the server, so ctx is honoured by closing the raw
	// connection under them when it ends.
	conn := &connHolder{}
	stop := context.AfterFunc(ctx, conn.close)
	defer stop()
	defer conn.close()

	client, err := s.client.DialToSMTPClientWithContext(context.WithValue(ctx, connKey{}, conn))
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fail(fmt.Errorf("connect to smtp server: %w", ctxErr))
		}
		// Authentication and TLS failures land here too: they are our
		// configuration, not the message, so they stay temporary.
		return fail(fmt.Errorf("connect to smtp server: %w", err))
	}
	_ = s.client.SendWithSMTPClient(client, msgs...)
	for j, m := range msgs {
		i := idx[j]
		switch {
		case m.IsDelivered():
		case ctx.Err() != nil:
			errs[i] = fmt.Errorf("send email: %w", ctx.Err())
		case permanent(m.SendError()):
			errs[i] = fmt.Errorf("send email: %w: %w", ErrPermanent, m.SendError())
		case m.SendError() != nil:
			errs[i] = fmt.Errorf("send email: %w", m.SendError())
		default:
			errs[i] = errors.New("send email: not delivered")
		}
	}
	if ctx.Err() == nil {
		// Every message has its answer; a failed QUIT changes nothing.
		_ = s.client.CloseWithSMTPClient(client)
	}
	return errs
}

// permanent reports whether err is a 5xx reply to the recipient or the
// message. A 5xx to MAIL FROM is left temporary on purpose: it rejects our
// sender address, which is configuration that an operator fixes, and every
// alert queued meanwhile should still go out afterwards.
func permanent(err error) bool {
	var se *gomail.SendError
	if !errors.As(err, &se) {
		return false
	}
	switch se.Reason {
	case gomail.ErrSMTPRcptTo, gomail.ErrSMTPData, gomail.ErrSMTPDataClose:
		return se.ErrorCode() >= 500 && se.ErrorCode() < 600
	}
	return false
}

// reservedHeaders are set by the sender; Email.Headers may not override them.
var reservedHeaders = []string{
	"From", "To", "Cc", "Bcc", "Subject", "Date", "Message-Id", "Mime-Version",
	"Content-Type", "Content-Transfer-Encoding",
}

func (s *SMTP) message(e Email) (*gomail.Msg, error) {
	m := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	m.FromMailAddress(s.from)
	to, err := mail.ParseAddress(e.To)
	if err != nil {
		return nil, fmt.Errorf("recipient %q: %w", e.To, err)
	}
	m.ToMailAddress(to)
	if hasLineBreak(e.Subject) {
		return nil, errors.New("subject contains a line break")
	}
	m.SetGenHeaderPreformatted(gomail.HeaderSubject, foldHeader("Subject", e.Subject))
	if id := strings.Trim(e.MessageID, "<>"); id != "" {
		if hasLineBreak(id) || strings.ContainsAny(id, " <>") {
			return nil, fmt.Errorf("message id %q is malformed", e.MessageID)
		}
		if !strings.Contains(id, "@") {
			id += "@" + s.fromDomain
		}
		m.SetMessageIDWithValue(id)
	}
	m.SetDate()
	keys := make([]string, 0, len(e.Headers))
	for k := range e.Headers {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := e.Headers[k]
		canon := textproto.CanonicalMIMEHeaderKey(k)
		if slices.Contains(reservedHeaders, canon) {
			return nil, fmt.Errorf("header %s is set by the sender", k)
		}
		if k == "" || strings.ContainsAny(k, ": \t\r\n") || hasLineBreak(v) {
			return nil, fmt.Errorf("header %q is malformed", k)
		}
		if isASCII(v) {
			// As it is: URLs in List-Unsubscribe stay intact; encoding
			// them as RFC 2047 words would break one-click unsubscribe.
			m.SetGenHeaderPreformatted(gomail.Header(k), v)
		} else {
			m.SetGenHeaderPreformatted(gomail.Header(k), foldHeader(k, v))
		}
	}
	switch {
	case e.Text != "" && e.HTML != "":
		m.SetBodyString(gomail.TypeTextPlain, e.Text)
		m.AddAlternativeString(gomail.TypeTextHTML, e.HTML)
	case e.HTML != "":
		m.SetBodyString(gomail.TypeTextHTML, e.HTML)
	case e.Text != "":
		m.SetBodyString(gomail.TypeTextPlain, e.Text)
	default:
		return nil, errors.New("email has no body")
	}
	return m, nil
}

func hasLineBreak(s string) bool { return strings.ContainsAny(s, "\r\n") }

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// dial connects to the server, with TLS from the first byte in implicit
// mode, and records the connection so a cancelled send can close it.
func (s *SMTP) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: s.timeout}
	var (
		conn net.Conn
		err  error
	)
	if s.implicit {
		// go-mail detects an encrypted connection by its type, so the
		// *tls.Conn is returned unwrapped.
		conn, err = (&tls.Dialer{NetDialer: d, Config: s.tlsConfig}).DialContext(ctx, network, addr)
	} else {
		conn, err = d.DialContext(ctx, network, addr)
	}
	if err != nil {
		return nil, err
	}
	if h, ok := ctx.Value(connKey{}).(*connHolder); ok && !h.set(conn) {
		_ = conn.Close()
		return nil, context.Canceled
	}
	return conn, nil
}

type connKey struct{}

// connHolder lets a context.AfterFunc close a connection that may not have
// been dialled yet when the context ends.
type connHolder struct {
	mu     sync.Mutex
	conn   net.Conn
	closed bool
}

// set records conn, or reports false if the holder was already closed.
func (h *connHolder) set(conn net.Conn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.conn = conn
	return true
}

func (h *connHolder) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	if h.conn != nil {
		_ = h.conn.Close()
		h.conn = nil
	}
}

type smtpMetrics struct {
	sent      prometheus.Counter
	permanent prometheus.Counter
	temporary prometheus.Counter
	duration  prometheus.Histogram
}

func newSMTPMetrics(reg prometheus.Registerer) (*smtpMetrics, error) {
	sent := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "pickmyclass_emails_sent_total",
		Help: "Emails the SMTP server accepted.",
	})
	failed := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pickmyclass_emails_failed_total",
		Help: "Emails not sent, by whether retrying can help (temporary) or not (permanent).",
	}, []string{"reason"})
	duration := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "pickmyclass_email_send_duration_seconds",
		Help:    "Time to hand one Send or SendBatch call's emails to the SMTP server, connection included.",
		Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
	})
	if reg != nil {
		var err error
		if sent, err = obs.Register(reg, sent); err != nil {
			return nil, err
		}
		if failed, err = obs.Register(reg, failed); err != nil {
			return nil, err
		}
		if duration, err = obs.Register(reg, duration); err != nil {
			return nil, err
		}
	}
	return &smtpMetrics{
		sent:      sent,
		permanent: failed.WithLabelValues("permanent"),
		temporary: failed.WithLabelValues("temporary"),
		duration:  duration,
	}, nil
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
