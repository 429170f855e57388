package token

import (
	"encoding/json"
	"testing"
)

// benchTokens are the fixture's typical token (no optional members) and a
// full one (aud, details, amr), the two shapes the service sees.
func benchClaims() map[string]*Claims {
	full := baseClaims()
	full.Audience = "https://api.example.com"
	full.Details = json.RawMessage(`{"amount":5000,"currency":"EUR","note":"refund"}`)
	full.AMR = []string{"passkey"}
	return map[string]*Claims{"base": baseClaims(), "full": full}
}

func BenchmarkSign(b *testing.B) {
	for _, name := range []string{"base", "full"} {
		c := benchClaims()[name]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Sign(c, testKid, testKey); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkParse(b *testing.B) {
	for _, name := range []string{"base", "full"} {
		tok := mustSign(b, benchClaims()[name])
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParseClaims isolates step 7, the strict claims decoding, from
// the signature check that dominates Verify.
func BenchmarkParseClaims(b *testing.B) {
	for _, name := range []string{"base", "full"} {
		p, err := benchClaims()[name].encode()
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := parseClaims(p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	for _, name := range []string{"base", "full"} {
		tok := mustSign(b, benchClaims()[name])
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Verify(tok, testRing, expect()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyParallel runs Verify on every P, the figure the service's
// throughput is compared with.
func BenchmarkVerifyParallel(b *testing.B) {
	tok := mustSign(b, baseClaims())
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := Verify(tok, testRing, expect()); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
