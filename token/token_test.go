package token

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSignVerifyRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		edit func(c *Claims)
	}{
		{"required claims only", func(c *Claims) {}},
		{"with aud", func(c *Claims) { c.Audience = "https://api.example.com" }},
		{"with details", func(c *Claims) {
			c.Details = json.RawMessage(`{"amount":5000,"currency":"usd","order":"123"}`)
		}},
		{"with nested details", func(c *Claims) {
			c.Details = json.RawMessage(`{"refund":{"lines":[1,2,3],"note":null}}`)
		}},
		{"with amr", func(c *Claims) { c.AMR = []string{"passkey"} }},
		{"with several amr", func(c *Claims) { c.AMR = []string{"oidc", "passkey"} }},
		{"with everything", func(c *Claims) {
			c.Audience = "stripe"
			c.Details = json.RawMessage(`{"amount":50}`)
			c.AMR = []string{"api"}
		}},
		{"shortest lifetime", func(c *Claims) { c.Expiry = c.IssuedAt + 1 }},
		{"longest lifetime", func(c *Claims) { c.Expiry = c.IssuedAt + 300 }},
		{"unicode sub", func(c *Claims) { c.Subject = "zoë@exämple.com 山田" }},
		{"sub with html characters", func(c *Claims) { c.Subject = "<a&b>" }},
		{"action of 64 characters", func(c *Claims) {
			c.Action = strings.Repeat("x", MaxActionLen)
		}},
		{"prototype action", func(c *Claims) { c.Action = "deploy:prod:api:v2.1.0" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := baseClaims()
			tt.edit(want)
			tok := mustSign(t, want)
			got, err := Verify(tok, testRing, Expect{
				Issuer: testIssuer, Action: want.Action,
				Audience: want.Audience, Now: testNow,
			})
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("claims differ (-signed +verified):\n%s", diff)
			}
		})
	}
}

func TestSignHeader(t *testing.T) {
	tok := mustSign(t, baseClaims())
	h, err := b64.DecodeString(tok[:strings.IndexByte(tok, '.')])
	if err != nil {
		t.Fatalf("header segment: %v", err)
	}
	if got, want := string(h), canonHeader(testKid); got != want {
		t.Errorf("header = %s, want %s", got, want)
	}
}

func TestSignRejects(t *testing.T) {
	tests := []struct {
		name string
		edit func(c *Claims)
		kid  string
	}{
		{"lifetime 0", func(c *Claims) { c.Expiry = c.IssuedAt }, testKid},
		{"lifetime 301", func(c *Claims) { c.Expiry = c.IssuedAt + 301 }, testKid},
		{"negative lifetime", func(c *Claims) { c.Expiry = c.IssuedAt - 1 }, testKid},
		{"empty iss", func(c *Claims) { c.Issuer = "" }, testKid},
		{"empty sub", func(c *Claims) { c.Subject = "" }, testKid},
		{"sub with newline", func(c *Claims) { c.Subject = "a\nb" }, testKid},
		{"sub of 257 characters", func(c *Claims) {
			c.Subject = strings.Repeat("é", MaxSubLen+1)
		}, testKid},
		{"action with space", func(c *Claims) { c.Action = "refund order" }, testKid},
		{"action of 65 characters", func(c *Claims) {
			c.Action = strings.Repeat("x", MaxActionLen+1)
		}, testKid},
		{"jti too short", func(c *Claims) { c.ID = "abc" }, testKid},
		{"iat zero", func(c *Claims) { c.IssuedAt, c.Expiry = 0, 60 }, testKid},
		{"exp beyond year 9999", func(c *Claims) {
			c.IssuedAt, c.Expiry = maxDate, maxDate+60
		}, testKid},
		{"details array", func(c *Claims) { c.Details = json.RawMessage(`[1]`) }, testKid},
		{"details empty", func(c *Claims) { c.Details = json.RawMessage{} }, testKid},
		{"amr with space", func(c *Claims) { c.AMR = []string{"pass key"} }, testKid},
		{"empty kid", func(c *Claims) {}, ""},
		{"kid with slash", func(c *Claims) {}, "../../etc/passwd" + testKid[16:]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := baseClaims()
			tt.edit(c)
			if tok, err := Sign(c, tt.kid, testKey); err == nil {
				t.Errorf("Sign succeeded with %q", tok)
			}
		})
	}
}

