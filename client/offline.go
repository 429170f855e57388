package client

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentmint/agentmint/token"
)

// JWKSPath is where the service publishes its public keys.
const JWKSPath = "/.well-known/jwks.json"

// VerifyOffline checks a token's signature and claims against the
// service's published keys, with the same strict profile the service uses,
// and returns its claims. It does not consume the token.
//
// Offline verification cannot detect a replay: a token that VerifyOffline
// accepts may already have been used, and will be accepted again. Use it
// only where presenting the same approval twice is harmless, or where the
// caller records the jti itself; otherwise use Verify.
//
// The key set is fetched on first use and cached for as long as the
// service's Cache-Control max-age allows. A token whose kid is not in the
// cache makes the client fetch the set again, at most once per
// WithKeyRefreshInterval. If the service cannot be reached when the cache
// has gone stale, the stale set is used for as long as the service's
// stale-if-error allows, and after that VerifyOffline fails with
// ErrUnavailable.
//
// A rejected token gives an error that matches ErrInvalidToken,
// ErrTokenExpired or ErrForbidden (a binding mismatch), and also the
// token package's sentinels, such as token.ErrUnknownKey.
func (c *Client) VerifyOffline(ctx context.Context, tok string, opts ...VerifyOption) (*token.Claims, error) {
	p, err := token.Parse(tok)
	if err != nil {
		return nil, rejected(err)
	}
	set, err := c.keySet(ctx, p.Kid)
	if err != nil {
		return nil, err
	}
	b := bind(opts)
	claims, err := p.Verify(set, token.Expect{
		Issuer: c.issuer, Action: b.action, Audience: b.aud, Now: c.now(),
	})
	if err != nil {
		return nil, rejected(err)
	}
	return claims, nil
}

// rejected wraps a *token.Error in the sentinel of its class.
func rejected(err error) error {
	var te *token.Error
	if !errors.As(err, &te) {
		return err
	}
	class := ErrInvalidToken
	switch te.Reason {
	case token.ReasonExpired:
		class = ErrTokenExpired
	case token.ReasonActionMismatch, token.ReasonAudienceMismatch:
		class = ErrForbidden
	}
	return fmt.Errorf("%w: %w", class, err)
}

// keySet is one fetched JWKS: Ed25519 public keys by kid.
type keySet struct {
	keys  map[string]ed25519.PublicKey
	fresh time.Time // until max-age ends
	stale time.Time // until stale-if-error ends
}

// PublicKey implements token.Keys.
func (s *keySet) PublicKey(kid string) (ed25519.PublicKey, bool) {
	k, ok := s.keys[kid]
	return k, ok
}

// jwksCache holds the last key set. Readers never block on a fetch of a
// fresh set; fetches are one at a time.
type jwksCache struct {
	set     atomic.Pointer[keySet]
	sem     chan struct{} // held while fetching
	mu      sync.Mutex    // guards lastTry and lastErr
	lastTry time.Time
	lastErr error
}

// keySet returns the key set to verify a token of kid with.
func (c *Client) keySet(ctx context.Context, kid string) (*keySet, error) {
	s := c.jwks.set.Load()
	now := c.now()
	if s != nil && now.Before(s.fresh) {
		if _, ok := s.keys[kid]; ok {
			return s, nil
		}
	}
	return c.refreshKeys(ctx, s, now)
}

// refreshKeys fetches the key set unless another caller just did, or the
// last attempt was less than the refresh interval ago. seen is the set the
// caller found wanting.
func (c *Client) refreshKeys(ctx context.Context, seen *keySet, now time.Time) (*keySet, error) {
	select {
	case c.jwks.sem <- struct{}{}:
		defer func() { <-c.jwks.sem }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}

	// 1. Another caller fetched while this one waited: use its set.
	if s := c.jwks.set.Load(); s != seen && s != nil && now.Before(s.fresh) {
		return s, nil
	}

	// 2. Rate limit: after a refresh for an unknown kid, or a failed
	// fetch, the next fetch waits for the refresh interval. An expired set
	// is always fetched again (max-age is respected), but not more often
	// than that while fetches fail.
	c.jwks.mu.Lock()
	recent := !c.jwks.lastTry.IsZero() && now.Sub(c.jwks.lastTry) < c.refresh
	lastErr := c.jwks.lastErr
	c.jwks.mu.Unlock()
	fresh := seen != nil && now.Before(seen.fresh)
	usable := seen != nil && now.Before(seen.stale)
	switch {
	case recent && fresh:
		return seen, nil
	case recent && lastErr != nil && usable:
		return seen, nil
	case recent && lastErr != nil:
		return nil, lastErr
	}

	// 3. Fetch; on failure fall back to the stale set while allowed.
	s, err := c.fetchKeys(ctx, now)
	if ctx.Err() != nil {
		// This caller gave up; that says nothing about the service.
		return nil, ctx.Err()
	}
	c.jwks.mu.Lock()
	if err != nil || fresh {
		c.jwks.lastTry = now
	}
	c.jwks.lastErr = err
	c.jwks.mu.Unlock()
	if err != nil {
		if usable {
			return seen, nil
		}
		return nil, err
	}
	c.jwks.set.Store(s)
	return s, nil
}

