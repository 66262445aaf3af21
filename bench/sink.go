package main

import (
	"io"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// sink is an SMTP server that records when each message was accepted and
// for whom; the body is read and dropped.
type sink struct {
	srv *smtp.Server
	ln  net.Listener

	mu       sync.Mutex
	accepted map[string][]time.Time // recipient → acceptance times
	count    int
}

func startSink() (*sink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &sink{ln: ln, accepted: map[string][]time.Time{}}
	s.srv = smtp.NewServer(s)
	s.srv.Domain = "sink.bench"
	s.srv.AllowInsecureAuth = true
	s.srv.ReadTimeout, s.srv.WriteTimeout = time.Minute, time.Minute
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *sink) addr() string { return s.ln.Addr().String() }

func (s *sink) close() { _ = s.srv.Close() }

// received returns the acceptance times by recipient and the total count.
func (s *sink) received() (map[string][]time.Time, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string][]time.Time, len(s.accepted))
	for k, v := range s.accepted {
		out[k] = append([]time.Time(nil), v...)
	}
	return out, s.count
}

// NewSession implements smtp.Backend.
func (s *sink) NewSession(*smtp.Conn) (smtp.Session, error) { return &sinkSession{sink: s}, nil }

type sinkSession struct {
	sink *sink
	to   []string
}

func (ss *sinkSession) Mail(string, *smtp.MailOptions) error { return nil }

func (ss *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

// Data records the acceptance once the whole message has arrived, which is
// the moment the sender's SMTP transaction succeeds.
func (ss *sinkSession) Data(r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	now := time.Now()
	ss.sink.mu.Lock()
	defer ss.sink.mu.Unlock()
	for _, to := range ss.to {
		ss.sink.accepted[to] = append(ss.sink.accepted[to], now)
	}
	ss.sink.count++
	return nil
}

func (ss *sinkSession) Reset() { ss.to = nil }

func (ss *sinkSession) Logout() error { return nil }
