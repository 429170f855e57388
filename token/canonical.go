package token

import (
	"bytes"
	"unicode/utf8"
)

// The one accepted header is a fixed frame around the kid, which is
// base64url and so is written without escapes.
const (
	headerPrefix = `{"alg":"` + Algorithm + `","kid":"`
	headerSuffix = `","typ":"` + Type + `"}`
)

// cutHeader returns the kid of a header written exactly as the profile
// writes it. It only ever accepts: parseHeader explains a refusal.
func cutHeader(b []byte) (string, bool) {
	rest, ok := bytes.CutPrefix(b, []byte(headerPrefix))
	if !ok {
		return "", false
	}
	kid, ok := bytes.CutSuffix(rest, []byte(headerSuffix))
	if !ok || !validKid(string(kid)) {
		return "", false
	}
	return string(kid), true
}

// decodeCanonical decodes claims written exactly as encode writes them,
// provided their strings need no escaping and they carry no details: the
// common case, decoded without reflection and without encoding again to
// compare. ok is false for anything else, which parseClaims then decodes
// the general way; decodeCanonical itself never refuses a token.
//
// NOTE: whatever it accepts, encode writes back byte for byte (FuzzParse
// and FuzzDecodeCanonical check this), so skipping the comparison keeps
// the rule that one set of claims has exactly one spelling.
func decodeCanonical(b []byte) (c Claims, ok bool) {
	s := scanner{b: b}
	s.lit(`{"iss":`)
	c.Issuer = s.str()
	s.lit(`,"sub":`)
	c.Subject = s.str()
	if s.opt(`,"aud":`) {
		if c.Audience = s.str(); c.Audience == "" {
			return c, false // omitempty leaves an empty aud out
		}
	}
	s.lit(`,"action":`)
	c.Action = s.str()
	if s.opt(`,"amr":[`) {
		c.AMR = append(c.AMR, s.str())
		for s.opt(`,`) {
			c.AMR = append(c.AMR, s.str())
		}
		s.lit(`]`)
	}
	s.lit(`,"jti":`)
	c.ID = s.str()
	s.lit(`,"iat":`)
	c.IssuedAt = s.num()
	s.lit(`,"exp":`)
	c.Expiry = s.num()
	s.lit(`}`)
	return c, !s.bad && len(s.b) == 0
}

// scanner consumes a canonical claims encoding from the front of b; once
// anything is off it is bad and consumes nothing more.
type scanner struct {
	b   []byte
	bad bool
}

// opt consumes lit if b starts with it.
func (s *scanner) opt(lit string) bool {
	if s.bad || !bytes.HasPrefix(s.b, []byte(lit)) {
		return false
	}
	s.b = s.b[len(lit):]
	return true
}

// lit consumes lit, which must come next.
func (s *scanner) lit(lit string) {
	if !s.opt(lit) {
		s.bad = true
	}
}

// str consumes a JSON string that encoding/json writes without escapes:
// no control characters, quote, backslash or HTML-sensitive <, > and &;
// valid UTF-8 without U+2028 and U+2029.
func (s *scanner) str() string {
	if !s.opt(`"`) {
		s.bad = true
		return ""
	}
	ascii := true
	for i, c := range s.b {
		switch {
		case c == '"':
			v := s.b[:i]
			if !ascii && !plainUTF8(v) {
				s.bad = true
				return ""
			}
			s.b = s.b[i+1:]
			return string(v)
		case c < 0x20 || c == '\\' || c == '<' || c == '>' || c == '&':
			s.bad = true
			return ""
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	s.bad = true
	return ""
}

func plainUTF8(v []byte) bool {
	return utf8.Valid(v) && !bytes.Contains(v, []byte("\u2028")) &&
		!bytes.Contains(v, []byte("\u2029"))
}

// num consumes a positive integer written without sign or leading zeros,
// of at most 18 digits so that it fits an int64.
func (s *scanner) num() int64 {
	n, i := int64(0), 0
	for ; !s.bad && i < len(s.b) && i < 19 && '0' <= s.b[i] && s.b[i] <= '9'; i++ {
		n = n*10 + int64(s.b[i]-'0')
	}
	if i == 0 || i > 18 || s.b[0] == '0' {
		s.bad = true
		return 0
	}
	s.b = s.b[i:]
	return n
}
