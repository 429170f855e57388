package httpapi

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxLoggedLen bounds a client-supplied string in a log line, in bytes.
const maxLoggedLen = 256

// logSafe returns a client-supplied string fit for a log line: control
// characters (C0, DEL, C1), line and paragraph separators and bidi
// overrides and invalid UTF-8 removed, at most maxLoggedLen bytes.
// Every string a client controls goes through it before it is logged, so
// that nobody can forge a log line or hide text in one.
func logSafe(s string) string {
	clean := true
	for _, r := range s {
		if unsafeRune(r) {
			clean = false
			break
		}
	}
	if clean && len(s) <= maxLoggedLen {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unsafeRune(r) {
			continue
		}
		if b.Len()+utf8.RuneLen(r) > maxLoggedLen {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

func unsafeRune(r rune) bool {
	switch {
	case r == utf8.RuneError, unicode.IsControl(r):
		return true
	case r == '\u2028', r == '\u2029': // line and paragraph separators
		return true
	case r >= '\u202a' && r <= '\u202e', r >= '\u2066' && r <= '\u2069':
		return true // bidi embeddings, overrides and isolates
	}
	return false
}
