// Package token defines AgentMint's approval token: a JWS compact
// serialization (RFC 7515) signed with Ed25519 (RFC 8037) under one pinned
// profile, described in FORMAT.md beside this file.
//
// A token names the human who approved (sub) and the exact action, lives for
// 1 to 300 seconds and carries a random jti that the service consumes once.
// The package holds the format only: it signs and verifies, and leaves the
// single-use bookkeeping to the service.
package token

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits of the profile.
const (
	// MaxTokenSize is the largest token, in bytes, that Verify will parse.
	MaxTokenSize = 2048
	// MinTTL and MaxTTL bound a token's lifetime, exp - iat.
	MinTTL = 1 * time.Second
	MaxTTL = 300 * time.Second
	// DefaultTTL is the lifetime of a token whose minter names none.
	DefaultTTL = 60 * time.Second
	// Leeway is the clock skew tolerated on iat and exp.
	Leeway = 5 * time.Second
	// MaxSubLen is the most characters (not bytes) a sub may have.
	MaxSubLen = 256
	// MaxActionLen is the most bytes an action may have.
	MaxActionLen = 64
	// MaxAudLen is the most bytes an aud may have.
	MaxAudLen = 256
	// MaxDetailsSize is the most bytes the compact details object may have.
	MaxDetailsSize = 1024
)

// Fixed values of the header.
const (
	// Algorithm is the only JWS alg AgentMint signs or accepts.
	Algorithm = "EdDSA"
	// Type is the JWS typ of an AgentMint token (RFC 8725 section 3.11).
	Type = "agentmint+jwt"
)

// jtiRandomBytes is the random part of a jti; jtiTimeBytes its prefix of
// milliseconds since the epoch, which keeps ledger inserts close together
// in key order. NOTE: the base64url alphabet is not in ASCII order, so the
// strings are ordered only within runs of 64 ms; that locality is what
// keeps B-tree inserts cheap, and order itself is never relied on.
const (
	jtiTimeBytes   = 6
	jtiRandomBytes = 16
	jtiLen         = 30 // base64url characters of the 22 bytes
)

// Claims is the payload of a token.
type Claims struct {
	Issuer   string          `json:"iss"`
	Subject  string          `json:"sub"`
	Audience string          `json:"aud,omitempty"`
	Action   string          `json:"action"`
	Details  json.RawMessage `json:"details,omitempty"`
	AMR      []string        `json:"amr,omitempty"`
	ID       string          `json:"jti"`
	IssuedAt int64           `json:"iat"`
	Expiry   int64           `json:"exp"`
}

// TTL returns the lifetime the claims declare.
func (c *Claims) TTL() time.Duration {
	return time.Duration(c.Expiry-c.IssuedAt) * time.Second
}

// ExpiresAt returns the moment after which, leeway included, the token is
// no longer accepted.
func (c *Claims) ExpiresAt() time.Time {
	return time.Unix(c.Expiry, 0).Add(Leeway)
}

// maxDate is the last second of year 9999, the largest date accepted.
const maxDate = 253402300799

// header is the protected header. Its canonical encoding is the only one
// accepted.
type header struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

var b64 = base64.RawURLEncoding.Strict()

// ErrTooLarge is returned by Sign when the token would exceed MaxTokenSize.
// The minter should shorten sub or details.
var ErrTooLarge = fmt.Errorf("token would be larger than %d bytes", MaxTokenSize)

// NewID returns a fresh jti: a 48-bit millisecond timestamp followed by 128
// random bits, base64url without padding.
func NewID(now time.Time) (string, error) {
	var b [jtiTimeBytes + jtiRandomBytes]byte
	var ms [8]byte
	binary.BigEndian.PutUint64(ms[:], uint64(now.UnixMilli()))
	copy(b[:jtiTimeBytes], ms[8-jtiTimeBytes:])
	if _, err := rand.Read(b[jtiTimeBytes:]); err != nil {
		return "", fmt.Errorf("failed to read random bytes: %v", err)
	}
	return b64.EncodeToString(b[:]), nil
}

// Sign checks the claims against the profile and returns the compact token
// signed by key under kid.
func Sign(c *Claims, kid string, key ed25519.PrivateKey) (string, error) {
	if c.Details != nil {
		d, err := CanonicalDetails(c.Details)
		if err != nil {
			return "", err
		}
		cc := *c
		cc.Details = d
		c = &cc
	}
	if err := c.validate(); err != nil {
		return "", err
	}
	if !validKid(kid) {
		return "", errors.New("invalid kid")
	}
	h, err := json.Marshal(header{Alg: Algorithm, Kid: kid, Typ: Type})
	if err != nil {
		return "", err
	}
	p, err := c.encode()
	if err != nil {
		return "", err
	}
	n := b64.EncodedLen(len(h)) + 1 + b64.EncodedLen(len(p))
	buf := make([]byte, 0, n+1+b64.EncodedLen(ed25519.SignatureSize))
	buf = b64.AppendEncode(buf, h)
	buf = append(buf, '.')
	buf = b64.AppendEncode(buf, p)
	sig := ed25519.Sign(key, buf)
	buf = append(buf, '.')
	buf = b64.AppendEncode(buf, sig)
	if len(buf) > MaxTokenSize {
		return "", ErrTooLarge
	}
	return string(buf), nil
}

// encode returns the canonical JSON of the claims: the members in the order
// of the struct, empty optional members left out, compact.
func (c *Claims) encode() ([]byte, error) {
	return json.Marshal(c)
}

