package token

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"strings"
	"testing"
)

// rejectCase is a token that Verify must refuse with want. why, when set,
// is a part of the detail that names the check expected to refuse it, for
// reasons several checks could give.
type rejectCase struct {
	name   string
	tok    string
	want   error
	why    string
	expect *Expect // nil: expect()
}

func TestVerifyRejects(t *testing.T) {
	for _, tc := range rejectCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			want := expect()
			if tc.expect != nil {
				want = *tc.expect
			}
			c, err := Verify(tc.tok, testRing, want)
			if err == nil {
				t.Fatalf("Verify accepted %q: %+v", tc.tok, c)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify: %v, want %v", err, tc.want)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Verify error %T is not an *Error", err)
			}
			if !strings.Contains(e.Detail, tc.why) {
				t.Errorf("Verify: %v, want a detail naming %q", err, tc.why)
			}

			// Parse runs the structural steps alone: it refuses exactly the
			// malformed tokens.
			_, perr := Parse(tc.tok)
			if malformed := errors.Is(tc.want, ErrMalformed); malformed != (perr != nil) {
				t.Errorf("Parse: %v, want an error: %v", perr, malformed)
			}
		})
	}
}

func TestRejectCasesCount(t *testing.T) {
	if n := len(rejectCases(t)); n < 40 {
		t.Errorf("%d rejection cases, want at least 40", n)
	}
}

