package token

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha512"
	"sync"

	"filippo.io/edwards25519"
)

// Signature verification with each public key decoded once.
//
// crypto/ed25519.Verify decodes the public key, a square root in the
// field, on every call: 3% of the server's CPU on /proxy. A service
// verifies with a handful of keys, so verifySignature keeps each decoded
// key and otherwise runs crypto/ed25519's check step for step (RFC 8032
// section 5.1.7, cofactorless, as Go does): S must be below L, and
// [S]B - [k]A, with k = SHA-512(R || A || M), must encode to R. It uses
// filippo.io/edwards25519, the group code crypto/ed25519 is built on.
// Tests hold it to crypto/ed25519 on every Wycheproof case and by fuzzing.

// maxDecodedKeys bounds the cache of decoded keys; past it the cache
// starts again. Keys come from the caller's key set, never from a token,
// so this only matters for a key set that rotates for a very long time.
const maxDecodedKeys = 64

var decodedKeys struct {
	sync.RWMutex
	m map[string]*edwards25519.Point // encoded key -> -A
}

// negatedKey returns -A for the encoded key pub, or nil if pub is not a
// point on the curve.
func negatedKey(pub ed25519.PublicKey) *edwards25519.Point {
	decodedKeys.RLock()
	negA, ok := decodedKeys.m[string(pub)]
	decodedKeys.RUnlock()
	if ok {
		return negA
	}
	A, err := new(edwards25519.Point).SetBytes(pub)
	if err != nil {
		return nil
	}
	negA = new(edwards25519.Point).Negate(A)
	decodedKeys.Lock()
	if decodedKeys.m == nil || len(decodedKeys.m) >= maxDecodedKeys {
		decodedKeys.m = make(map[string]*edwards25519.Point)
	}
	decodedKeys.m[string(pub)] = negA
	decodedKeys.Unlock()
	return negA
}

// verifySignature reports whether sig is pub's Ed25519 signature of msg,
// exactly as ed25519.Verify does, except that a key of the wrong length
// is refused rather than a panic.
func verifySignature(pub ed25519.PublicKey, msg, sig []byte) bool {
	if len(pub) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize ||
		sig[63]&0xe0 != 0 {
		return false
	}
	negA := negatedKey(pub)
	if negA == nil {
		return false
	}
	h := sha512.New()
	h.Write(sig[:32])
	h.Write(pub)
	h.Write(msg)
	var digest [sha512.Size]byte
	k, err := new(edwards25519.Scalar).SetUniformBytes(h.Sum(digest[:0]))
	if err != nil {
		return false
	}
	S, err := new(edwards25519.Scalar).SetCanonicalBytes(sig[32:])
	if err != nil {
		return false
	}
	R := new(edwards25519.Point).VarTimeDoubleScalarBaseMult(k, negA, S)
	return bytes.Equal(sig[:32], R.Bytes())
}