// validate checks the claims' values against the profile, apart from time.
func (c *Claims) validate() error {
	switch {
	case c.Issuer == "" || len(c.Issuer) > 256 || !utf8.ValidString(c.Issuer) ||
		hasControl(c.Issuer):
		return errors.New("invalid iss")
	case ValidateSub(c.Subject) != nil:
		return ValidateSub(c.Subject)
	case ValidateAction(c.Action) != nil:
		return ValidateAction(c.Action)
	case c.Audience != "" && ValidateAud(c.Audience) != nil:
		return ValidateAud(c.Audience)
	case !validID(c.ID):
		return errors.New("invalid jti")
	case c.IssuedAt <= 0 || c.Expiry > maxDate:
		return errors.New("dates out of range")
	case c.Expiry-c.IssuedAt < int64(MinTTL/time.Second),
		c.Expiry-c.IssuedAt > int64(MaxTTL/time.Second):
		return errors.New("lifetime out of range")
	}
	if c.Details != nil {
		if err := ValidateDetails(c.Details); err != nil {
			return err
		}
	}
	for _, m := range c.AMR {
		if m == "" || len(m) > 32 || !printableASCII(m) {
			return errors.New("invalid amr")
		}
	}
	return nil
}

// ValidateSub reports whether s is an acceptable approver: 1 to 256
// characters of valid UTF-8 without control characters.
func ValidateSub(s string) error {
	n := utf8.RuneCountInString(s)
	switch {
	case n == 0:
		return errors.New("sub is empty")
	case n > MaxSubLen:
		return fmt.Errorf("sub is longer than %d characters", MaxSubLen)
	case !utf8.ValidString(s):
		return errors.New("sub is not valid UTF-8")
	case hasControl(s):
		return errors.New("sub contains control characters")
	}
	return nil
}

// ValidateAction reports whether s is an acceptable action: 1 to 64
// printable ASCII characters without spaces.
func ValidateAction(s string) error {
	switch {
	case s == "":
		return errors.New("action is empty")
	case len(s) > MaxActionLen:
		return fmt.Errorf("action is longer than %d characters", MaxActionLen)
	case !printableASCII(s):
		return errors.New("action must be printable ASCII without spaces")
	}
	return nil
}

// ValidateAud reports whether s is an acceptable audience: 1 to 256
// printable ASCII characters without spaces.
func ValidateAud(s string) error {
	switch {
	case s == "":
		return errors.New("aud is empty")
	case len(s) > MaxAudLen:
		return fmt.Errorf("aud is longer than %d characters", MaxAudLen)
	case !printableASCII(s):
		return errors.New("aud must be printable ASCII without spaces")
	}
	return nil
}

// ValidateDetails reports whether d is an acceptable details member: a JSON
// object of valid UTF-8, without duplicate member names at any depth, of at
// most MaxDetailsSize bytes in canonical form (see CanonicalDetails).
func ValidateDetails(d json.RawMessage) error {
	_, err := CanonicalDetails(d)
	return err
}

// CanonicalDetails checks d and returns the one spelling a token carries:
// compact, escaped as encoding/json escapes strings.
func CanonicalDetails(d json.RawMessage) (json.RawMessage, error) {
	if len(d) == 0 || d[0] != '{' {
		return nil, errors.New("details must be a JSON object")
	}
	if !utf8.Valid(d) || !json.Valid(d) {
		return nil, errors.New("details is not valid JSON")
	}
	if err := checkMembers(json.NewDecoder(bytes.NewReader(d)), 0); err != nil {
		return nil, err
	}
	canon, err := json.Marshal(d)
	if err != nil {
		return nil, errors.New("details is not valid JSON")
	}
	if len(canon) > MaxDetailsSize {
		return nil, fmt.Errorf("details is larger than %d bytes", MaxDetailsSize)
	}
	return canon, nil
}

// maxDetailsDepth bounds the nesting of details.
const maxDetailsDepth = 8

// checkMembers walks one JSON value and refuses duplicate member names
// (RFC 8259 section 4 leaves their meaning to the parser, so two parsers
// could read different amounts from one token) and deep nesting.
func checkMembers(dec *json.Decoder, depth int) error {
	if depth > maxDetailsDepth {
		return fmt.Errorf("details nested deeper than %d", maxDetailsDepth)
	}
	t, err := dec.Token()
	if err != nil {
		return errors.New("details is not valid JSON")
	}
	switch t {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return errors.New("details is not valid JSON")
			}
			name, _ := k.(string)
			if seen[name] {
				return errors.New("details has a duplicate member")
			}
			seen[name] = true
			if err := checkMembers(dec, depth+1); err != nil {
				return err
			}
		}
		_, err = dec.Token()
	case json.Delim('['):
		for dec.More() {
			if err := checkMembers(dec, depth+1); err != nil {
				return err
			}
		}
		_, err = dec.Token()
	}
	if err != nil {
		return errors.New("details is not valid JSON")
	}
	return nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

func hasControl(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) {
			return true
		}
	}
	return false
}

func validID(s string) bool {
	if len(s) != jtiLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isB64(s[i]) {
			return false
		}
	}
	var b [jtiTimeBytes + jtiRandomBytes]byte
	_, err := b64.Decode(b[:], []byte(s))
	return err == nil
}

// validKid reports whether s looks like an RFC 7638 SHA-256 thumbprint:
// 43 base64url characters.
func validKid(s string) bool {
	if len(s) != 43 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isB64(s[i]) {
			return false
		}
	}
	return true
}

func isB64(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' ||
		'0' <= c && c <= '9' || c == '-' || c == '_'
}
