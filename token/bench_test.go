package token

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"testing"

	"filippo.io/edwards25519"
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

// BenchmarkSignatureCheck compares the signature check alone:
// crypto/ed25519.Verify, verifySignature with the key decoded but no
// table yet, and with the key's fixed-base table.
func BenchmarkSignatureCheck(b *testing.B) {
	seed := sha256.Sum256([]byte("bench signature check"))
	key := ed25519.NewKeyFromSeed(seed[:])
	pub := key.Public().(ed25519.PublicKey)
	msg := []byte("header.claims of a token of about this length")
	sig := ed25519.Sign(key, msg)
	check := func(b *testing.B, verify func() bool) {
		b.ReportAllocs()
		for b.Loop() {
			if !verify() {
				b.Fatal("signature refused")
			}
		}
	}
	b.Run("crypto-ed25519", func(b *testing.B) {
		check(b, func() bool { return ed25519.Verify(pub, msg, sig) })
	})
	dk := lookupKey(pub)
	b.Run("decoded", func(b *testing.B) {
		dk.table.Store(nil)
		dk.uses.Store(-1 << 62) // no table during this run
		check(b, func() bool { return verifySignature(pub, msg, sig) })
	})
	b.Run("table", func(b *testing.B) {
		dk.table.Store(newFixedTable(new(edwards25519.Point).Negate(dk.negA)))
		check(b, func() bool { return verifySignature(pub, msg, sig) })
	})
}
