package token

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzDecodeCanonical checks the fast claims decoder against encoding/json:
// whatever it accepts, encode writes back byte for byte, and the strict
// general decoder reads the same claims from it.
func FuzzDecodeCanonical(f *testing.F) {
	for _, c := range benchClaims() {
		p, err := c.encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(p)
	}
	for _, s := range []string{
		`{"iss":"i","sub":"zoë","aud":"a","action":"x","amr":["pwd","hwk"],"jti":"j","iat":1,"exp":2}`,
		`{"iss":"","sub":"","action":"","jti":"","iat":0,"exp":10}`,
		`{"iss":"i","sub":"a\u2028b","action":"x","jti":"j","iat":1,"exp":2}`,
		"{\"iss\":\"i\",\"sub\":\"a\u2028b\",\"action\":\"x\",\"jti\":\"j\",\"iat\":1,\"exp\":2}",
		"{\"iss\":\"i\",\"sub\":\"\xff\",\"action\":\"x\",\"jti\":\"j\",\"iat\":1,\"exp\":2}",
		`{"iss":"i","sub":"<&>","action":"x","jti":"j","iat":1,"exp":2}`,
		`{"iss":"i","sub":"s","aud":"","action":"x","amr":[],"jti":"j","iat":01,"exp":+2}`,
		`{"iss":"i","sub":"s","action":"x","jti":"j","iat":1234567890123456789,"exp":2}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, ok := decodeCanonical(b)
		if !ok {
			return
		}
		re, err := c.encode()
		if err != nil || !bytes.Equal(re, b) {
			t.Fatalf("accepted %q, which encodes as %q (%v)", b, re, err)
		}
		d := json.NewDecoder(bytes.NewReader(b))
		d.DisallowUnknownFields()
		var want Claims
		if err := d.Decode(&want); err != nil {
			t.Fatalf("accepted %q, which encoding/json refuses: %v", b, err)
		}
		if diff := cmp.Diff(want, c); diff != "" {
			t.Fatalf("claims of %q differ from encoding/json's (-want +got):\n%s", b, diff)
		}
	})
}

// TestDecodeCanonicalCoversTheCommonCase makes sure the fast path is
// taken for the tokens the service mints, so that it does not silently
// become dead code.
func TestDecodeCanonicalCoversTheCommonCase(t *testing.T) {
	c := baseClaims()
	c.Audience = "https://api.example.com"
	c.AMR = []string{"passkey", "hwk"}
	for _, c := range []*Claims{baseClaims(), c} {
		p, err := c.encode()
		if err != nil {
			t.Fatal(err)
		}
		got, ok := decodeCanonical(p)
		if !ok {
			t.Fatalf("fast path refused %s", p)
		}
		if diff := cmp.Diff(*c, got); diff != "" {
			t.Errorf("claims differ (-want +got):\n%s", diff)
		}
	}
	if _, ok := cutHeader([]byte(canonHeader(testKid))); !ok {
		t.Error("fast path refused the canonical header")
	}
}
