package keys

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestThumbprintRFC8037 checks Thumbprint against RFC 8037 appendix A.3:
// the RFC 7638 thumbprint of the Ed25519 public key of appendix A.2.
func TestThumbprintRFC8037(t *testing.T) {
	b, err := os.ReadFile(filepath.FromSlash("../../testdata/rfc8037/appendix-a.json"))
	if err != nil {
		t.Fatalf("read vectors: %v", err)
	}
	var v struct {
		JWK struct {
			D string `json:"d"`
			X string `json:"x"`
		} `json:"jwk"`
		Thumbprint string `json:"thumbprint"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode vectors: %v", err)
	}
	x, err := base64.RawURLEncoding.DecodeString(v.JWK.X)
	if err != nil || len(x) != ed25519.PublicKeySize {
		t.Fatalf("x: %d bytes, %v", len(x), err)
	}
	if got := Thumbprint(ed25519.PublicKey(x)); got != v.Thumbprint {
		t.Errorf("Thumbprint(x) = %s, want %s", got, v.Thumbprint)
	}

	// The same key derived from d, as the keyring holds it.
	d, err := base64.RawURLEncoding.DecodeString(v.JWK.D)
	if err != nil || len(d) != ed25519.SeedSize {
		t.Fatalf("d: %d bytes, %v", len(d), err)
	}
	pub := ed25519.NewKeyFromSeed(d).Public().(ed25519.PublicKey)
	if got := Thumbprint(pub); got != v.Thumbprint {
		t.Errorf("Thumbprint(key from d) = %s, want %s", got, v.Thumbprint)
	}
}