// rejectCases builds the adversarial tokens. Apart from the cases about the
// signature, each is signed by the real test key, so the check it targets
// is the one that refuses it.
func rejectCases(tb testing.TB) []rejectCase {
	tb.Helper()
	var cases []rejectCase
	add := func(name, tok string, want error, why string) {
		cases = append(cases, rejectCase{name: name, tok: tok, want: want, why: why})
	}
	addExpect := func(name, tok string, want error, e Expect) {
		cases = append(cases, rejectCase{name: name, tok: tok, want: want, expect: &e})
	}
	hdr := canonHeader(testKid)
	pl := basePayload(tb)
	valid := craft(hdr, pl, testKey)
	if _, err := Verify(valid, testRing, expect()); err != nil {
		tb.Fatalf("the unmodified token is refused: %v", err)
	}
	h, p, s := segments(tb, valid)
	withAlg := func(alg string) string { return edit(tb, hdr, `"EdDSA"`, `"`+alg+`"`) }
	withHdr := func(old, new string) string {
		return craft(edit(tb, hdr, old, new), pl, testKey)
	}
	withPl := func(old, new string) string {
		return craftClaims(edit(tb, pl, old, new))
	}

	// The algorithm: only EdDSA, spelled exactly so.
	for _, alg := range []string{
		"none", "None", "NONE", "HS256", "RS256", "ES256", "eddsa", "Ed25519", "",
	} {
		add("alg "+alg, craft(withAlg(alg), pl, testKey), ErrMalformed, "alg")
	}

	// HMAC with each public form of the key as the secret (the algorithm
	// confusion attack). HS256 makes a 32-byte tag, refused for its length;
	// HS512 makes 64 bytes and so reaches the alg check; under the real
	// header it reaches the signature check.
	for _, sec := range publicKeyForms(tb) {
		add("HS256 keyed with "+sec.name,
			macToken(withAlg("HS256"), pl, sha256.New, sec.secret),
			ErrMalformed, "signature of 32 bytes")
		add("HS512 keyed with "+sec.name,
			macToken(withAlg("HS512"), pl, sha512.New, sec.secret),
			ErrMalformed, "alg")
		add("HMAC-SHA512 under alg EdDSA keyed with "+sec.name,
			macToken(hdr, pl, sha512.New, sec.secret), ErrBadSignature, "")
	}

	// Keys and kids.
	attackerPub := attacker.Public().(ed25519.PublicKey)
	add("attacker key under the real kid", craft(hdr, pl, attacker), ErrBadSignature, "")
	add("unknown kid", craft(canonHeader(thumbprint(attackerPub)), pl, attacker),
		ErrUnknownKey, "")
	add("well-formed kid of no key", craft(canonHeader(strings.Repeat("A", 43)), pl, testKey),
		ErrUnknownKey, "")
	for _, k := range []struct{ name, kid string }{
		{"path traversal", "../../etc/passwd"},
		{"path traversal of 43 bytes", "../../etc/passwd" + testKid[16:]},
		{"very long", strings.Repeat("A", 600)},
		{"empty", ""},
		{"NUL", testKid[:42] + `\u0000`},
		{"NUL of 43 bytes", `\u0000` + testKid[1:]},
		{"standard base64", "+/" + testKid[2:]},
		{"SQL", strings.Repeat("'", 20) + " OR 1=1 -- " + strings.Repeat("A", 12)},
	} {
		add("kid "+k.name, withHdr(testKid, k.kid), ErrMalformed, "kid")
	}
	add("kid a number", withHdr(`"`+testKid+`"`, "1"), ErrMalformed, "wrong type")
	add("kid null", withHdr(`"`+testKid+`"`, "null"), ErrMalformed, "kid")

	// Header members beyond alg, kid and typ.
	jwk := `{"kty":"OKP","crv":"Ed25519","x":"` + b64.EncodeToString(attackerPub) + `"}`
	for _, m := range []struct{ name, value string }{
		{"jwk", jwk},
		{"jku", `"https://evil.example/jwks.json"`},
		{"x5u", `"https://evil.example/cert.pem"`},
		{"x5c", `["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]`},
		{"crit", `["b64"]`},
		{"b64", `false`},
		{"zip", `"DEF"`},
		{"cty", `"JWT"`},
		{"nonce", `"x"`},
	} {
		add("header member "+m.name,
			withHdr(`"typ"`, `"`+m.name+`":`+m.value+`,"typ"`), ErrMalformed, "not allowed")
	}
	add("typ missing", withHdr(`,"typ":"agentmint+jwt"`, ""), ErrMalformed, "typ")
	add("typ JWT", withHdr("agentmint+jwt", "JWT"), ErrMalformed, "typ")
	add("typ AGENTMINT+JWT", withHdr("agentmint+jwt", "AGENTMINT+JWT"), ErrMalformed, "typ")
	add("typ application/agentmint+jwt",
		withHdr("agentmint+jwt", "application/agentmint+jwt"), ErrMalformed, "typ")
	add("duplicate alg, none first", withHdr(`{`, `{"alg":"none",`), ErrMalformed, "canonical")
	add("duplicate alg, none last", withHdr(`}`, `,"alg":"none"}`), ErrMalformed, "alg")
	add("duplicate alg, same value", withHdr(`}`, `,"alg":"EdDSA"}`), ErrMalformed, "canonical")
	add("member Alg", withHdr(`"alg"`, `"Alg"`), ErrMalformed, "not allowed")
	add("extra member ALG", withHdr(`}`, `,"ALG":"none"}`), ErrMalformed, "not allowed")
	add("header with spaces", withHdr(`,`, `, `), ErrMalformed, "canonical")
	add("header with a newline", withHdr(`}`, "\n}"), ErrMalformed, "canonical")
	add("header members reordered",
		craft(`{"kid":"`+testKid+`","alg":"EdDSA","typ":"agentmint+jwt"}`, pl, testKey),
		ErrMalformed, "canonical")
	add("header with escaped alg", withHdr("EdDSA", `Ed\u0044SA`), ErrMalformed, "canonical")
	add("header with escaped slash", withHdr("agentmint+jwt", `agentmint+jwt\/`), ErrMalformed, "typ")
	add("header not JSON", craft("alg=EdDSA", pl, testKey), ErrMalformed, "JSON object")
	add("header a JSON array", craft(`["EdDSA"]`, pl, testKey), ErrMalformed, "JSON object")
	add("header JSON null", craft(`null`, pl, testKey), ErrMalformed, "alg")
	add("header with trailing data", craft(hdr+"{}", pl, testKey), ErrMalformed, "JSON object")
	add("header with a BOM", craft("\uFEFF"+hdr, pl, testKey), ErrMalformed, "JSON object")

	// The compact serialization itself.
	add("JWS JSON serialization",
		`{"protected":"`+h+`","payload":"`+p+`","signature":"`+s+`"}`,
		ErrMalformed, "character outside")
	add("empty string", "", ErrMalformed, "segments")
	add("2 segments", h+"."+p, ErrMalformed, "segments")
	add("4 segments", valid+"."+s, ErrMalformed, "segments")
	add("5 segments, JWE-like", h+".."+p+"."+s+".", ErrMalformed, "segments")
	add("only dots", "..", ErrMalformed, "signature of 0 bytes")
	add("empty header segment", "."+p+"."+s, ErrMalformed, "JSON object")
	add("empty payload segment", craft(hdr, "", testKey), ErrInvalidClaims, "")
	add("empty signature segment", h+"."+p+".", ErrMalformed, "signature of 0 bytes")
	add("padding", valid+"==", ErrMalformed, "character outside")
	add("padding in the header", h+"=."+p+"."+s, ErrMalformed, "character outside")
	add("standard base64", stdBase64(tb, pl), ErrMalformed, "character outside")
	add("space inside", h+". "+p+"."+s, ErrMalformed, "character outside")
	add("newline inside", h+"."+p+".\n"+s, ErrMalformed, "character outside")
	add("CRLF at the end", valid+"\r\n", ErrMalformed, "character outside")
	add("tab inside", h+"\t."+p+"."+s, ErrMalformed, "character outside")
	for _, c := range []string{"!", "*", "~", "%2E", "é", "\x00", "\x7f", "\xff"} {
		add(fmt.Sprintf("character %q", c), h+"."+p+c+"."+s, ErrMalformed, "character outside")
	}
	add("over 2048 bytes", craftClaims(edit(tb, pl, `}`, `,"x":"`+strings.Repeat("a", 1500)+`"}`)),
		ErrMalformed, "longer than")
	add("2049 bytes of base64url", strings.Repeat("A", 2049), ErrMalformed, "longer than")

	// Non-canonical base64url: set unused low bits of a segment's last
	// character. Header and payload are re-signed so only the encoding is off.
	if len(s)%4 != 0 {
		add("signature with trailing bits", h+"."+p+"."+trailingBits(tb, s),
			ErrMalformed, "signature is not base64url")
	}
	if len(h)%4 != 0 {
		add("header with trailing bits", signInput(trailingBits(tb, h)+"."+p),
			ErrMalformed, "header is not base64url")
	}
	if odd := pl + " "; len(b64.EncodeToString([]byte(odd)))%4 != 0 {
		p2 := trailingBits(tb, b64.EncodeToString([]byte(odd)))
		add("payload with trailing bits", signInput(h+"."+p2),
			ErrMalformed, "payload is not base64url")
	} else {
		tb.Fatalf("payload of %d bytes has no trailing bits", len(odd))
	}

	// The signature bytes.
	sig := sigOf(tb, valid)
	add("signature truncated to 63 bytes", withSig(tb, valid, sig[:63]),
		ErrMalformed, "signature of 63 bytes")
	add("signature extended to 65 bytes", withSig(tb, valid, append(sig[:64:64], 0)),
		ErrMalformed, "signature of 65 bytes")
	add("signature with the public key appended",
		withSig(tb, valid, append(sig[:64:64], testPub...)), ErrMalformed, "signature of 96 bytes")
	add("signature all zeros", withSig(tb, valid, make([]byte, 64)), ErrBadSignature, "")
	add("signature S+L", withSig(tb, valid, addToS(tb, sig, groupOrder)), ErrBadSignature, "")
	add("signature S+2L", withSig(tb, valid, addToS(tb, sig, new(big.Int).Lsh(groupOrder, 1))),
		ErrBadSignature, "")
	flipped := append([]byte(nil), sig...)
	flipped[0] ^= 1
	add("signature with a bit of R flipped", withSig(tb, valid, flipped), ErrBadSignature, "")
	add("signature of another token", withSig(tb, valid, sigOf(tb, mustSign(tb, &Claims{
		Issuer: testIssuer, Subject: "bob", Action: "a", ID: testJTI,
		IssuedAt: testNow.Unix(), Expiry: testNow.Unix() + 60,
	}))), ErrBadSignature, "")
	add("payload swapped under a valid signature",
		h+"."+b64.EncodeToString([]byte(edit(tb, pl, "alice", "mallo")))+"."+s,
		ErrBadSignature, "")

	// The claims' schema.
	iat := fmt.Sprint(testNow.Unix())
	exp := fmt.Sprint(testNow.Unix() + 60)
	for _, m := range []struct{ name, member string }{
		{"iss", `"iss":"` + testIssuer + `",`},
		{"sub", `"sub":"alice@example.com",`},
		{"action", `"action":"refund:order-123",`},
		{"jti", `"jti":"` + testJTI + `",`},
		{"iat", `"iat":` + iat + `,`},
		{"exp", `,"exp":` + exp},
	} {
		add("claim "+m.name+" missing", craftClaims(edit(tb, pl, m.member, "")),
			ErrInvalidClaims, "")
	}
	add("sub twice", withPl(`"sub":`, `"sub":"mallory","sub":`), ErrInvalidClaims, "canonical")
	add("exp twice", withPl(`}`, `,"exp":`+exp+`}`), ErrInvalidClaims, "canonical")
	add("claim SUB", withPl(`"sub"`, `"SUB"`), ErrInvalidClaims, "canonical")
	add("claim Iss", withPl(`"iss"`, `"Iss"`), ErrInvalidClaims, "canonical")
	add("claim name escaped", withPl(`"sub"`, `"s\u0075b"`), ErrInvalidClaims, "canonical")
	add("claim value escaped", withPl(`alice`, `\u0061lice`), ErrInvalidClaims, "canonical")
	add("iat a string", withPl(`"iat":`+iat, `"iat":"`+iat+`"`), ErrInvalidClaims, "schema")
	add("iat 1.5", withPl(`"iat":`+iat, `"iat":1.5`), ErrInvalidClaims, "schema")
	add("iat with .0", withPl(`"iat":`+iat, `"iat":`+iat+`.0`), ErrInvalidClaims, "schema")
	add("exp 1e9", withPl(`"exp":`+exp, `"exp":1e9`), ErrInvalidClaims, "schema")
	add("exp in exponent form", withPl(`"exp":`+exp, `"exp":1.76722566e9`), ErrInvalidClaims, "schema")
	add("exp beyond int64", withPl(`"exp":`+exp, `"exp":99999999999999999999`),
		ErrInvalidClaims, "schema")
	add("iat negative", withPl(`"iat":`+iat, `"iat":-`+iat), ErrInvalidClaims, "dates")
	add("iat zero", withPl(`"iat":`+iat, `"iat":0`), ErrInvalidClaims, "dates")
	add("iat -0", withPl(`"iat":`+iat, `"iat":-0`), ErrInvalidClaims, "dates")
	add("iat null", withPl(`"iat":`+iat, `"iat":null`), ErrInvalidClaims, "dates")
	add("dates beyond year 9999", craftClaims(fmt.Sprintf(
		`{"iss":%q,"sub":"a","action":"a","jti":%q,"iat":%d,"exp":%d}`,
		testIssuer, testJTI, int64(maxDate), int64(maxDate)+60)), ErrInvalidClaims, "dates")
	add("lifetime 301 s", withPl(`"exp":`+exp, fmt.Sprintf(`"exp":%d`, testNow.Unix()+301)),
		ErrInvalidClaims, "lifetime")
	add("lifetime 0 s", withPl(`"exp":`+exp, `"exp":`+iat), ErrInvalidClaims, "lifetime")
	add("lifetime a day", withPl(`"exp":`+exp, fmt.Sprintf(`"exp":%d`, testNow.Unix()+86400)),
		ErrInvalidClaims, "lifetime")
	add("unknown claim", withPl(`}`, `,"admin":true}`), ErrInvalidClaims, "schema")
	add("unknown claim nbf", withPl(`"iat"`, `"nbf":`+iat+`,"iat"`), ErrInvalidClaims, "schema")
	for _, d := range []string{`"refund"`, `[1]`, `5000`, `null`, `true`} {
		add("details "+d, withPl(`,"jti"`, `,"details":`+d+`,"jti"`), ErrInvalidClaims, "details")
	}
	add("details with spaces", withPl(`,"jti"`, `,"details":{"a": 1},"jti"`),
		ErrInvalidClaims, "canonical")
	add("aud empty", withPl(`,"action"`, `,"aud":"","action"`), ErrInvalidClaims, "canonical")
	add("aud a list", withPl(`,"action"`, `,"aud":["x"],"action"`), ErrInvalidClaims, "schema")
	add("amr empty", withPl(`,"jti"`, `,"amr":[],"jti"`), ErrInvalidClaims, "canonical")
	add("amr a string", withPl(`,"jti"`, `,"amr":"passkey","jti"`), ErrInvalidClaims, "schema")
	add("jti of 29 characters", withPl(testJTI, testJTI[:29]), ErrInvalidClaims, "jti")
	add("jti with trailing bits", withPl(testJTI, trailingBits(tb, testJTI)), ErrInvalidClaims, "jti")
	add("sub with a control character", withPl(`alice`, `\u0007alice`), ErrInvalidClaims, "control")
	add("sub empty", withPl(`"alice@example.com"`, `""`), ErrInvalidClaims, "sub")
	add("action with a space", withPl(`refund:order`, `refund order`), ErrInvalidClaims, "action")
	add("claims with spaces", withPl(`,"sub"`, `, "sub"`), ErrInvalidClaims, "canonical")
	add("claims with a trailing newline", craftClaims(pl+"\n"), ErrInvalidClaims, "canonical")
	add("claims with trailing data", craftClaims(pl+"{}"), ErrInvalidClaims, "canonical")
	add("claims reordered", withPl(`"iat":`+iat+`,"exp":`+exp, `"exp":`+exp+`,"iat":`+iat),
		ErrInvalidClaims, "canonical")
	add("claims not JSON", craftClaims("refund order 123"), ErrInvalidClaims, "schema")
	add("claims a JSON array", craftClaims("["+pl+"]"), ErrInvalidClaims, "schema")
	add("claims not UTF-8", withPl(`alice`, "al\xffice"), ErrInvalidClaims, "canonical")

	// Time, issuer and the caller's bindings.
	add("iat 6 s in the future", withPl(`"iat":`+iat+`,"exp":`+exp, fmt.Sprintf(
		`"iat":%d,"exp":%d`, testNow.Unix()+6, testNow.Unix()+66)), ErrNotYetValid, "")
	add("expired 10 s ago", withPl(`"iat":`+iat+`,"exp":`+exp, fmt.Sprintf(
		`"iat":%d,"exp":%d`, testNow.Unix()-70, testNow.Unix()-10)), ErrExpired, "")
	add("wrong iss", withPl(testIssuer, "https://evil.test"), ErrWrongIssuer, "")
	add("iss differing in case", withPl("agentmint", "AgentMint"), ErrWrongIssuer, "")
	addExpect("no expected issuer", valid, ErrWrongIssuer, Expect{Now: testNow})
	addExpect("action mismatch", valid, ErrActionMismatch,
		Expect{Issuer: testIssuer, Action: "refund:order-124", Now: testNow})
	addExpect("action prefix", valid, ErrActionMismatch,
		Expect{Issuer: testIssuer, Action: "refund:order-1234", Now: testNow})
	addExpect("audience named, token has none", valid, ErrAudienceMismatch,
		Expect{Issuer: testIssuer, Audience: "api", Now: testNow})
	addExpect("audience mismatch", withPl(`,"action"`, `,"aud":"other","action"`),
		ErrAudienceMismatch, Expect{Issuer: testIssuer, Audience: "api", Now: testNow})
	return cases
}

