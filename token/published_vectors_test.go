package token_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/agentmint/agentmint/token"
	"github.com/google/go-cmp/cmp"
)

// publicKeys is a key set read from a JWKS.
type publicKeys map[string]ed25519.PublicKey

func (k publicKeys) PublicKey(kid string) (ed25519.PublicKey, bool) {
	p, ok := k[kid]
	return p, ok
}

// TestPublishedVectors checks every verdict of testdata/vectors.json, the
// file other implementations test against, reading it as they would.
func TestPublishedVectors(t *testing.T) {
	b, err := os.ReadFile("../testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Issuer string `json:"issuer"`
		Now    int64  `json:"now"`
		JWKS   struct {
			Keys []struct{ Kty, Crv, X, Kid string } `json:"keys"`
		} `json:"jwks"`
		Vectors []struct {
			Name     string          `json:"name"`
			Token    string          `json:"token"`
			Action   string          `json:"expect_action"`
			Audience string          `json:"expect_audience"`
			Valid    bool            `json:"valid"`
			Reason   string          `json:"reason"`
			Claims   json.RawMessage `json:"claims"`
		} `json:"vectors"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	keys := publicKeys{}
	for _, k := range f.JWKS.Keys {
		x, err := base64.RawURLEncoding.DecodeString(k.X)
		if err != nil || k.Kty != "OKP" || k.Crv != "Ed25519" || token.KeyID(x) != k.Kid {
			t.Fatalf("bad key in jwks: %+v", k)
		}
		keys[k.Kid] = x
	}
	reasons := map[string]int{}
	for _, v := range f.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			c, err := token.Verify(v.Token, keys, token.Expect{
				Issuer: f.Issuer, Action: v.Action, Audience: v.Audience,
				Now: time.Unix(f.Now, 0),
			})
			if !v.Valid {
				want := &token.Error{Reason: token.Reason(v.Reason)}
				if !errors.Is(err, want) {
					t.Fatalf("got %v, want rejection for %s", err, v.Reason)
				}
				reasons[v.Reason]++
				return
			}
			if err != nil {
				t.Fatalf("valid token rejected: %v", err)
			}
			var got, want map[string]any
			cb, _ := json.Marshal(c)
			json.Unmarshal(cb, &got)
			if err := json.Unmarshal(v.Claims, &want); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("claims (-want +got):\n%s", diff)
			}
			reasons["valid"]++
		})
	}
	// Every verdict the profile can give has at least one vector.
	for _, r := range []string{"valid", "malformed", "unknown_key", "bad_signature",
		"invalid_claims", "expired", "not_yet_valid", "wrong_issuer",
		"action_mismatch", "audience_mismatch"} {
		if reasons[r] == 0 {
			t.Errorf("no vector for %s", r)
		}
	}
}
