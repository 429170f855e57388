// Package vectors generates testdata/vectors.json: known-answer tests of
// the token profile for verifiers in any language. Everything is derived
// from fixed seeds, and Ed25519 signatures are deterministic, so the file
// is the same byte for byte on every run.
package vectors

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	"github.com/agentmint/agentmint/internal/keys"
	"github.com/agentmint/agentmint/token"
)

// File is the layout of vectors.json.
type File struct {
	Description string    `json:"description"`
	Issuer      string    `json:"issuer"`
	Now         int64     `json:"now"`
	JWKS        keys.JWKS `json:"jwks"`
	Vectors     []Vector  `json:"vectors"`
}

// Vector is one token and its verdict.
type Vector struct {
	Name  string `json:"name"`
	Token string `json:"token"`
	// Action and Audience, when set, are what the verifier requires.
	Action   string `json:"expect_action,omitempty"`
	Audience string `json:"expect_audience,omitempty"`
	Valid    bool   `json:"valid"`
	// Reason is the token.Reason of a rejection; empty if Valid.
	Reason string `json:"reason,omitempty"`
	// Claims is the payload a verifier returns for a valid token.
	Claims json.RawMessage `json:"claims,omitempty"`
}

// The fixture.
var (
	signer = ed25519.NewKeyFromSeed(seed("signing key"))
	other  = ed25519.NewKeyFromSeed(seed("a key nobody published"))
	kid    = token.KeyID(signer.Public().(ed25519.PublicKey))
	kidX   = token.KeyID(other.Public().(ed25519.PublicKey))
	now    = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	jti    = b64("0123456789abcdefghijkl")
)

// Issuer is the iss the vectors are minted by and verified against.
const Issuer = "https://agentmint.example"

func seed(label string) []byte {
	s := sha256.Sum256([]byte("agentmint test vectors: " + label))
	return s[:]
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// Generate returns the contents of vectors.json.
func Generate() ([]byte, error) {
	f := File{
		Description: "AgentMint token verification vectors. Verify each token with " +
			"the keys in jwks, requiring iss = issuer, at the Unix time now, with " +
			"expect_action and expect_audience bound when present. valid tokens " +
			"must yield claims; others must be rejected for reason. See " +
			"testdata/vectors.md.",
		Issuer: Issuer,
		Now:    now,
		JWKS:   keys.JWKS{Keys: []keys.JWK{keys.PublicJWK(signer.Public().(ed25519.PublicKey))}},
	}
	for _, c := range cases() {
		f.Vectors = append(f.Vectors, c.vector())
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// header is the one accepted header for kid.
func header(k string) string {
	return `{"alg":"EdDSA","kid":"` + k + `","typ":"agentmint+jwt"}`
}

// claims returns a canonical payload issued ago seconds before now, living
// ttl seconds, with extra members spliced in before jti in canonical order.
func claims(ago, ttl int64) map[string]any {
	return map[string]any{"iss": Issuer, "sub": "alice@example.com",
		"action": "refund:order:123", "jti": jti, "iat": now - ago, "exp": now - ago + ttl}
}

// encode writes claims in the profile's member order: iss, sub, aud,
// action, details, amr, jti, iat, exp.
func encode(m map[string]any) string {
	var parts []string
	for _, k := range []string{"iss", "sub", "aud", "action", "details", "amr", "jti", "iat", "exp"} {
		v, ok := m[k]
		if !ok {
			continue
		}
		b, _ := json.Marshal(v)
		kb, _ := json.Marshal(k)
		parts = append(parts, string(kb)+":"+string(b))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// sign returns the compact JWS of the header and payload, signed by key.
func sign(hdr, payload string, key ed25519.PrivateKey) string {
	input := b64(hdr) + "." + b64(payload)
	return input + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(key, []byte(input)))
}

// tc is one case: a token and the verdict the profile gives it.
type tc struct {
	name           string
	tok            string
	action, aud    string
	reason         token.Reason // empty: valid
	payloadOfValid string
}

func (c tc) vector() Vector {
	v := Vector{Name: c.name, Token: c.tok, Action: c.action, Audience: c.aud,
		Valid: c.reason == "", Reason: string(c.reason)}
	if v.Valid {
		v.Claims = json.RawMessage(c.payloadOfValid)
	}
	return v
}

// valid returns a case of a correctly signed token with payload p.
func valid(name string, p string) tc {
	return tc{name: name, tok: sign(header(kid), p, signer), payloadOfValid: p}
}

// bad returns a case of a correctly signed token rejected for r.
func bad(name string, r token.Reason, hdr, p string) tc {
	return tc{name: name, tok: sign(hdr, p, signer), reason: r}
}