// segments splits a compact token in its three segments.
func segments(tb testing.TB, tok string) (h, p, s string) {
	tb.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		tb.Fatalf("token %q has %d segments", tok, len(parts))
	}
	return parts[0], parts[1], parts[2]
}

// signInput appends to a signing input its signature by the test key.
func signInput(input string) string {
	return input + "." + b64.EncodeToString(ed25519.Sign(testKey, []byte(input)))
}

type keyForm struct {
	name   string
	secret []byte
}

// publicKeyForms returns the test public key in the forms an attacker can
// find published and try as an HMAC secret.
func publicKeyForms(tb testing.TB) []keyForm {
	tb.Helper()
	der, err := x509.MarshalPKIXPublicKey(testPub)
	if err != nil {
		tb.Fatalf("marshal public key: %v", err)
	}
	x := b64.EncodeToString(testPub)
	return []keyForm{
		{"raw 32 bytes", testPub},
		{"base64url x", []byte(x)},
		{"JWK", []byte(`{"kty":"OKP","crv":"Ed25519","kid":"` + testKid + `","x":"` + x + `"}`)},
		{"thumbprint JWK", []byte(`{"crv":"Ed25519","kty":"OKP","x":"` + x + `"}`)},
		{"PEM", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})},
		{"DER", der},
	}
}

