package notify

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// maxHeaderLine is the longest header line written: RFC 2047 limits a line
// holding an encoded-word to 76 characters (RFC 5322's 78 minus nothing to
// spare), and plain lines keep to the same so every line is alike.
const maxHeaderLine = 76

// Each encoded-word is "=?UTF-8?q?" + text + "?=".
const (
	wordPrefix   = "=?UTF-8?q?"
	wordOverhead = len(wordPrefix) + len("?=")
)

// foldHeader returns value ready to follow "name: " in a message: words that
// are printable ASCII stay as they are, each run of words that is not is one
// or more RFC 2047 Q-encoded words, and the result is folded between words
// so that no line exceeds maxHeaderLine (a single ASCII word longer than a
// line stays whole). The first word always stays on the header's own line.
//
// go-mail's own folding measures an encoded subject as one word and, since
// it is longer than what is left of the first line, breaks the line right
// after "Subject:", which some decoders then show with a leading space.
func foldHeader(name, value string) string {
	f := folder{col: len(name) + len(": ")}
	words := strings.Split(value, " ")
	for i := 0; i < len(words); {
		if !needsEncoding(words[i]) {
			f.plain(words[i])
			i++
			continue
		}
		// Adjacent encoded-words are joined without the space between
		// them, so a run of such words is encoded as one text, its spaces
		// inside, and so are the empty words of a run of spaces after it.
		j := i + 1
		for j < len(words) && (needsEncoding(words[j]) || words[j] == "") {
			j++
		}
		f.encoded(strings.Join(words[i:j], " "))
		i = j
	}
	return f.b.String()
}

// needsEncoding reports whether word cannot be written as it is: it holds a
// byte outside printable ASCII, or looks like the start of an encoded-word.
func needsEncoding(word string) bool {
	for i := 0; i < len(word); i++ {
		if word[i] < 0x21 || word[i] > 0x7e {
			return true
		}
	}
	return strings.Contains(word, "=?")
}

// folder writes header tokens separated by a space, folding the line before
// a token that would not fit.
type folder struct {
	b     strings.Builder
	col   int // length of the current line before any open encoded-word
	begun bool
}

// sep writes the separator before a token of n characters: nothing before
// the first token, a space when it fits on the line, a fold otherwise.
func (f *folder) sep(n int) {
	switch {
	case !f.begun:
		f.begun = true
	case f.col+1+n <= maxHeaderLine:
		f.b.WriteByte(' ')
		f.col++
	default:
		f.b.WriteString("\r\n ")
		f.col = 1
	}
}

func (f *folder) plain(word string) {
	f.sep(len(word))
	f.b.WriteString(word)
	f.col += len(word)
}

// encoded writes text as Q-encoded words, each filling what is left of its
// line; a character is never split between two words.
func (f *folder) encoded(text string) {
	var word strings.Builder
	open := false
	closeWord := func() {
		f.b.WriteString(wordPrefix + word.String() + "?=")
		f.col += wordOverhead + word.Len()
		word.Reset()
		open = false
	}
	for len(text) > 0 {
		_, size := utf8.DecodeRuneInString(text)
		q := qEncode(text[:size])
		text = text[size:]
		if open && f.col+wordOverhead+word.Len()+len(q) > maxHeaderLine {
			closeWord()
		}
		if !open {
			f.sep(wordOverhead + len(q))
			open = true
		}
		word.WriteString(q)
	}
	closeWord()
}

// qEncode encodes the bytes of one character as RFC 2047 "Q" text: a space
// is "_", printable ASCII other than "=", "?" and "_" stays, anything else
// is =XX.
func qEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ':
			b.WriteByte('_')
		case c > 0x20 && c < 0x7f && c != '=' && c != '?' && c != '_':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "=%02X", c)
		}
	}
	return b.String()
}
