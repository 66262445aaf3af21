// Package smtptest runs a real SMTP server on the loopback interface that
// keeps every message it accepts, for tests that send mail over TCP the way
// production does. It can be told to reject recipients with a chosen reply
// code, to exercise temporary (4xx) and permanent (5xx) failures, and can
// speak STARTTLS or implicit TLS with a throwaway certificate and require
// AUTH PLAIN, to exercise a real provider's connection setup.
package smtptest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Message is one message the sink accepted.
type Message struct {
	From      string   // envelope sender (MAIL FROM)
	To        []string // envelope recipients (RCPT TO)
	Data      []byte   // the message as received, headers and body
	Header    mail.Header
	Subject   string // decoded from RFC 2047 encoded words
	MessageID string // the Message-ID field, angle brackets included
}

// Part returns the decoded body of the first MIME part whose media type is
// mediaType ("text/plain", "text/html"), looking inside multipart bodies.
func (m Message) Part(mediaType string) (string, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		return "", fmt.Errorf("parse message: %w", err)
	}
	body, ok, err := findPart(msg.Header, msg.Body, mediaType)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", fmt.Errorf("no %s part", mediaType)
	}
	return body, nil
}

// header is what findPart needs of mail.Header and textproto.MIMEHeader.
type header interface{ Get(string) string }

func findPart(h header, body io.Reader, mediaType string) (string, bool, error) {
	ct := h.Get("Content-Type")
	if ct == "" {
		ct = "text/plain"
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return "", false, fmt.Errorf("parse content type %q: %w", ct, err)
	}
	if strings.HasPrefix(mt, "multipart/") {
		r := multipart.NewReader(body, params["boundary"])
		for {
			p, err := r.NextRawPart()
			if errors.Is(err, io.EOF) {
				return "", false, nil
			}
			if err != nil {
				return "", false, fmt.Errorf("read %s: %w", mt, err)
			}
			if s, ok, err := findPart(p.Header, p, mediaType); ok || err != nil {
				return s, ok, err
			}
		}
	}
	if mt != mediaType {
		return "", false, nil
	}
	switch strings.ToLower(h.Get("Content-Transfer-Encoding")) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return "", false, fmt.Errorf("decode %s part: %w", mt, err)
	}
	return string(b), true, nil
}

// Sink is a running SMTP server that stores what it receives. Its methods
// are safe for concurrent use.
type Sink struct {
	srv  *smtp.Server
	ln   net.Listener
	done chan struct{} // closed when Serve returns

	tlsConfig *tls.Config // client side: trusts the sink's certificate
	user      string      // required AUTH PLAIN credentials, if set
	password  string

	mu        sync.Mutex
	msgs      []Message
	changed   chan struct{} // closed and replaced whenever msgs grows
	failCode  int
	failMsg   string
	closeOnce sync.Once
}

// Option configures a sink.
type Option func(*options)

type options struct {
	startTLS, implicitTLS bool
	user, password        string
}

// WithSTARTTLS makes the sink offer STARTTLS with a self-signed certificate
// that ClientTLSConfig trusts.
func WithSTARTTLS() Option { return func(o *options) { o.startTLS = true } }

// WithImplicitTLS makes the sink speak TLS from the first byte, as on port
// 465, with a self-signed certificate that ClientTLSConfig trusts.
func WithImplicitTLS() Option { return func(o *options) { o.implicitTLS = true } }

// WithAuth makes the sink offer AUTH PLAIN and refuse mail from clients
// that have not authenticated as user with password. Over plain text it
// allows AUTH too, as test servers usually do.
func WithAuth(user, password string) Option {
	return func(o *options) { o.user, o.password = user, password }
}

// Start runs a sink on 127.0.0.1 at a free port. It is closed when the test
// ends.
func Start(t testing.TB, opts ...Option) *Sink {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtptest: listen: %v", err)
	}
	s := &Sink{ln: ln, done: make(chan struct{}), changed: make(chan struct{}), user: o.user, password: o.password}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &session{sink: s}, nil
	}))
	if o.startTLS || o.implicitTLS {
		serverTLS, clientTLS, err := selfSigned()
		if err != nil {
			_ = ln.Close()
			t.Fatalf("smtptest: certificate: %v", err)
		}
		s.tlsConfig = clientTLS
		if o.startTLS {
			s.srv.TLSConfig = serverTLS
		}
		if o.implicitTLS {
			ln = tls.NewListener(ln, serverTLS)
			s.ln = ln
		}
	}
	s.srv.AllowInsecureAuth = true
	s.srv.Domain = "localhost"
	s.srv.ReadTimeout = 30 * time.Second
	s.srv.WriteTimeout = 30 * time.Second
	s.srv.MaxMessageBytes = 10 << 20
	// Client disconnects are expected in tests (cancelled sends); logging
	// them after the test has ended would only add noise.
	s.srv.ErrorLog = log.New(io.Discard, "", 0)
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln)
	}()
	t.Cleanup(s.Close)
	return s
}