// macToken returns header.payload with an HMAC tag as its signature.
func macToken(header, payload string, h func() hash.Hash, secret []byte) string {
	input := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(payload))
	m := hmac.New(h, secret)
	m.Write([]byte(input))
	return input + "." + b64.EncodeToString(m.Sum(nil))
}

// stdBase64 returns a token of payload, with '~' added to its sub until
// the token has a character where the base64 alphabets differ, spelled in
// the standard alphabet.
func stdBase64(tb testing.TB, payload string) string {
	tb.Helper()
	for n := 1; n <= 12; n++ {
		sub := `"alice` + strings.Repeat("~", n) + `@example.com"`
		tok := craftClaims(edit(tb, payload, `"alice@example.com"`, sub))
		if std := strings.NewReplacer("-", "+", "_", "/").Replace(tok); std != tok {
			return std
		}
	}
	tb.Fatal("found no token that differs in the standard alphabet")
	return ""
}

// trailingBits sets the lowest unused bit of a segment's last character,
// which a lenient decoder ignores: the segment decodes to the same bytes.
func trailingBits(tb testing.TB, seg string) string {
	tb.Helper()
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	if len(seg)%4 < 2 {
		tb.Fatalf("segment of %d characters has no unused bits", len(seg))
	}
	last := strings.IndexByte(alphabet, seg[len(seg)-1])
	if last < 0 || last&1 != 0 {
		tb.Fatalf("segment %q does not end canonically", seg)
	}
	return seg[:len(seg)-1] + string(alphabet[last|1])
}

