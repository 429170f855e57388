package token

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// The fixture: one fixed key, so that tokens, fuzz seeds and corpus files
// are the same on every run, and one moment all the tests verify at.
var (
	testKey    = ed25519.NewKeyFromSeed(seed(1))
	testPub    = testKey.Public().(ed25519.PublicKey)
	testKid    = thumbprint(testPub)
	attacker   = ed25519.NewKeyFromSeed(seed(2))
	testNow    = time.Unix(1767225600, 0) // 2026-01-01T00:00:00Z
	testIssuer = "https://agentmint.test"
	testJTI    = b64.EncodeToString([]byte("0123456789abcdefghijkl"))
)

func seed(b byte) []byte {
	s := make([]byte, ed25519.SeedSize)
	for i := range s {
		s[i] = b
	}
	return s
}

// thumbprint is the RFC 7638 thumbprint of an Ed25519 key, which the real
// keyring uses as kid. The token package cannot import the keyring.
func thumbprint(pub ed25519.PublicKey) string {
	jwk := `{"crv":"Ed25519","kty":"OKP","x":"` + b64.EncodeToString(pub) + `"}`
	sum := sha256.Sum256([]byte(jwk))
	return b64.EncodeToString(sum[:])
}

// ring is a keyring for tests: kid to public key.
type ring map[string]ed25519.PublicKey

func (r ring) PublicKey(kid string) (ed25519.PublicKey, bool) {
	k, ok := r[kid]
	return k, ok
}

var testRing = ring{testKid: testPub}

// expect returns the Expect of a verifier of this fixture at testNow.
func expect() Expect {
	return Expect{Issuer: testIssuer, Now: testNow}
}

// baseClaims returns valid claims issued at testNow for 60 seconds.
func baseClaims() *Claims {
	return &Claims{
		Issuer:   testIssuer,
		Subject:  "alice@example.com",
		Action:   "refund:order-123",
		ID:       testJTI,
		IssuedAt: testNow.Unix(),
		Expiry:   testNow.Unix() + 60,
	}
}

// canonHeader returns the one accepted header for kid.
func canonHeader(kid string) string {
	return `{"alg":"EdDSA","kid":"` + kid + `","typ":"agentmint+jwt"}`
}

// basePayload returns the canonical encoding of baseClaims.
func basePayload(tb testing.TB) string {
	tb.Helper()
	p, err := baseClaims().encode()
	if err != nil {
		tb.Fatalf("encode: %v", err)
	}
	return string(p)
}

// craft returns a compact token of arbitrary header and payload bytes,
// base64url-encoded and signed by key, so that a test reaches the check it
// targets with a signature that verifies.
func craft(header, payload string, key ed25519.PrivateKey) string {
	input := b64.EncodeToString([]byte(header)) + "." +
		b64.EncodeToString([]byte(payload))
	return input + "." + b64.EncodeToString(ed25519.Sign(key, []byte(input)))
}

// craftClaims signs payload under the canonical header of the test key.
func craftClaims(payload string) string {
	return craft(canonHeader(testKid), payload, testKey)
}

// withSig returns tok with its signature segment replaced by sig.
func withSig(tb testing.TB, tok string, sig []byte) string {
	tb.Helper()
	i := strings.LastIndexByte(tok, '.')
	if i < 0 {
		tb.Fatalf("token %q has no signature segment", tok)
	}
	return tok[:i+1] + b64.EncodeToString(sig)
}

// sigOf returns the decoded signature of tok.
func sigOf(tb testing.TB, tok string) []byte {
	tb.Helper()
	s, err := b64.DecodeString(tok[strings.LastIndexByte(tok, '.')+1:])
	if err != nil {
		tb.Fatalf("signature of %q: %v", tok, err)
	}
	return s
}

// edit replaces the first old in s by new and fails if s has no old, so
// that a case never silently tests the unmodified input.
func edit(tb testing.TB, s, old, new string) string {
	tb.Helper()
	if !strings.Contains(s, old) {
		tb.Fatalf("%q does not contain %q", s, old)
	}
	return strings.Replace(s, old, new, 1)
}

// mustSign signs c with the test key and fails the test on error.
func mustSign(tb testing.TB, c *Claims) string {
	tb.Helper()
	tok, err := Sign(c, testKid, testKey)
	if err != nil {
		tb.Fatalf("Sign: %v", err)
	}
	return tok
}

// reencode rebuilds the one canonical spelling of a parsed token from its
// decoded parts: the header from the kid, the claims' encoding and the
// signature bytes.
func reencode(tb testing.TB, p *Parsed, c *Claims) string {
	tb.Helper()
	h, err := json.Marshal(header{Alg: Algorithm, Kid: p.Kid, Typ: Type})
	if err != nil {
		tb.Fatalf("marshal header: %v", err)
	}
	pl, err := c.encode()
	if err != nil {
		tb.Fatalf("encode claims: %v", err)
	}
	return b64.EncodeToString(h) + "." + b64.EncodeToString(pl) + "." +
		b64.EncodeToString(p.sig)
}
