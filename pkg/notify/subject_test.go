package notify_test

import (
	"bufio"
	"bytes"
	"mime"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/notify"
)

// rawHeader returns the lines of the named header field in a raw message:
// the field's own line and its continuation lines, as sent.
func rawHeader(t *testing.T, data []byte, name string) []string {
	t.Helper()
	head, _, ok := bytes.Cut(data, []byte("\r\n\r\n"))
	if !ok {
		t.Fatalf("no end of header in %q", data)
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(head))
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		switch {
		case strings.HasPrefix(line, name+":"):
			lines = []string{line}
		case len(lines) > 0 && (strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t")):
			lines = append(lines, line)
		case len(lines) > 0:
			return lines
		}
	}
	if len(lines) == 0 {
		t.Fatalf("no %s header in %q", name, head)
	}
	return lines
}

// TestAlertSubjectOnSubjectLine sends rendered alerts through SMTP and reads
// the bytes the server received: the subject starts on the Subject: line
// (a fold right after the colon shows as a leading space in some decoders),
// only the em dash is encoded, no line is over 76 characters (RFC 2047's
// limit for a line with an encoded-word), and the subject decodes back to
// what was rendered.
func TestAlertSubjectOnSubjectLine(t *testing.T) {
	t.Parallel()
	b := setupSMTP(t)
	instructor := seatAlert()
	instructor.Event = catalog.EventInstructorAssigned
	instructor.Section.Instructors = []catalog.Instructor{{Name: "José Núñez-Ibáñez"}, {Name: "Zoë Åkesson"}, {Name: "Grace Hopper"}}
	tests := []struct {
		name     string
		alert    notify.Alert
		wantLine string
	}{
		{name: "seat open", alert: seatAlert(),
			wantLine: "Subject: Seat open: CSE 240 #70412 (Fall 2026) =?UTF-8?q?=E2=80=94?= 1 of"},
		{name: "instructor with accents", alert: instructor},
	}
	for i, tc := range tests {
		email, err := notify.RenderAlert(tc.alert)
		if err != nil {
			t.Fatalf("%s: RenderAlert: %v", tc.name, err)
		}
		if err := b.sender.Send(t.Context(), email); err != nil {
			t.Fatalf("%s: Send: %v", tc.name, err)
		}
		m := b.sink.WaitFor(t, i+1, 5*time.Second)[i]
		lines := rawHeader(t, m.Data, "Subject")
		if !strings.HasPrefix(lines[0], "Subject: ") || len(lines[0]) <= len("Subject: ") {
			t.Errorf("%s: the subject does not start on the Subject: line: %q", tc.name, lines)
		}
		if tc.wantLine != "" && lines[0] != tc.wantLine {
			t.Errorf("%s: Subject line = %q, want %q", tc.name, lines[0], tc.wantLine)
		}
		for _, l := range lines {
			if len(l) > 76 {
				t.Errorf("%s: header line of %d characters: %q", tc.name, len(l), l)
			}
		}
		msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
		if err != nil {
			t.Fatal(err)
		}
		got, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
		if err != nil || got != email.Subject {
			t.Errorf("%s: subject decodes to %q (%v), want %q", tc.name, got, err, email.Subject)
		}
	}
}

// TestShortSubjectOneLine: a short subject, encoded or not, is the whole
// Subject: line.
func TestShortSubjectOneLine(t *testing.T) {
	t.Parallel()
	b := setupSMTP(t)
	for i, tc := range []struct{ subject, line string }{
		{"Seat open: CSE 240 — 1 seat", "Subject: Seat open: CSE 240 =?UTF-8?q?=E2=80=94?= 1 seat"},
		{"Verify your email", "Subject: Verify your email"},
		{"Ça marche", "Subject: =?UTF-8?q?=C3=87a?= marche"},
	} {
		e := testEmail()
		e.Subject = tc.subject
		if err := b.sender.Send(t.Context(), e); err != nil {
			t.Fatal(err)
		}
		lines := rawHeader(t, b.sink.WaitFor(t, i+1, 5*time.Second)[i].Data, "Subject")
		if len(lines) != 1 || lines[0] != tc.line {
			t.Errorf("%q sent as %q, want the one line %q", tc.subject, lines, tc.line)
		}
	}
}
