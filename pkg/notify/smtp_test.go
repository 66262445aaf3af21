package notify_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/pickmyclass/pickmyclass/pkg/notify"
	"github.com/pickmyclass/pickmyclass/pkg/notify/smtptest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type smtpBundle struct {
	sink   *smtptest.Sink
	sender *notify.SMTP
	reg    *prometheus.Registry
}

func setupSMTP(t *testing.T) smtpBundle {
	t.Helper()
	sink := smtptest.Start(t)
	reg := prometheus.NewRegistry()
	sender, err := notify.NewSMTP(notify.SMTPConfig{
		Host:    sink.Host(),
		Port:    sink.Port(),
		TLS:     notify.TLSNone,
		From:    "PickMyClass <alerts@pickmyclass.test>",
		Timeout: 5 * time.Second,
		Metrics: reg,
	})
	if err != nil {
		t.Fatalf("NewSMTP: %v", err)
	}
	return smtpBundle{sink: sink, sender: sender, reg: reg}
}

func testEmail() notify.Email {
	return notify.Email{
		To:      "Ada Lovelace <ada@example.edu>",
		Subject: "Seat open: CSE 240 #70412 (Fall 2026) — 1 of 150 seats",
		Text:    "A seat opened.\nEnroll now: https://example.edu/class/70412\n",
		HTML:    `<p>A seat opened. <a href="https://example.edu/class/70412">Enroll now</a></p>`,
		Headers: map[string]string{
			"List-Unsubscribe":      "<https://pickmyclass.test/api/unsubscribe?token=" + strings.Repeat("A", 66) + ">",
			"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
			"Auto-Submitted":        "auto-generated",
		},
		MessageID: "claim-42@pickmyclass.test",
	}
}

func TestSMTPSendDelivers(t *testing.T) {
	t.Parallel()
	b := setupSMTP(t)
	ctx := context.Background()

	if err := b.sender.Send(ctx, testEmail()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	msgs := b.sink.WaitFor(t, 1, 5*time.Second)
	m := msgs[0]

	if diff := cmp.Diff([]string{"ada@example.edu"}, m.To); diff != "" {
		t.Errorf("envelope recipients (-want +got):\n%s", diff)
	}
	if m.From != "alerts@pickmyclass.test" {
		t.Errorf("envelope sender = %q", m.From)
	}
	got := map[string]string{
		"Subject":               m.Subject,
		"Message-ID":            m.MessageID,
		"From":                  m.Header.Get("From"),
		"To":                    m.Header.Get("To"),
		"List-Unsubscribe":      m.Header.Get("List-Unsubscribe"),
		"List-Unsubscribe-Post": m.Header.Get("List-Unsubscribe-Post"),
		"Auto-Submitted":        m.Header.Get("Auto-Submitted"),
	}
	want := map[string]string{
		"Subject":               testEmail().Subject,
		"Message-ID":            "<claim-42@pickmyclass.test>",
		"From":                  `"PickMyClass" <alerts@pickmyclass.test>`,
		"To":                    `"Ada Lovelace" <ada@example.edu>`,
		"List-Unsubscribe":      testEmail().Headers["List-Unsubscribe"],
		"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
		"Auto-Submitted":        "auto-generated",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("headers (-want +got):\n%s", diff)
	}
	if _, err := m.Header.Date(); err != nil {
		t.Errorf("Date header: %v", err)
	}
	if ct := m.Header.Get("Content-Type"); !strings.HasPrefix(ct, "multipart/alternative") {
		t.Errorf("Content-Type = %q, want multipart/alternative", ct)
	}
	text, err := m.Part("text/plain")
	if err != nil {
		t.Fatalf("text part: %v", err)
	}
	html, err := m.Part("text/html")
	if err != nil {
		t.Fatalf("html part: %v", err)
	}
	if diff := cmp.Diff(testEmail().Text, strings.ReplaceAll(text, "\r\n", "\n")); diff != "" {
		t.Errorf("text part (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(testEmail().HTML, strings.ReplaceAll(html, "\r\n", "\n")); diff != "" {
		t.Errorf("html part (-want +got):\n%s", diff)
	}
	if got := counterValue(t, b.reg, "pickmyclass_emails_sent_total", ""); got != 1 {
		t.Errorf("emails sent = %v, want 1", got)
	}
}

func TestSMTPMessageIDGetsSenderDomain(t *testing.T) {
	t.Parallel()
	b := setupSMTP(t)
	e := testEmail()
	e.MessageID = "claim-7"
	if err := b.sender.Send(context.Background(), e); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got := b.sink.WaitFor(t, 1, 5*time.Second)[0].MessageID; got != "<claim-7@pickmyclass.test>" {
		t.Errorf("Message-ID = %q", got)
	}
}

func TestSMTPSendFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		code      int
		msg       string
		permanent bool
	}{
		{name: "451 is temporary", code: 451, msg: "try again later", permanent: false},
		{name: "452 is temporary", code: 452, msg: "mailbox full", permanent: false},
		{name: "550 is permanent", code: 550, msg: "no such user", permanent: true},
		{name: "553 is permanent", code: 553, msg: "mailbox name not allowed", permanent: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setupSMTP(t)
			b.sink.SetFailure(tc.code, tc.msg)

			err := b.sender.Send(context.Background(), testEmail())
			if err == nil {
				t.Fatal("Send succeeded, want an error")
			}
			if got := errors.Is(err, notify.ErrPermanent); got != tc.permanent {
				t.Errorf("errors.Is(%v, ErrPermanent) = %v, want %v", err, got, tc.permanent)
			}
			reason := "temporary"
			if tc.permanent {
				reason = "permanent"
			}
			if got := counterValue(t, b.reg, "pickmyclass_emails_failed_total", reason); got != 1 {
				t.Errorf("emails failed{reason=%q} = %v, want 1", reason, got)
			}

			b.sink.SetFailure(0, "")
			if err := b.sender.Send(context.Background(), testEmail()); err != nil {
				t.Fatalf("Send after clearing the failure: %v", err)
			}
			b.sink.WaitFor(t, 1, 5*time.Second)
		})
	}
}