// groupOrder is L, the order of the Ed25519 base point (RFC 8032 section
// 5.1): 2^252 + 27742317777372353535851937790883648493.
var groupOrder = func() *big.Int {
	l, _ := new(big.Int).SetString("27742317777372353535851937790883648493", 10)
	return l.Add(l, new(big.Int).Lsh(big.NewInt(1), 252))
}()

// addToS returns sig with delta added to its S half, a little-endian
// integer; the sum must still fit in 32 bytes.
func addToS(tb testing.TB, sig []byte, delta *big.Int) []byte {
	tb.Helper()
	le := func(b []byte) []byte {
		r := make([]byte, len(b))
		for i := range b {
			r[len(b)-1-i] = b[i]
		}
		return r
	}
	s := new(big.Int).SetBytes(le(sig[32:]))
	s.Add(s, delta)
	if s.BitLen() > 256 {
		tb.Fatalf("S + %v does not fit in 32 bytes", delta)
	}
	out := append([]byte(nil), sig[:32]...)
	return append(out, le(s.FillBytes(make([]byte, 32)))...)
}

// TestVerifyDetailsStrict covers spellings of details that must be refused
// because the claims are meant to have one spelling that every JSON parser
// reads alike (RFC 8259 sections 4 and 8.1).
func TestVerifyDetailsStrict(t *testing.T) {
	tests := []struct {
		name    string
		details string
	}{
		// Go passes the byte through; a strict UTF-8 parser refuses it.
		{"details not UTF-8", "{\"note\":\"\xff\"}"},
		// Parsers differ on which amount was approved.
		{"details with a duplicate member", `{"amount":1,"amount":1000}`},
		{"details with a nested duplicate", `{"a":{"b":1,"b":2}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := craftClaims(edit(t, basePayload(t), `,"jti"`,
				`,"details":`+tt.details+`,"jti"`))
			if _, err := Verify(tok, testRing, expect()); !errors.Is(err, ErrInvalidClaims) {
				t.Errorf("Verify: %v, want %v", err, ErrInvalidClaims)
			}
			c := baseClaims()
			c.Details = []byte(tt.details)
			if _, err := Sign(c, testKid, testKey); err == nil {
				t.Error("Sign accepted the details")
			}
		})
	}
}
