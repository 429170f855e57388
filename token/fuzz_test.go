package token

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// validTokens returns tokens of the fixture that Verify accepts.
func validTokens(tb testing.TB) []string {
	tb.Helper()
	full := baseClaims()
	full.Audience = "https://api.example.com"
	full.Details = json.RawMessage(`{"amount":5000,"note":"<refund & co>"}`)
	full.AMR = []string{"passkey"}
	short := baseClaims()
	short.Subject = "zoë"
	short.Expiry = short.IssuedAt + 1
	return []string{mustSign(tb, baseClaims()), mustSign(tb, full), mustSign(tb, short)}
}

// FuzzParse checks that Parse never panics, that whatever it refuses is
// malformed, and that a token it accepts, with claims that pass the strict
// schema, has one spelling only: re-encoding its decoded parts gives the
// input byte for byte. Otherwise one token could be presented in several
// spellings.
func FuzzParse(f *testing.F) {
	for _, tok := range validTokens(f) {
		f.Add(tok)
	}
	for _, tc := range rejectCases(f) {
		f.Add(tc.tok)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		p, err := Parse(tok)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse: %v, want %v", err, ErrMalformed)
			}
			return
		}
		h, pl, s := segments(t, tok)
		if got := string(p.signingInput); got != h+"."+pl {
			t.Fatalf("signing input %q, want %q", got, h+"."+pl)
		}
		if want := b64.EncodeToString([]byte(canonHeader(p.Kid))); h != want {
			t.Fatalf("Parse accepted header %q, canonical is %q", h, want)
		}
		if want := b64.EncodeToString(p.sig); s != want {
			t.Fatalf("Parse accepted signature %q, canonical is %q", s, want)
		}
		if c, err := parseClaims(p.payload); err == nil {
			if re := reencode(t, p, c); re != tok {
				t.Fatalf("re-encoded token differs:\n in  %s\n out %s", tok, re)
			}
		}

		// The remaining steps must answer with a reason, never panic.
		if _, err := p.Verify(testRing, expect()); err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Verify error %T is not an *Error", err)
			}
		}
	})
}

// FuzzVerifySigned lets the fuzzer choose the header and payload bytes and
// signs them with the test key, so that every input reaches the header and
// claims checks with a good signature. Whatever Verify accepts must have
// the one canonical spelling and satisfy the profile.
func FuzzVerifySigned(f *testing.F) {
	hdr, pl := canonHeader(testKid), basePayload(f)
	seeds := [][2]string{
		{hdr, pl},
		{`{"alg":"none","kid":"` + testKid + `","typ":"agentmint+jwt"}`, pl},
		{`{"alg":"EdDSA","alg":"EdDSA","kid":"` + testKid + `","typ":"agentmint+jwt"}`, pl},
		{`{"kid":"` + testKid + `","alg":"EdDSA","typ":"agentmint+jwt"}`, pl},
		{edit(f, hdr, `}`, `,"crit":["b64"]}`), pl},
		{edit(f, hdr, "agentmint+jwt", "JWT"), pl},
		{hdr, edit(f, pl, `"sub"`, `"SUB"`)},
		{hdr, edit(f, pl, `}`, `,"exp":1767225660}`)},
		{hdr, edit(f, pl, `1767225660`, `1767225901`)},
		{hdr, edit(f, pl, `1767225600`, `1.5`)},
		{hdr, edit(f, pl, `,"jti"`, `,"details":{"a":[1,{"b":null}]},"jti"`)},
		{hdr, edit(f, pl, `,"jti"`, `,"amr":["api","oidc"],"jti"`)},
		{hdr, edit(f, pl, `,"action"`, `,"aud":"x","action"`)},
		{hdr, edit(f, pl, `alice`, `\u003calice`)},
		{hdr, pl + " "},
		{hdr, ""},
	}
	for _, s := range seeds {
		f.Add([]byte(s[0]), []byte(s[1]))
	}
	for _, tok := range validTokens(f) {
		h, p, _ := segments(f, tok)
		hb, _ := b64.DecodeString(h)
		pb, _ := b64.DecodeString(p)
		f.Add(hb, pb)
	}
	f.Fuzz(func(t *testing.T, header, payload []byte) {
		tok := craft(string(header), string(payload), testKey)
		c, err := Verify(tok, testRing, expect())
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Verify error %T is not an *Error", err)
			}
			return
		}
		p, err := Parse(tok)
		if err != nil {
			t.Fatalf("Verify accepted what Parse refuses: %v", err)
		}
		if re := reencode(t, p, c); re != tok {
			t.Fatalf("accepted token is not canonical:\n in  %s\n out %s", tok, re)
		}
		checkProfile(t, c)
	})
}

// checkProfile checks accepted claims against the profile at testNow.
func checkProfile(t *testing.T, c *Claims) {
	t.Helper()
	if ttl := c.Expiry - c.IssuedAt; ttl < 1 || ttl > 300 {
		t.Errorf("accepted lifetime of %d s", ttl)
	}
	if err := ValidateSub(c.Subject); err != nil {
		t.Errorf("accepted sub %q: %v", c.Subject, err)
	}
	if err := ValidateAction(c.Action); err != nil {
		t.Errorf("accepted action %q: %v", c.Action, err)
	}
	if c.Issuer != testIssuer {
		t.Errorf("accepted iss %q", c.Issuer)
	}
	if now := testNow.Unix(); c.IssuedAt > now+5 || c.Expiry+5 <= now {
		t.Errorf("accepted iat %d exp %d at %d", c.IssuedAt, c.Expiry, now)
	}
	if !validID(c.ID) || strings.ContainsAny(c.ID, "+/=") {
		t.Errorf("accepted jti %q", c.ID)
	}
}
