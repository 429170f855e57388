package client

import (
	"net/http"
	"testing"
	"time"

	"github.com/agentmint/agentmint/token"
)

// FuzzParseJWKS: the key set comes from the network. Whatever it holds,
// every key kept must be a 32-byte key whose kid is its thumbprint.
func FuzzParseJWKS(f *testing.F) {
	f.Add([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k","use":"sig","alg":"EdDSA"}]}`))
	f.Add([]byte(`{"keys":[]}`))
	f.Add([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"AAAA","d":"AAAA"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","n":"x","e":"AQAB"}, 3, null]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		keys, err := parseJWKS(b)
		if err != nil {
			return
		}
		for kid, pub := range keys {
			if len(pub) != 32 {
				t.Fatalf("kept a key of %d bytes", len(pub))
			}
			if kid != tokenKeyID(pub) {
				t.Fatalf("kept kid %q that is not the key's thumbprint", kid)
			}
		}
	})
}

// FuzzParseCacheControl: the header comes from the network; the durations
// must stay within the client's bounds.
func FuzzParseCacheControl(f *testing.F) {
	for _, s := range []string{"", "public, max-age=60, stale-if-error=305",
		"no-store", "max-age=\"10\"", "max-age=-1", "max-age=99999999999999999999",
		"MAX-AGE=5,,stale-if-error"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, b := parseCacheControl(s)
		limit := maxCacheSeconds * time.Second
		if a < 0 || b < 0 || a > limit || b > limit {
			t.Fatalf("parseCacheControl(%q) = %v, %v", s, a, b)
		}
	})
}

// FuzzErrorFrom: an error answer comes from the network; what the client
// keeps of it must be short and free of control characters.
func FuzzErrorFrom(f *testing.F) {
	f.Add(409, "application/problem+json", `{"code":"token_used","detail":"token already used"}`, "")
	f.Add(429, "application/problem+json", `{"code":"rate_limited"}`, "7")
	f.Add(502, "text/html", `<html>bad gateway</html>`, "Wed, 21 Oct 2015 07:28:00 GMT")
	f.Add(401, "application/json", `{"code":"x\nforged log line","reason":5}`, "-1")
	f.Fuzz(func(t *testing.T, status int, ct, body, ra string) {
		h := http.Header{"Content-Type": {ct}, "Retry-After": {ra}}
		e := errorFrom(status, h, []byte(body))
		for _, s := range []string{e.Code, e.Reason, e.Detail} {
			if len(s) > 512*3 {
				t.Fatalf("kept %d bytes", len(s))
			}
			for _, r := range s {
				if r < ' ' || r == 0x7f {
					t.Fatalf("kept a control character in %q", s)
				}
			}
		}
		if e.RetryAfter < 0 {
			t.Fatalf("negative RetryAfter %v", e.RetryAfter)
		}
		_ = e.Error()
	})
}

var tokenKeyID = token.KeyID