func TestSMTPConnectionRefusedIsTemporary(t *testing.T) {
	t.Parallel()
	b := setupSMTP(t)
	b.sink.Close()

	err := b.sender.Send(context.Background(), testEmail())
	if err == nil {
		t.Fatal("Send to a closed server succeeded")
	}
	if errors.Is(err, notify.ErrPermanent) {
		t.Errorf("connection refused is permanent: %v", err)
	}
}

func TestSMTPBadEmailIsPermanent(t *testing.T) {
	t.Parallel()
	b := setupSMTP(t)
	tests := []struct {
		name   string
		mutate func(*notify.Email)
	}{
		{name: "bad recipient", mutate: func(e *notify.Email) { e.To = "not an address" }},
		{name: "subject injection", mutate: func(e *notify.Email) { e.Subject = "hi\r\nBcc: eve@example.com" }},
		{name: "header injection", mutate: func(e *notify.Email) { e.Headers["X-Test"] = "a\r\nBcc: eve@example.com" }},
		{name: "reserved header", mutate: func(e *notify.Email) { e.Headers["bcc"] = "eve@example.com" }},
		{name: "no body", mutate: func(e *notify.Email) { e.Text, e.HTML = "", "" }},
		{name: "bad message id", mutate: func(e *notify.Email) { e.MessageID = "a b@c" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := testEmail()
			tc.mutate(&e)
			err := b.sender.Send(context.Background(), e)
			if !errors.Is(err, notify.ErrPermanent) {
				t.Errorf("Send = %v, want ErrPermanent", err)
			}
		})
	}
}

// TestSMTPHonoursContext sends to a server that accepts the connection and
// never greets, so only cancellation can end the send.
func TestSMTPHonoursContext(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- c
		}
	}()
	addr := ln.Addr().(*net.TCPAddr)
	sender, err := notify.NewSMTP(notify.SMTPConfig{
		Host: addr.IP.String(), Port: addr.Port, TLS: notify.TLSNone,
		From: "alerts@pickmyclass.test", Timeout: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sender.Send(ctx, testEmail()) }()
	select {
	case c := <-accepted:
		t.Cleanup(func() { _ = c.Close() })
	case <-time.After(5 * time.Second):
		t.Fatal("sender never connected")
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Send = %v, want context.Canceled", err)
		}
		if errors.Is(err, notify.ErrPermanent) {
			t.Errorf("a cancelled send is permanent: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Send did not return after cancel")
	}
}

