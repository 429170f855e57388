package token

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha512"
	"sync"
	"sync/atomic"

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
// A key that verifies often also gets a fixed-base table, which computes
// the same [S]B - [k]A in about a third of the time (fixedbase.go).
// Tests hold both paths to crypto/ed25519 on every Wycheproof case and by
// fuzzing.

// maxDecodedKeys bounds the cache of decoded keys; past it the cache
// starts again. Keys come from the caller's key set, never from a token,
// so this only matters for a key set that rotates for a very long time.
const maxDecodedKeys = 64

// tableAfter is the number of verifications after which a key gets its
// fixed-base table (fixedbase.go): building one costs about as much as
// forty verifications and 480 KiB, so a key met once or twice, as by
// a command-line verify, goes without. maxTables bounds the tables held.
const (
	tableAfter = 64
	maxTables  = 8
)

// decodedKey is a cached public key: -A, and once the key has verified
// tableAfter times, the table of A.
type decodedKey struct {
	negA  *edwards25519.Point
	uses  atomic.Int64
	table atomic.Pointer[fixedTable]
}

var decodedKeys struct {
	sync.RWMutex
	m      map[string]*decodedKey // by encoded key
	tables int                    // tables built since the cache started
}

// lookupKey returns the cached key pub, decoding it on first sight, or
// nil if pub is not a point on the curve.
func lookupKey(pub ed25519.PublicKey) *decodedKey {
	decodedKeys.RLock()
	dk, ok := decodedKeys.m[string(pub)]
	decodedKeys.RUnlock()
	if ok {
		return dk
	}
	A, err := new(edwards25519.Point).SetBytes(pub)
	if err != nil {
		return nil
	}
	dk = &decodedKey{negA: new(edwards25519.Point).Negate(A)}
	decodedKeys.Lock()
	if decodedKeys.m == nil || len(decodedKeys.m) >= maxDecodedKeys {
		decodedKeys.m = make(map[string]*decodedKey)
		decodedKeys.tables = 0
	}
	decodedKeys.m[string(pub)] = dk
	decodedKeys.Unlock()
	return dk
}

// fixedTable returns the key's table, building it on the verification
// that reaches tableAfter; nil until then, or past maxTables.
func (dk *decodedKey) fixedTable() *fixedTable {
	if t := dk.table.Load(); t != nil {
		return t
	}
	if dk.uses.Add(1) != tableAfter {
		return nil
	}
	decodedKeys.Lock()
	full := decodedKeys.tables >= maxTables
	if !full {
		decodedKeys.tables++
	}
	decodedKeys.Unlock()
	if full {
		return nil
	}
	t := newFixedTable(new(edwards25519.Point).Negate(dk.negA))
	dk.table.Store(t)
	return t
}

// verifySignature reports whether sig is pub's Ed25519 signature of msg,
// exactly as ed25519.Verify does, except that a key of the wrong length
// is refused rather than a panic.
func verifySignature(pub ed25519.PublicKey, msg, sig []byte) bool {
	if len(pub) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize ||
		sig[63]&0xe0 != 0 {
		return false
	}
	dk := lookupKey(pub)
	if dk == nil {
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
	var p edwards25519.Point
	R := &p
	if t := dk.fixedTable(); t != nil {
		R = fixedCheck(R, k, S, t)
	} else {
		R.VarTimeDoubleScalarBaseMult(k, dk.negA, S)
	}
	return R != nil && bytes.Equal(sig[:32], R.Bytes())
}