// TestSignedTokensVerify checks that whatever Sign accepts, Verify accepts
// and returns unchanged.
func TestSignedTokensVerify(t *testing.T) {
	want := baseClaims()
	want.Details = json.RawMessage(`{"k":"` + strings.Repeat("a", 1016) + `"}`)
	tok := mustSign(t, want)
	got, err := Verify(tok, testRing, Expect{Issuer: want.Issuer, Now: testNow})
	if err != nil {
		t.Fatalf("Verify of a token Sign made: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("claims differ (-signed +verified):\n%s", diff)
	}
}

// TestSignRefusesWhatVerifyWould checks that Sign measures and checks the
// claims as Verify will see them, so it never makes a token Verify rejects.
func TestSignRefusesWhatVerifyWould(t *testing.T) {
	tests := []struct {
		name string
		edit func(c *Claims)
	}{
		// '<' is escaped as \u003c, which takes the details past 1024.
		{"details of 1024 bytes with an html character", func(c *Claims) {
			c.Details = json.RawMessage(`{"k":"<` + strings.Repeat("a", 1015) + `"}`)
		}},
		{"iss not valid UTF-8", func(c *Claims) { c.Issuer = "https://\xffagentmint" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := baseClaims()
			tt.edit(c)
			if tok, err := Sign(c, testKid, testKey); err == nil {
				t.Fatalf("Sign made %q", tok)
			}
		})
	}
}

func TestSignTooLarge(t *testing.T) {
	// Each member is within its own limit, together they pass 2 KiB.
	c := baseClaims()
	c.Subject = strings.Repeat("山", MaxSubLen)
	c.Details = json.RawMessage(`{"k":"` + strings.Repeat("a", 1000) + `"}`)
	if err := c.validate(); err != nil {
		t.Fatalf("claims should be valid one by one: %v", err)
	}
	if tok, err := Sign(c, testKid, testKey); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Sign made a token of %d bytes, err %v; want ErrTooLarge", len(tok), err)
	}
}

func TestNewID(t *testing.T) {
	const n = 10000
	seen := make(map[string]bool, n)
	for i := 0; i < n; i++ {
		id, err := NewID(testNow)
		if err != nil {
			t.Fatalf("NewID: %v", err)
		}
		if len(id) != 30 || !validID(id) {
			t.Fatalf("NewID = %q, want 30 base64url characters", id)
		}
		if seen[id] {
			t.Fatalf("NewID returned %q twice in %d calls", id, i+1)
		}
		seen[id] = true
	}
}

func TestNewIDTimeOrdered(t *testing.T) {
	times := []time.Time{
		time.UnixMilli(0),
		time.UnixMilli(1),
		testNow,
		testNow.Add(time.Millisecond),
		testNow.Add(time.Second),
		testNow.Add(24 * time.Hour),
		time.UnixMilli(1<<48 - 1), // the last millisecond a 48-bit prefix holds
	}
	var prev []byte
	for _, tm := range times {
		id, err := NewID(tm)
		if err != nil {
			t.Fatalf("NewID: %v", err)
		}
		b, err := b64.DecodeString(id)
		if err != nil {
			t.Fatalf("NewID(%v) = %q: %v", tm, id, err)
		}
		prefix := b[:jtiTimeBytes]
		var ms int64
		for _, x := range prefix {
			ms = ms<<8 | int64(x)
		}
		if ms != tm.UnixMilli() {
			t.Errorf("NewID(%v) prefix = %d ms, want %d", tm, ms, tm.UnixMilli())
		}
		if prev != nil && bytes.Compare(prev, prefix) >= 0 {
			t.Errorf("NewID(%v) prefix %x does not follow %x", tm, prefix, prev)
		}
		prev = prefix
	}
}

func TestErrorIs(t *testing.T) {
	err := error(reject(ReasonExpired, "exp %d", 5))
	if !errors.Is(err, ErrExpired) {
		t.Errorf("errors.Is(%v, ErrExpired) = false", err)
	}
	if errors.Is(err, ErrMalformed) {
		t.Errorf("errors.Is(%v, ErrMalformed) = true", err)
	}
	if got := err.Error(); strings.Contains(got, "eyJ") || !strings.Contains(got, "expired") {
		t.Errorf("Error() = %q", got)
	}
}