// Addr returns the sink's "host:port".
func (s *Sink) Addr() string { return s.ln.Addr().String() }

// Host returns the sink's IP address.
func (s *Sink) Host() string { return s.ln.Addr().(*net.TCPAddr).IP.String() }

// Port returns the sink's TCP port.
func (s *Sink) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// ClientTLSConfig returns a TLS config that trusts the sink's certificate,
// or nil when the sink does not speak TLS.
func (s *Sink) ClientTLSConfig() *tls.Config {
	if s.tlsConfig == nil {
		return nil
	}
	return s.tlsConfig.Clone()
}

// Messages returns the messages accepted so far, oldest first.
func (s *Sink) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// WaitFor waits until the sink holds at least n messages and returns them,
// failing the test if that takes longer than timeout.
func (s *Sink) WaitFor(t testing.TB, n int, timeout time.Duration) []Message {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		s.mu.Lock()
		if len(s.msgs) >= n {
			msgs := append([]Message(nil), s.msgs...)
			s.mu.Unlock()
			return msgs
		}
		changed, have := s.changed, len(s.msgs)
		s.mu.Unlock()
		select {
		case <-changed:
		case <-timer.C:
			t.Fatalf("smtptest: got %d messages after %s, want %d", have, timeout, n)
			return nil
		}
	}
}

// SetFailure makes the sink reject every recipient with code and msg, such
// as 451 (try again later) or 550 (no such user), until it is cleared with
// SetFailure(0, "").
func (s *Sink) SetFailure(code int, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failCode, s.failMsg = code, msg
}

// Close stops the sink and drops its connections. It is safe to call more
// than once; a closed sink refuses connections.
func (s *Sink) Close() {
	s.closeOnce.Do(func() {
		_ = s.srv.Close()
		// The server learns of the listener only once Serve runs; closing
		// it here too ends a Serve that had not started when Close did.
		_ = s.ln.Close()
		<-s.done
	})
}

func (s *Sink) failure() *smtp.SMTPError {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failCode == 0 {
		return nil
	}
	return &smtp.SMTPError{
		Code:         s.failCode,
		EnhancedCode: smtp.EnhancedCodeNotSet,
		Message:      s.failMsg,
	}
}

func (s *Sink) add(m Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m)
	close(s.changed)
	s.changed = make(chan struct{})
}

// session is one SMTP transaction's state; go-smtp calls it from the
// connection's goroutine only.
type session struct {
	sink   *Sink
	authed bool
	from   string
	to     []string
}

func (s *session) Reset() { s.from, s.to = "", nil }

func (s *session) Logout() error { return nil }

func (s *session) AuthMechanisms() []string {
	if s.sink.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *session) Auth(mech string) (sasl.Server, error) {
	if s.sink.user == "" || mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(_, user, password string) error {
		if user != s.sink.user || password != s.sink.password {
			return smtp.ErrAuthFailed
		}
		s.authed = true
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.sink.user != "" && !s.authed {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if err := s.sink.failure(); err != nil {
		return err
	}
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("read data: %w", err)
	}
	m := Message{From: s.from, To: append([]string(nil), s.to...), Data: data}
	parsed, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "unparseable message: " + err.Error()}
	}
	m.Header = parsed.Header
	m.MessageID = parsed.Header.Get("Message-ID")
	dec := new(mime.WordDecoder)
	if m.Subject, err = dec.DecodeHeader(parsed.Header.Get("Subject")); err != nil {
		m.Subject = parsed.Header.Get("Subject")
	}
	s.sink.add(m)
	return nil
}

// selfSigned makes a throwaway certificate for 127.0.0.1 and localhost, and
// the server and client TLS configs that use and trust it.
func selfSigned() (server, client *tls.Config, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "smtptest"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	server = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}},
		MinVersion:   tls.VersionTLS12,
	}
	client = &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	return server, client, nil
}
