package keys

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/agentmint/agentmint/token"
)

// Ring is the set of keys in a directory as the server uses it: the current
// key signs, current and previous keys verify. It is safe for concurrent
// use; Reload swaps in a new view of the directory atomically.
type Ring struct {
	dir  string
	now  func() time.Time
	view atomic.Pointer[view]
}

type view struct {
	keys  []*Key // oldest first
	byKid map[string]*Key
}

// Open loads the keys in dir, generating the first key if there is none.
// now is the clock the ring checks states against.
func Open(dir string, now func() time.Time) (*Ring, error) {
	r := &Ring{dir: dir, now: now}
	ks, err := Load(dir)
	if err != nil {
		return nil, err
	}
	if len(ks) == 0 {
		if _, err := Generate(dir, now()); err != nil {
			return nil, err
		}
	}
	if err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// Reload reads the directory again, so that a rotation made by
// `agentmint keys rotate` or by another replica takes effect. On error the
// ring keeps its previous view.
func (r *Ring) Reload() error {
	ks, err := Load(r.dir)
	if err != nil {
		return err
	}
	if len(ks) == 0 {
		return errors.New("no signing key in " + r.dir)
	}
	v := &view{keys: ks, byKid: make(map[string]*Key, len(ks))}
	for _, k := range ks {
		v.byKid[k.ID] = k
	}
	r.view.Store(v)
	return nil
}

// Dir returns the directory the ring reads.
func (r *Ring) Dir() string { return r.dir }

// Keys returns the keys, oldest first.
func (r *Ring) Keys() []*Key { return r.view.Load().keys }

// Current returns the key that signs.
func (r *Ring) Current() *Key {
	ks := r.view.Load().keys
	return ks[len(ks)-1]
}

// Sign signs the claims with the current key.
func (r *Ring) Sign(c *token.Claims) (string, error) {
	k := r.Current()
	return token.Sign(c, k.ID, k.private)
}

// PublicKey returns the key for kid if it is current or previous. It
// implements token.Keys.
func (r *Ring) PublicKey(kid string) (ed25519.PublicKey, bool) {
	k, ok := r.view.Load().byKid[kid]
	if !ok || k.State(r.now()) == Retired {
		return nil, false
	}
	return k.Public, true
}

// JWK is the public form of a key (RFC 8037 section 2).
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
}

// JWKS is a JSON Web Key Set (RFC 7517 section 5).
type JWKS struct {
	Keys []JWK `json:"keys"`
}

// PublicJWK returns the JWK of a public key.
func PublicJWK(pub ed25519.PublicKey) JWK {
	return JWK{
		Kty: "OKP", Crv: "Ed25519",
		X:   base64.RawURLEncoding.EncodeToString(pub),
		Kid: Thumbprint(pub), Use: "sig", Alg: token.Algorithm,
	}
}

// JWKS returns the key set to publish: current and previous keys, newest
// first, never a private member.
func (r *Ring) JWKS() JWKS {
	now := r.now()
	set := JWKS{Keys: []JWK{}}
	ks := r.view.Load().keys
	for i := len(ks) - 1; i >= 0; i-- {
		if ks[i].State(now) != Retired {
			set.Keys = append(set.Keys, PublicJWK(ks[i].Public))
		}
	}
	return set
}

// MarshalJWKS returns the JWKS as JSON.
func (r *Ring) MarshalJWKS() ([]byte, error) {
	b, err := json.Marshal(r.JWKS())
	if err != nil {
		return nil, fmt.Errorf("failed to encode jwks: %v", err)
	}
	return b, nil
}
