package smtptest_test

import (
	"net"
	"net/smtp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/pickmyclass/pickmyclass/pkg/notify/smtptest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const multipartMsg = "From: a@x.test\r\n" +
	"To: b@y.test\r\n" +
	"Subject: =?UTF-8?q?Seat_open_=E2=80=94_CSE_240?=\r\n" +
	"Message-ID: <id-1@x.test>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/alternative; boundary=BOUND\r\n" +
	"\r\n" +
	"--BOUND\r\n" +
	"Content-Type: text/plain; charset=UTF-8\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n" +
	"caf=C3=A9\r\n" +
	"--BOUND\r\n" +
	"Content-Type: text/html; charset=UTF-8\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"PHA+aGk8L3A+\r\n" +
	"--BOUND--\r\n"

func TestSinkReceives(t *testing.T) {
	t.Parallel()
	sink := smtptest.Start(t)
	if err := smtp.SendMail(sink.Addr(), nil, "a@x.test", []string{"b@y.test", "c@y.test"}, []byte(multipartMsg)); err != nil {
		t.Fatalf("SendMail: %v", err)
	}
	m := sink.WaitFor(t, 1, 5*time.Second)[0]

	got := struct{ From, Subject, MessageID, To string }{m.From, m.Subject, m.MessageID, strings.Join(m.To, ",")}
	want := struct{ From, Subject, MessageID, To string }{"a@x.test", "Seat open — CSE 240", "<id-1@x.test>", "b@y.test,c@y.test"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("message (-want +got):\n%s", diff)
	}
	for mediaType, want := range map[string]string{"text/plain": "café", "text/html": "<p>hi</p>"} {
		body, err := m.Part(mediaType)
		if err != nil {
			t.Fatalf("Part(%s): %v", mediaType, err)
		}
		if strings.TrimSpace(body) != want {
			t.Errorf("Part(%s) = %q, want %q", mediaType, body, want)
		}
	}
	if _, err := m.Part("image/png"); err == nil {
		t.Error("Part(image/png) found a part that is not there")
	}
	if host, port, _ := net.SplitHostPort(sink.Addr()); host != sink.Host() || port != strconv.Itoa(sink.Port()) {
		t.Errorf("Addr %s disagrees with Host %s / Port %d", sink.Addr(), sink.Host(), sink.Port())
	}
}

func TestSinkSetFailure(t *testing.T) {
	t.Parallel()
	sink := smtptest.Start(t)
	sink.SetFailure(550, "no such user")
	err := smtp.SendMail(sink.Addr(), nil, "a@x.test", []string{"b@y.test"}, []byte(multipartMsg))
	if err == nil || !strings.HasPrefix(err.Error(), "550") {
		t.Fatalf("SendMail = %v, want a 550 reply", err)
	}
	sink.SetFailure(0, "")
	if err := smtp.SendMail(sink.Addr(), nil, "a@x.test", []string{"b@y.test"}, []byte(multipartMsg)); err != nil {
		t.Fatalf("SendMail after clearing: %v", err)
	}
	if n := len(sink.WaitFor(t, 1, 5*time.Second)); n != 1 {
		t.Errorf("got %d messages, want 1", n)
	}
}

func TestSinkCloseRefuses(t *testing.T) {
	t.Parallel()
	sink := smtptest.Start(t)
	sink.Close()
	sink.Close()
	if c, err := net.DialTimeout("tcp", sink.Addr(), time.Second); err == nil {
		_ = c.Close()
		t.Error("a closed sink accepted a connection")
	}
}
