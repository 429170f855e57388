package vectors

import (
	"strings"

	"github.com/agentmint/agentmint/token"
)

func with(m map[string]any, kv ...any) map[string]any {
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

func without(m map[string]any, k string) map[string]any {
	delete(m, k)
	return m
}

// cases lists the vectors. Names are stable; new cases go at the end of
// their group.
func cases() []tc {
	h := header(kid)
	base := encode(claims(10, 60))
	full := encode(with(claims(10, 120), "aud", "payments",
		"details", map[string]any{"amount": 50, "currency": "USD", "order": "123"},
		"amr", []string{"passkey"}))
	good := sign(h, base, signer)

	cs := []tc{
		// Valid tokens.
		valid("minimal", base),
		withBinding(valid("all optional members, bound to action and audience", full),
			"refund:order:123", "payments"),
		valid("lifetime 300 s, the maximum", encode(claims(0, 300))),
		valid("lifetime 1 s, the minimum", encode(claims(0, 1))),
		valid("expired 4 s ago, within the 5 s leeway", encode(claims(64, 60))),
		valid("issued 5 s in the future, within the leeway", encode(claims(-5, 60))),
		valid("non-ASCII sub", encode(with(claims(10, 60), "sub", "zoë@example.com"))),
		valid("HTML characters escaped as encoding/json does",
			encode(with(claims(10, 60), "sub", "<a&b>"))),

		// Time.
		bad("expired 5 s ago, at the end of the leeway", token.ReasonExpired, h, encode(claims(65, 60))),
		bad("issued 6 s in the future", token.ReasonNotYetValid, h, encode(claims(-6, 60))),

		// Keys and signatures.
		{name: "signed by an unpublished key under its own kid",
			tok: sign(header(kidX), base, other), reason: token.ReasonUnknownKey},
		{name: "signed by another key under the published kid",
			tok: sign(h, base, other), reason: token.ReasonBadSignature},
		{name: "signature with one character changed",
			tok: flip(good, len(good)-20), reason: token.ReasonBadSignature},
		{name: "payload changed after signing",
			tok:    swapPayload(good, encode(with(claims(10, 60), "sub", "mallory@example.com"))),
			reason: token.ReasonBadSignature},

		// Issuer and bindings.
		bad("another issuer", token.ReasonWrongIssuer, h,
			encode(with(claims(10, 60), "iss", "https://evil.example"))),
		withBinding(tc{name: "verifier requires another action", tok: good,
			reason: token.ReasonActionMismatch}, "refund:order:999", ""),
		withBinding(tc{name: "verifier requires an audience the token lacks", tok: good,
			reason: token.ReasonAudienceMismatch}, "", "payments"),
		withBinding(tc{name: "verifier requires another audience",
			tok: sign(h, full, signer), reason: token.ReasonAudienceMismatch}, "", "shipping"),

		// Claims schema.
		bad("lifetime 301 s", token.ReasonInvalidClaims, h, encode(claims(10, 301))),
		bad("lifetime 0 s", token.ReasonInvalidClaims, h, encode(claims(10, 0))),
		bad("exp as a float", token.ReasonInvalidClaims, h,
			strings.Replace(base, `}`, `.0}`, 1)),
		bad("iat as a string", token.ReasonInvalidClaims, h,
			encode(with(claims(10, 60), "iat", "1767225590"))),
		bad("duplicate sub", token.ReasonInvalidClaims, h,
			strings.Replace(base, `"sub":`, `"sub":"mallory@example.com","sub":`, 1)),
		bad("unknown member", token.ReasonInvalidClaims, h,
			strings.Replace(base, `{`, `{"admin":true,`, 1)),
		bad("members out of canonical order", token.ReasonInvalidClaims, h,
			`{"sub":"alice@example.com","iss":"`+Issuer+`"`+base[strings.Index(base, `,"action"`):]),
		bad("whitespace in the payload", token.ReasonInvalidClaims, h,
			strings.Replace(base, `,`, `, `, 1)),
		bad("missing jti", token.ReasonInvalidClaims, h, encode(without(claims(10, 60), "jti"))),
		bad("action with a space", token.ReasonInvalidClaims, h,
			encode(with(claims(10, 60), "action", "refund order"))),
		bad("details not an object", token.ReasonInvalidClaims, h,
			encode(with(claims(10, 60), "details", []int{50}))),
		bad("payload not JSON", token.ReasonInvalidClaims, h, "alice approved"),

		// Structure and header.
		bad("alg none", token.ReasonMalformed,
			`{"alg":"none","kid":"`+kid+`","typ":"agentmint+jwt"}`, base),
		bad("alg HS256", token.ReasonMalformed,
			`{"alg":"HS256","kid":"`+kid+`","typ":"agentmint+jwt"}`, base),
		bad("typ JWT", token.ReasonMalformed,
			`{"alg":"EdDSA","kid":"`+kid+`","typ":"JWT"}`, base),
		bad("header with jku", token.ReasonMalformed,
			`{"alg":"EdDSA","jku":"https://evil.example/jwks","kid":"`+kid+`","typ":"agentmint+jwt"}`, base),
		bad("header with crit", token.ReasonMalformed,
			`{"alg":"EdDSA","crit":["exp"],"kid":"`+kid+`","typ":"agentmint+jwt"}`, base),
		bad("header without typ", token.ReasonMalformed,
			`{"alg":"EdDSA","kid":"`+kid+`"}`, base),
		bad("header members reordered", token.ReasonMalformed,
			`{"kid":"`+kid+`","alg":"EdDSA","typ":"agentmint+jwt"}`, base),
		bad("duplicate alg", token.ReasonMalformed,
			`{"alg":"none","alg":"EdDSA","kid":"`+kid+`","typ":"agentmint+jwt"}`, base),
		{name: "two segments", tok: good[:strings.LastIndex(good, ".")],
			reason: token.ReasonMalformed},
		{name: "four segments", tok: good + ".AAAA", reason: token.ReasonMalformed},
		{name: "base64 padding", tok: padded(good), reason: token.ReasonMalformed},
		{name: "standard base64 alphabet", tok: strings.NewReplacer("-", "+", "_", "/").Replace(good) + "+",
			reason: token.ReasonMalformed},
		{name: "non-zero trailing bits in the signature", tok: trailingBits(good),
			reason: token.ReasonMalformed},
		{name: "surrounding whitespace", tok: " " + good, reason: token.ReasonMalformed},
		{name: "empty", tok: "", reason: token.ReasonMalformed},
		{name: "longer than 2048 bytes",
			tok:    sign(h, encode(with(claims(10, 60), "sub", strings.Repeat("a", 1600))), signer),
			reason: token.ReasonMalformed},
	}
	return cs
}

func withBinding(c tc, action, aud string) tc {
	c.action, c.aud = action, aud
	return c
}

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// flip changes the character at i to the next one of the alphabet.
func flip(tok string, i int) string {
	j := strings.IndexByte(alphabet, tok[i])
	return tok[:i] + string(alphabet[(j+1)%64]) + tok[i+1:]
}

// swapPayload replaces the payload and keeps the signature.
func swapPayload(tok, payload string) string {
	parts := strings.Split(tok, ".")
	return parts[0] + "." + b64(payload) + "." + parts[2]
}

// padded adds the '=' padding the profile forbids to the signature.
func padded(tok string) string { return tok + "==" }

// trailingBits sets one of the unused low bits of the signature's last
// character: the same bytes, a second spelling.
func trailingBits(tok string) string {
	i := len(tok) - 1
	j := strings.IndexByte(alphabet, tok[i])
	return tok[:i] + string(alphabet[j|1])
}
