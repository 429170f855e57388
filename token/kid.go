package token

import (
	"crypto/ed25519"
	"crypto/sha256"
)

// KeyID returns the kid of an Ed25519 public key: its RFC 7638 SHA-256
// thumbprint, base64url. The thumbprint hashes the required members crv,
// kty and x in lexicographic order without whitespace (RFC 8037 appendix
// A.3), so any verifier can check that a published key matches its kid.
func KeyID(pub ed25519.PublicKey) string {
	x := b64.EncodeToString(pub)
	sum := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + x + `"}`))
	return b64.EncodeToString(sum[:])
}
