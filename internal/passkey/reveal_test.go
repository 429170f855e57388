package passkey

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestReveal(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"refund $50", "refund $50"},
		{"é ü 日本 🔐", "é ü 日本 🔐"},
		{"abc\u202edef", "abc⟨U+202E⟩def"},                       // right-to-left override
		{"\u2066x\u2069", "⟨U+2066⟩x⟨U+2069⟩"},                   // isolates
		{"a\u200bb\u200dc\ufeff", "a⟨U+200B⟩b⟨U+200D⟩c⟨U+FEFF⟩"}, // zero width, BOM
		{"a\u00a0b\u3000c", "a⟨U+00A0⟩b⟨U+3000⟩c"},               // spaces that look like U+0020
		{"tab\there\nline", "tab⟨U+0009⟩here⟨U+000A⟩line"},
		{"x\u2028y", "x⟨U+2028⟩y"},
		{"\U000E0041", "⟨U+E0041⟩"}, // tag character
		{"\ufe0f\u3164\u115f", "⟨U+FE0F⟩⟨U+3164⟩⟨U+115F⟩"},
		{"\ue000", "⟨U+E000⟩"},                 // private use
		{"⟨U+202E⟩", "⟨U+27E8⟩U+202E⟨U+27E9⟩"}, // cannot be faked
		{"\xff", "⟨U+FFFD⟩"},                   // invalid UTF-8
		{"\u00adsoft", "⟨U+00AD⟩soft"},         // soft hyphen
	} {
		if got := Reveal(tt.in); got != tt.want {
			t.Errorf("Reveal(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzReveal checks that Reveal's output is valid UTF-8 and holds no
// character it would hide, other than its own brackets.
func FuzzReveal(f *testing.F) {
	f.Add("abc\u202edef")
	f.Add("⟨U+0041⟩\x00\xff")
	f.Fuzz(func(t *testing.T, s string) {
		out := Reveal(s)
		if !utf8.ValidString(out) {
			t.Fatalf("Reveal(%q) is not UTF-8", s)
		}
		rest := strings.NewReplacer("⟨", "", "⟩", "").Replace(out)
		for _, r := range rest {
			if hidden(r) {
				t.Fatalf("Reveal(%q) = %q keeps U+%04X", s, out, r)
			}
		}
	})
}