func TestSMTPCancelledBeforeSend(t *testing.T) {
	t.Parallel()
	b := setupSMTP(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.sender.Send(ctx, testEmail()); !errors.Is(err, context.Canceled) {
		t.Errorf("Send = %v, want context.Canceled", err)
	}
	if n := len(b.sink.Messages()); n != 0 {
		t.Errorf("sink got %d messages", n)
	}
}

func TestSMTPSendBatch(t *testing.T) {
	t.Parallel()
	b := setupSMTP(t)
	good1, bad, good2 := testEmail(), testEmail(), testEmail()
	good1.MessageID, good2.MessageID = "claim-1", "claim-2"
	bad.To = "nobody"

	errs := b.sender.SendBatch(context.Background(), []notify.Email{good1, bad, good2})
	if len(errs) != 3 || errs[0] != nil || !errors.Is(errs[1], notify.ErrPermanent) || errs[2] != nil {
		t.Fatalf("SendBatch = %v, want [nil ErrPermanent nil]", errs)
	}
	msgs := b.sink.WaitFor(t, 2, 5*time.Second)
	var ids []string
	for _, m := range msgs {
		ids = append(ids, m.MessageID)
	}
	if diff := cmp.Diff([]string{"<claim-1@pickmyclass.test>", "<claim-2@pickmyclass.test>"}, ids); diff != "" {
		t.Errorf("message IDs (-want +got):\n%s", diff)
	}
}

func TestNewSMTPValidates(t *testing.T) {
	t.Parallel()
	_, err := notify.NewSMTP(notify.SMTPConfig{Port: 70000, TLS: "ssl", From: "nope"})
	if err == nil {
		t.Fatal("NewSMTP accepted a bad config")
	}
	for _, want := range []string{"host is empty", "port 70000", `tls mode "ssl"`, `from "nope"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestNewSMTPSharesMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	cfg := notify.SMTPConfig{Host: "localhost", From: "a@b.test", Metrics: reg}
	for range 2 {
		if _, err := notify.NewSMTP(cfg); err != nil {
			t.Fatalf("NewSMTP: %v", err)
		}
	}
}

func TestParseSMTPURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		url     string
		want    notify.SMTPConfig
		wantErr string
	}{
		{
			name: "submission with starttls",
			url:  "smtp://user:p%40ss@smtp.example.com:587?tls=starttls",
			want: notify.SMTPConfig{Host: "smtp.example.com", Port: 587, Username: "user", Password: "p@ss", TLS: "starttls"},
		},
		{
			name: "smtp defaults",
			url:  "smtp://smtp.example.com",
			want: notify.SMTPConfig{Host: "smtp.example.com", Port: 587, TLS: "starttls"},
		},
		{
			name: "smtps defaults to implicit tls on 465",
			url:  "smtps://apikey:secret@smtp.example.com",
			want: notify.SMTPConfig{Host: "smtp.example.com", Port: 465, Username: "apikey", Password: "secret", TLS: "tls"},
		},
		{
			name: "local relay without tls",
			url:  "smtp://127.0.0.1:1025?tls=none",
			want: notify.SMTPConfig{Host: "127.0.0.1", Port: 1025, TLS: "none"},
		},
		{
			name: "opportunistic",
			url:  "smtp://mail:25?tls=opportunistic",
			want: notify.SMTPConfig{Host: "mail", Port: 25, TLS: "opportunistic"},
		},
		{name: "wrong scheme", url: "http://smtp.example.com", wantErr: "scheme"},
		{name: "no host", url: "smtp://:587", wantErr: "no host"},
		{name: "bad port", url: "smtp://h:99999", wantErr: "bad port"},
		{name: "bad tls", url: "smtp://h?tls=yes", wantErr: "tls="},
		{name: "unknown parameter", url: "smtp://h?tsl=none", wantErr: "unknown parameter"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := notify.ParseSMTPURL(tc.url)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseSMTPURL(%q) error = %v, want one mentioning %q", tc.url, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSMTPURL(%q): %v", tc.url, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSMTPConfigStringMasksPassword(t *testing.T) {
	t.Parallel()
	cfg, err := notify.ParseSMTPURL("smtps://user:hunter2@smtp.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if s := cfg.String(); strings.Contains(s, "hunter2") || !strings.Contains(s, "user") {
		t.Errorf("String() = %q", s)
	}
}

// counterValue returns a counter's value in reg, selected by name and, when
// reason is not empty, by its reason label; 0 when there is no such series.
func counterValue(t *testing.T, reg *prometheus.Registry, name, reason string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if reason == "" || (l.GetName() == "reason" && l.GetValue() == reason) {
					return m.GetCounter().GetValue()
				}
			}
			if reason == "" {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func TestSMTPTLSAndAuth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		sinkOpts []smtptest.Option
		url      string // %d is the sink's port
		wantErr  bool
	}{
		{name: "starttls with auth", sinkOpts: []smtptest.Option{smtptest.WithSTARTTLS(), smtptest.WithAuth("user", "s3cret")},
			url: "smtp://user:s3cret@127.0.0.1:%d?tls=starttls"},
		{name: "implicit tls with auth", sinkOpts: []smtptest.Option{smtptest.WithImplicitTLS(), smtptest.WithAuth("user", "s3cret")},
			url: "smtps://user:s3cret@127.0.0.1:%d"},
		{name: "opportunistic upgrades", sinkOpts: []smtptest.Option{smtptest.WithSTARTTLS()},
			url: "smtp://127.0.0.1:%d?tls=opportunistic"},
		{name: "opportunistic falls back to plain text", url: "smtp://127.0.0.1:%d?tls=opportunistic"},
		{name: "starttls required but not offered", url: "smtp://127.0.0.1:%d?tls=starttls", wantErr: true},
		{name: "wrong password", sinkOpts: []smtptest.Option{smtptest.WithSTARTTLS(), smtptest.WithAuth("user", "s3cret")},
			url: "smtp://user:guess@127.0.0.1:%d", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sink := smtptest.Start(t, tc.sinkOpts...)
			cfg, err := notify.ParseSMTPURL(fmt.Sprintf(tc.url, sink.Port()))
			if err != nil {
				t.Fatal(err)
			}
			cfg.From, cfg.Timeout, cfg.TLSConfig = "alerts@pickmyclass.test", 5*time.Second, sink.ClientTLSConfig()
			sender, err := notify.NewSMTP(cfg)
			if err != nil {
				t.Fatal(err)
			}
			err = sender.Send(context.Background(), testEmail())
			if tc.wantErr {
				if err == nil {
					t.Fatal("Send succeeded, want an error")
				}
				if errors.Is(err, notify.ErrPermanent) {
					t.Errorf("a connection setup failure is permanent: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			sink.WaitFor(t, 1, 5*time.Second)
		})
	}
}
