package token

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"time"
)

// Reason says why a token was rejected. Reasons are stable and safe to show
// to a client; they never contain any part of the token.
type Reason string

// Reasons for rejecting a token.
const (
	// ReasonMalformed: the token is not a well-formed compact JWS of this
	// profile (size, characters, segments, base64url, header members).
	ReasonMalformed Reason = "malformed"
	// ReasonUnknownKey: no key of the keyring has the header's kid.
	ReasonUnknownKey Reason = "unknown_key"
	// ReasonBadSignature: the Ed25519 signature does not verify.
	ReasonBadSignature Reason = "bad_signature"
	// ReasonInvalidClaims: the signed claims break the profile's schema.
	ReasonInvalidClaims Reason = "invalid_claims"
	// ReasonExpired: exp plus leeway has passed.
	ReasonExpired Reason = "expired"
	// ReasonNotYetValid: iat is further in the future than the leeway.
	ReasonNotYetValid Reason = "not_yet_valid"
	// ReasonWrongIssuer: iss is not the expected issuer.
	ReasonWrongIssuer Reason = "wrong_issuer"
	// ReasonActionMismatch: the caller named an action the token lacks.
	ReasonActionMismatch Reason = "action_mismatch"
	// ReasonAudienceMismatch: the caller named an audience the token lacks.
	ReasonAudienceMismatch Reason = "audience_mismatch"
)

// Error is a verification failure: a stable reason for the client and the
// detail for the developer's log.
type Error struct {
	Reason Reason
	Detail string
	// Claims are the token's claims when its signature and schema
	// verified but a later check (time, issuer, action, audience) failed,
	// so that the refusal can be recorded against its jti; nil otherwise.
	Claims *Claims
}

func (e *Error) Error() string {
	if e.Detail == "" {
		return "invalid token: " + string(e.Reason)
	}
	return "invalid token: " + string(e.Reason) + ": " + e.Detail
}

// Is lets errors.Is match an *Error by reason: errors.Is(err, ErrExpired).
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Detail == "" && t.Reason == e.Reason
}

// Sentinels to match with errors.Is. A caller that gets ErrExpired should
// ask the approver again; any other rejection means the token must not be
// honoured.
var (
	ErrMalformed        = &Error{Reason: ReasonMalformed}
	ErrUnknownKey       = &Error{Reason: ReasonUnknownKey}
	ErrBadSignature     = &Error{Reason: ReasonBadSignature}
	ErrInvalidClaims    = &Error{Reason: ReasonInvalidClaims}
	ErrExpired          = &Error{Reason: ReasonExpired}
	ErrNotYetValid      = &Error{Reason: ReasonNotYetValid}
	ErrWrongIssuer      = &Error{Reason: ReasonWrongIssuer}
	ErrActionMismatch   = &Error{Reason: ReasonActionMismatch}
	ErrAudienceMismatch = &Error{Reason: ReasonAudienceMismatch}
)

func reject(r Reason, format string, args ...any) *Error {
	return &Error{Reason: r, Detail: fmt.Sprintf(format, args...)}
}

// Keys finds the public key for a kid. The algorithm is fixed by the key
// (Ed25519), never taken from the token.
type Keys interface {
	PublicKey(kid string) (ed25519.PublicKey, bool)
}

// Expect is what the verifier requires beyond the profile itself.
type Expect struct {
	// Issuer is the required iss. It must not be empty.
	Issuer string
	// Action, when not empty, must equal the token's action byte for byte.
	Action string
	// Audience, when not empty, must equal the token's aud byte for byte.
	Audience string
	// Now is the time to check iat and exp against.
	Now time.Time
}

// Verify checks tok against the profile and returns its claims. Every
// failure is an *Error. Verify consumes nothing: a token it accepts must
// still be consumed by jti exactly once by whoever honours it.
func Verify(tok string, keys Keys, want Expect) (*Claims, error) {
	p, err := Parse(tok)
	if err != nil {
		return nil, err
	}
	return p.Verify(keys, want)
}

// Parsed is a token whose structure and header have been checked but whose
// signature and claims have not.
type Parsed struct {
	// Kid is the header's key id.
	Kid          string
	signingInput []byte
	payload      []byte
	sig          []byte
}

// Parse runs the structural steps of verification, in order: size and
// character set, three segments, strict base64url (RFC 7515 section 2, no
// padding, canonical trailing bits), and the header, which must be exactly
// the canonical {"alg":"EdDSA","kid":KID,"typ":"agentmint+jwt"}. It does not
// verify the signature: use Verify.
func Parse(tok string) (*Parsed, error) {
	// 1. Size and character set.
	if len(tok) > MaxTokenSize {
		return nil, reject(ReasonMalformed, "longer than %d bytes", MaxTokenSize)
	}
	dots := 0
	for i := 0; i < len(tok); i++ {
		switch c := tok[i]; {
		case c == '.':
			dots++
		case !isB64(c):
			return nil, reject(ReasonMalformed, "character outside base64url at %d", i)
		}
	}

	// 2. Exactly three segments (RFC 7515 section 7.1); the JSON
	// serialization is never accepted.
	if dots != 2 {
		return nil, reject(ReasonMalformed, "want 3 segments, have %d", dots+1)
	}
	h, rest, _ := cut(tok)
	pl, s, _ := cut(rest)

	// 3. Strict base64url of each segment. One buffer holds the token's
	// bytes, whose first two segments are the signing input, and the
	// three decoded segments.
	hLen, pLen := len(h), len(pl)
	buf := make([]byte, len(tok)+
		b64.DecodedLen(hLen)+b64.DecodedLen(pLen)+b64.DecodedLen(len(s)))
	raw, out := buf[:len(tok)], buf[len(tok):]
	copy(raw, tok)
	decode := func(seg []byte) ([]byte, bool) {
		n, err := b64.Decode(out, seg)
		d := out[:n:n]
		out = out[n:]
		return d, err == nil
	}
	hb, ok := decode(raw[:hLen])
	if !ok {
		return nil, reject(ReasonMalformed, "header is not base64url")
	}
	pb, ok := decode(raw[hLen+1 : hLen+1+pLen])
	if !ok {
		return nil, reject(ReasonMalformed, "payload is not base64url")
	}
	sb, ok := decode(raw[hLen+1+pLen+1:])
	if !ok {
		return nil, reject(ReasonMalformed, "signature is not base64url")
	}
	if len(sb) != ed25519.SignatureSize {
		return nil, reject(ReasonMalformed, "signature of %d bytes", len(sb))
	}

	// 4. The header, exactly as the profile writes it.
	kid, err := parseHeader(hb)
	if err != nil {
		return nil, err
	}
	return &Parsed{
		Kid:          kid,
		signingInput: raw[: hLen+1+pLen : hLen+1+pLen],
		payload:      pb,
		sig:          sb,
	}, nil
}

