package token

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"testing"

	"filippo.io/edwards25519"
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

// warmKey verifies with pub until it has its fixed-base table, making
// room for one if other tests took them all.
func warmKey(t *testing.T, pub ed25519.PublicKey) {
	t.Helper()
	dk := lookupKey(pub)
	if dk == nil {
		return
	}
	decodedKeys.Lock()
	decodedKeys.tables = 0
	decodedKeys.Unlock()
	dk.uses.Store(0)
	for range tableAfter {
		verifySignature(pub, nil, make([]byte, ed25519.SignatureSize))
	}
	if dk.table.Load() == nil {
		t.Fatalf("no table after %d verifications", tableAfter)
	}
}

// With each key's fixed-base table built, verifySignature still agrees
// with crypto/ed25519.Verify on every Wycheproof case.
func TestVerifySignatureWithTablesMatchesCryptoOnWycheproof(t *testing.T) {
	cases := loadWycheproof(t)
	keys := 0
	for _, tc := range cases {
		if len(tc.pk) != ed25519.PublicKeySize {
			continue
		}
		if dk := lookupKey(tc.pk); dk != nil && dk.table.Load() == nil {
			warmKey(t, tc.pk)
			keys++
		}
		want := ed25519.Verify(tc.pk, tc.msg, tc.sig)
		if got := verifySignature(tc.pk, tc.msg, tc.sig); got != want {
			t.Errorf("tc%d %s %v: verifySignature = %v, crypto/ed25519 = %v",
				tc.TcID, tc.Comment, tc.Flags, got, want)
		}
	}
	if keys == 0 {
		t.Fatal("no key got a table")
	}
}

// fixedCheck computes the same point as VarTimeDoubleScalarBaseMult, on
// edge-case scalars (0, 1, 128, 129, L-1, all bytes 0x80 or 0x81, ...)
// and random ones.
func TestFixedCheckMatchesDoubleScalarMult(t *testing.T) {
	seed := sha256.Sum256([]byte("fixed-base key"))
	pub := ed25519.NewKeyFromSeed(seed[:]).Public().(ed25519.PublicKey)
	A, err := new(edwards25519.Point).SetBytes(pub)
	if err != nil {
		t.Fatal(err)
	}
	negA := new(edwards25519.Point).Negate(A)
	tA := newFixedTable(A)

	// L - 1, little-endian.
	lMinus1 := []byte{0xec, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58,
		0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10}
	var edges [][]byte
	for _, b := range []byte{0, 1, 0x7f, 0x80, 0x81, 0xff} {
		for _, at := range []int{0, 15, 31} {
			s := make([]byte, 32)
			s[at] = b & 0x0f
			if at < 31 {
				s[at] = b
			}
			edges = append(edges, s)
		}
		all := bytes.Repeat([]byte{b}, 32)
		all[31] &= 0x0f
		edges = append(edges, all)
	}
	edges = append(edges, lMinus1)
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		wide := make([]byte, 64)
		for i := range wide {
			wide[i] = byte(rnd.Uint32())
		}
		s, _ := new(edwards25519.Scalar).SetUniformBytes(wide)
		edges = append(edges, s.Bytes())
	}

	scalar := func(b []byte) *edwards25519.Scalar {
		s, err := new(edwards25519.Scalar).SetCanonicalBytes(b)
		if err != nil {
			t.Fatalf("scalar %x: %v", b, err)
		}
		return s
	}
	for i, kb := range edges {
		Sb := edges[(i*7+3)%len(edges)]
		k, S := scalar(kb), scalar(Sb)
		want := new(edwards25519.Point).VarTimeDoubleScalarBaseMult(k, negA, S)
		got := fixedCheck(new(edwards25519.Point), k, S, tA)
		if got == nil || got.Equal(want) != 1 {
			t.Fatalf("k %x, S %x: fixedCheck differs from VarTimeDoubleScalarBaseMult", kb, Sb)
		}
	}
}

// FuzzVerifySignatureWithTable holds the fixed-base path to
// crypto/ed25519.Verify: a key with its table, a genuine signature with
// one byte of the message or signature changed, and arbitrary bytes as
// the signature.
func FuzzVerifySignatureWithTable(f *testing.F) {
	seed := sha256.Sum256([]byte("fuzz fixed-base key"))
	key := ed25519.NewKeyFromSeed(seed[:])
	pub := key.Public().(ed25519.PublicKey)
	f.Add([]byte("msg"), uint16(0), byte(0), []byte{})
	f.Add([]byte("msg"), uint16(33), byte(1), []byte{})
	f.Add([]byte(""), uint16(63), byte(0x10), bytes.Repeat([]byte{0xff}, 64))
	f.Fuzz(func(t *testing.T, msg []byte, at uint16, flip byte, raw []byte) {
		if dk := lookupKey(pub); dk.table.Load() == nil {
			warmKey(t, pub)
		}
		sig := ed25519.Sign(key, msg)
		if i := int(at); i < len(sig) {
			sig[i] ^= flip
		} else if i -= len(sig); i < len(msg) {
			msg = append([]byte(nil), msg...)
			msg[i] ^= flip
		}
		for _, s := range [][]byte{sig, raw} {
			want := ed25519.Verify(pub, msg, s)
			if got := verifySignature(pub, msg, s); got != want {
				t.Fatalf("verifySignature = %v, crypto/ed25519 = %v", got, want)
			}
		}
	})
}
