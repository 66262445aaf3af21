package notify

import (
	"mime"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestFoldHeader checks, for subjects of every shape, that the folded value
// starts on the header's line, keeps every line within maxHeaderLine (but
// for a lone ASCII word longer than a line) and decodes to the original.
func TestFoldHeader(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 120)
	tests := []string{
		"",
		"Seat open",
		"Seat open: CSE 240 #70412 (Fall 2026) — 1 of 150 seats",
		"Instructor assigned: CSE 240 #70412 — José Núñez-Ibáñez, Zoë Åkesson, Grace Hopper",
		long,
		"a " + long + " b",
		"日本語の科目 が 空きました — 数学 101",
		"tab\there and =?UTF-8?q?fake?= word",
		"under_score and question? marks = equal",
		strings.Repeat("word ", 40),
		strings.Repeat("x", 100) + " — tail",
		"two  spaces — and a trailing one ",
		"é  é  x",
	}
	dec := new(mime.WordDecoder)
	for _, subject := range tests {
		v := foldHeader("Subject", subject)
		lines := strings.Split("Subject: "+v, "\r\n")
		if subject != "" && lines[0] == "Subject: " {
			t.Errorf("%q: folded right after the colon: %q", subject, v)
		}
		for i, l := range lines {
			if i > 0 && !strings.HasPrefix(l, " ") {
				t.Errorf("%q: continuation line %q does not start with a space", subject, l)
			}
			if len(l) > maxHeaderLine && strings.Contains(l, "=?") {
				t.Errorf("%q: line of %d characters with an encoded-word: %q", subject, len(l), l)
			}
		}
		got, err := dec.DecodeHeader(strings.ReplaceAll(v, "\r\n", ""))
		if err != nil || got != subject {
			t.Errorf("%q: folded as %q, decodes to %q (%v)", subject, v, got, err)
		}
	}
}

// FuzzFoldHeader: any one-line value without spaces at its ends decodes
// back to itself, starts on the header's line, and keeps to maxHeaderLine
// on every line with an encoded-word.
func FuzzFoldHeader(f *testing.F) {
	f.Add("Seat open: CSE 240 #70412 (Fall 2026) — 1 of 150 seats")
	f.Add("é  é  x")
	f.Add("=?UTF-8?q?x?= y")
	f.Fuzz(func(t *testing.T, subject string) {
		if !utf8.ValidString(subject) || strings.ContainsAny(subject, "\r\n") || strings.TrimSpace(subject) != subject {
			return
		}
		v := foldHeader("Subject", subject)
		lines := strings.Split("Subject: "+v, "\r\n")
		if subject != "" && lines[0] == "Subject: " {
			t.Fatalf("folded right after the colon: %q", v)
		}
		for _, l := range lines {
			if len(l) > maxHeaderLine && strings.Contains(l, "=?") {
				t.Fatalf("line of %d characters with an encoded-word: %q", len(l), l)
			}
		}
		got, err := new(mime.WordDecoder).DecodeHeader(strings.ReplaceAll(v, "\r\n", ""))
		if err != nil || got != subject {
			t.Fatalf("%q folded as %q decodes to %q (%v)", subject, v, got, err)
		}
	})
}
