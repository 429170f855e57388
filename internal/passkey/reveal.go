package passkey

import (
	"fmt"
	"strings"
	"unicode"
)

// Reveal returns s with every character that a person could not see, or
// could not tell apart from another, written as its code point between
// angle brackets: U+202E RIGHT-TO-LEFT OVERRIDE becomes "⟨U+202E⟩". These
// are control and format characters (bidirectional overrides and
// isolates, zero-width characters, tags, the byte order mark), private-use
// and unassigned code points, line and paragraph separators, every space
// other than U+0020, variation selectors, the other default-ignorable code
// points such as Hangul fillers, and the brackets ⟨ and ⟩ themselves, so
// that the result is unambiguous. Invalid UTF-8 shows as ⟨U+FFFD⟩.
func Reveal(s string) string {
	var b strings.Builder
	for _, r := range s {
		if hidden(r) {
			fmt.Fprintf(&b, "⟨U+%04X⟩", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// hidden reports whether Reveal writes r as a code point.
func hidden(r rune) bool {
	switch {
	case r == ' ':
		return false
	case r == '⟨', r == '⟩', r == unicode.ReplacementChar, r == '\u2800':
		return true
	case !unicode.IsGraphic(r), unicode.Is(unicode.Zs, r):
		return true
	}
	return unicode.In(r, unicode.Variation_Selector,
		unicode.Other_Default_Ignorable_Code_Point, unicode.Bidi_Control,
		unicode.Join_Control)
}
