package token

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestVerifyTime(t *testing.T) {
	c := baseClaims() // iat = testNow, exp = testNow + 60 s
	iat := time.Unix(c.IssuedAt, 0)
	exp := time.Unix(c.Expiry, 0)
	tok := mustSign(t, c)

	tests := []struct {
		name string
		now  time.Time
		want error // nil: accepted
	}{
		{"at iat", iat, nil},
		{"between iat and exp", iat.Add(30 * time.Second), nil},
		{"at exp", exp, nil},
		{"at exp plus leeway minus 1ns", exp.Add(Leeway - time.Nanosecond), nil},
		{"at exp plus leeway", exp.Add(Leeway), ErrExpired},
		{"an hour after exp", exp.Add(time.Hour), ErrExpired},
		{"iat within leeway ahead", iat.Add(-Leeway), nil},
		{"iat 1ns beyond leeway ahead", iat.Add(-Leeway - time.Nanosecond), ErrNotYetValid},
		{"iat a minute ahead", iat.Add(-time.Minute), ErrNotYetValid},
		{"before the epoch", time.Unix(-1, 0), ErrNotYetValid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Verify(tok, testRing, Expect{Issuer: testIssuer, Now: tt.now})
			if tt.want == nil && err != nil {
				t.Fatalf("Verify at %v: %v, want accepted", tt.now, err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Verify at %v: %v, want %v", tt.now, err, tt.want)
			}
		})
	}
}

// TestVerifyLifetime crafts tokens whose lifetime Sign would refuse, to show
// that Verify enforces 1 <= exp - iat <= 300 itself.
func TestVerifyLifetime(t *testing.T) {
	tests := []struct {
		lifetime int64
		want     error
	}{
		{-1, ErrInvalidClaims},
		{0, ErrInvalidClaims},
		{1, nil},
		{300, nil},
		{301, ErrInvalidClaims},
		{3600, ErrInvalidClaims},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("exp-iat=%d", tt.lifetime), func(t *testing.T) {
			payload := fmt.Sprintf(`{"iss":%q,"sub":"alice@example.com",`+
				`"action":"refund:order-123","jti":%q,"iat":%d,"exp":%d}`,
				testIssuer, testJTI, testNow.Unix(), testNow.Unix()+tt.lifetime)
			_, err := Verify(craftClaims(payload), testRing, expect())
			if tt.want == nil && err != nil {
				t.Fatalf("Verify: %v, want accepted", err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Verify: %v, want %v", err, tt.want)
			}
		})
	}
}

func TestVerifyZeroNowPanics(t *testing.T) {
	tok := mustSign(t, baseClaims())
	defer func() {
		if recover() == nil {
			t.Error("Verify with a zero Expect.Now did not panic")
		}
	}()
	Verify(tok, testRing, Expect{Issuer: testIssuer})
}