func (c *Client) fetchKeys(ctx context.Context, now time.Time) (*keySet, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url(JWKSPath), nil)
	if err != nil {
		return nil, fmt.Errorf("agentmint: failed to build request: %v", err)
	}
	res, body, err := c.do(req)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: failed to fetch keys: %w", ErrUnavailable,
			errorFrom(res.StatusCode, res.Header, body))
	}
	keys, err := parseJWKS(body)
	if err != nil {
		return nil, fmt.Errorf("%w: failed to read keys: %v", ErrUnavailable, err)
	}
	maxAge, staleIfError := parseCacheControl(res.Header.Get("Cache-Control"))
	fresh := now.Add(maxAge)
	return &keySet{keys: keys, fresh: fresh, stale: fresh.Add(staleIfError)}, nil
}

// jwk is the part of a JSON Web Key the client reads.
type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	D   any    `json:"d"`
}

// maxKeys bounds the keys read from one set.
const maxKeys = 64

// parseJWKS reads a JWK Set (RFC 7517 section 5) and keeps the keys an
// AgentMint token can be signed with: OKP Ed25519 keys (RFC 8037) whose
// kid is their RFC 7638 thumbprint, with use "sig" and alg "EdDSA" where
// given. Other keys are skipped; a set with a private member is refused.
func parseJWKS(b []byte) (map[string]ed25519.PublicKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, fmt.Errorf("not a JWK set: %v", err)
	}
	if set.Keys == nil {
		return nil, errors.New("not a JWK set: no keys member")
	}
	if len(set.Keys) > maxKeys {
		return nil, fmt.Errorf("more than %d keys", maxKeys)
	}
	keys := make(map[string]ed25519.PublicKey, len(set.Keys))
	for _, raw := range set.Keys {
		var k jwk
		if json.Unmarshal(raw, &k) != nil {
			continue
		}
		if k.D != nil {
			return nil, errors.New("a key has a private member")
		}
		if k.Kty != "OKP" || k.Crv != "Ed25519" ||
			(k.Use != "" && k.Use != "sig") || (k.Alg != "" && k.Alg != token.Algorithm) {
			continue
		}
		x, err := base64.RawURLEncoding.Strict().DecodeString(k.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			continue
		}
		pub := ed25519.PublicKey(x)
		if token.KeyID(pub) != k.Kid {
			continue
		}
		keys[k.Kid] = pub
	}
	return keys, nil
}

// Bounds of what the client caches for, whatever the service says.
const (
	defaultMaxAge   = time.Minute
	maxCacheSeconds = 24 * 60 * 60
)

// parseCacheControl reads max-age and stale-if-error (RFC 9111 section
// 5.2.2.1, RFC 5861 section 4) from a Cache-Control header. no-store and
// no-cache mean no freshness; no header means defaultMaxAge.
func parseCacheControl(v string) (maxAge, staleIfError time.Duration) {
	if strings.TrimSpace(v) == "" {
		return defaultMaxAge, 0
	}
	for _, d := range strings.Split(v, ",") {
		name, val, _ := strings.Cut(strings.TrimSpace(d), "=")
		secs := func() time.Duration {
			n, err := strconv.Atoi(strings.Trim(val, `"`))
			if err != nil || n < 0 {
				return 0
			}
			return time.Duration(min(n, maxCacheSeconds)) * time.Second
		}
		switch strings.ToLower(name) {
		case "no-store", "no-cache":
			return 0, 0
		case "max-age":
			maxAge = secs()
		case "stale-if-error":
			staleIfError = secs()
		}
	}
	return maxAge, staleIfError
}