func cut(s string) (before, after string, found bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// parseHeader checks the decoded header and returns its kid. Members other
// than alg, kid and typ (crit, jku, jwk, x5u, x5c, b64, zip, ...) are
// refused by name; duplicates, case variants and any other spelling are
// refused by comparing with the canonical encoding. The canonical header
// itself is recognised first without any JSON work.
func parseHeader(b []byte) (string, error) {
	if kid, ok := cutHeader(b); ok {
		return kid, nil
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(b, &members); err != nil {
		return "", reject(ReasonMalformed, "header is not a JSON object")
	}
	for name := range members {
		switch name {
		case "alg", "kid", "typ":
		default:
			return "", reject(ReasonMalformed, "header member %q not allowed", name)
		}
	}
	var h header
	if err := json.Unmarshal(b, &h); err != nil {
		return "", reject(ReasonMalformed, "header members of the wrong type")
	}
	if h.Alg != Algorithm {
		return "", reject(ReasonMalformed, "alg %q not allowed", h.Alg)
	}
	if h.Typ != Type {
		return "", reject(ReasonMalformed, "typ %q not allowed", h.Typ)
	}
	if !validKid(h.Kid) {
		return "", reject(ReasonMalformed, "kid is not a key thumbprint")
	}
	canon, err := json.Marshal(h)
	if err != nil || !bytes.Equal(canon, b) {
		return "", reject(ReasonMalformed, "header is not in canonical form")
	}
	return h.Kid, nil
}

// Verify runs the remaining steps on a parsed token: the key for kid, the
// signature, the claims' schema, time, issuer and the caller's bindings.
func (p *Parsed) Verify(keys Keys, want Expect) (*Claims, error) {
	// 5. The key for kid; its type fixes the algorithm.
	pub, ok := keys.PublicKey(p.Kid)
	if !ok {
		return nil, reject(ReasonUnknownKey, "no key with this kid")
	}

	// 6. The signature (RFC 8032 section 5.1.7, which rejects S >= L).
	if !verifySignature(pub, p.signingInput, p.sig) {
		return nil, reject(ReasonBadSignature, "")
	}

	// 7. The claims: strict schema, canonical encoding.
	c, err := parseClaims(p.payload)
	if err != nil {
		return nil, err
	}

	// 8. Time, issuer, then the caller's bindings.
	if err := c.checkBindings(want); err != nil {
		err.Claims = c
		return nil, err
	}
	return c, nil
}

// checkBindings runs step 8 on claims whose signature verified.
func (c *Claims) checkBindings(want Expect) *Error {
	if err := c.checkTime(want.Now); err != nil {
		return err
	}
	if want.Issuer == "" || c.Issuer != want.Issuer {
		return reject(ReasonWrongIssuer, "")
	}
	if want.Action != "" && c.Action != want.Action {
		return reject(ReasonActionMismatch, "")
	}
	if want.Audience != "" && c.Audience != want.Audience {
		return reject(ReasonAudienceMismatch, "")
	}
	return nil
}

// parseClaims decodes the payload with the strict schema: known members
// only, each once, with the right JSON type, integers for dates, values
// within the profile, and the canonical encoding byte for byte. The last
// rule also refuses duplicates, case variants, escapes and whitespace, so
// one set of claims has exactly one spelling. Claims without escapes or
// details, the common case, take a fast path that accepts exactly the
// canonical spelling (decodeCanonical).
func parseClaims(b []byte) (*Claims, error) {
	if c, ok := decodeCanonical(b); ok {
		if err := c.validate(); err != nil {
			return nil, reject(ReasonInvalidClaims, "%v", err)
		}
		return &c, nil
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	var c Claims
	if err := d.Decode(&c); err != nil {
		return nil, reject(ReasonInvalidClaims, "schema: %v", err)
	}
	if err := c.validate(); err != nil {
		return nil, reject(ReasonInvalidClaims, "%v", err)
	}
	canon, err := c.encode()
	if err != nil || !bytes.Equal(canon, b) {
		return nil, reject(ReasonInvalidClaims, "claims not in canonical form")
	}
	return &c, nil
}

func (c *Claims) checkTime(now time.Time) *Error {
	if now.IsZero() {
		panic("token: Expect.Now is zero")
	}
	if time.Unix(c.IssuedAt, 0).After(now.Add(Leeway)) {
		return reject(ReasonNotYetValid, "")
	}
	if !now.Before(c.ExpiresAt()) {
		return reject(ReasonExpired, "")
	}
	return nil
}
