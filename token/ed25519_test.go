package token

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"testing"
)

// verifySignature must agree with crypto/ed25519.Verify on every
// Wycheproof case, valid, invalid and acceptable alike.
func TestVerifySignatureMatchesCryptoOnWycheproof(t *testing.T) {
	cases := loadWycheproof(t)
	for _, tc := range cases {
		want := len(tc.pk) == ed25519.PublicKeySize && ed25519.Verify(tc.pk, tc.msg, tc.sig)
		if got := verifySignature(tc.pk, tc.msg, tc.sig); got != want {
			t.Errorf("tc%d %s %v: verifySignature = %v, crypto/ed25519 = %v",
				tc.TcID, tc.Comment, tc.Flags, got, want)
		}
	}
	if len(cases) < 150 {
		t.Fatalf("only %d Wycheproof cases", len(cases))
	}
}

// Past maxDecodedKeys keys the cache starts again, and every key still
// verifies its own signatures and no other key's.
func TestVerifySignatureWithManyKeys(t *testing.T) {
	msg := []byte("refund:order:123")
	var prev ed25519.PublicKey
	for i := range 3 * maxDecodedKeys {
		seed := sha256.Sum256([]byte(fmt.Sprint("key ", i)))
		key := ed25519.NewKeyFromSeed(seed[:])
		pub := key.Public().(ed25519.PublicKey)
		sig := ed25519.Sign(key, msg)
		if !verifySignature(pub, msg, sig) {
			t.Fatalf("key %d refuses its own signature", i)
		}
		if prev != nil && verifySignature(prev, msg, sig) {
			t.Fatalf("key %d's signature verifies under key %d", i, i-1)
		}
		prev = pub
	}
	decodedKeys.RLock()
	n := len(decodedKeys.m)
	decodedKeys.RUnlock()
	if n > maxDecodedKeys {
		t.Fatalf("%d keys cached, want at most %d", n, maxDecodedKeys)
	}
}

// FuzzVerifySignature holds verifySignature to crypto/ed25519.Verify: on
// a genuine signature with one byte of the key, message or signature
// changed, and on arbitrary bytes.
func FuzzVerifySignature(f *testing.F) {
	f.Add([]byte("seed"), []byte("msg"), uint16(0), byte(0))
	f.Add([]byte("seed"), []byte("msg"), uint16(40), byte(1))
	f.Add([]byte("k"), []byte{}, uint16(127), byte(0x80))
	f.Add([]byte("k"), []byte("m"), uint16(200), byte(0xff))
	f.Fuzz(func(t *testing.T, seed, msg []byte, at uint16, flip byte) {
		s := sha256.Sum256(seed)
		key := ed25519.NewKeyFromSeed(s[:])
		pub := append([]byte(nil), key.Public().(ed25519.PublicKey)...)
		sig := ed25519.Sign(key, msg)
		// One byte of pub || sig || msg changed by flip (0: none).
		all := [][]byte{pub, sig, msg}
		i := int(at)
		for _, b := range all {
			if i < len(b) {
				b[i] ^= flip
				break
			}
			i -= len(b)
		}
		want := ed25519.Verify(pub, msg, sig)
		if got := verifySignature(pub, msg, sig); got != want {
			t.Fatalf("verifySignature = %v, crypto/ed25519 = %v", got, want)
		}
		// The same bytes read as an arbitrary key and signature.
		if len(seed) >= 32 && len(msg) >= 64 {
			p, sg := seed[:32], msg[:64]
			if got, want := verifySignature(p, msg, sg), ed25519.Verify(p, msg, sg); got != want {
				t.Fatalf("arbitrary bytes: verifySignature = %v, crypto/ed25519 = %v", got, want)
			}
		}
	})
}
