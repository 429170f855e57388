package client_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/agentmint/agentmint/client"
	"github.com/agentmint/agentmint/internal/callers"
	"github.com/agentmint/agentmint/internal/httpapi"
	"github.com/agentmint/agentmint/internal/keys"
	"github.com/agentmint/agentmint/token"
)

func newClient(t testing.TB, s *service, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(s.URL, append([]client.Option{client.WithClock(s.Clock.Now)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mint(t testing.TB, c *client.Client, req client.MintRequest) *client.MintResponse {
	t.Helper()
	if req.Sub == "" {
		req.Sub = "alice@example.com"
	}
	if req.Action == "" {
		req.Action = "refund:order:123"
	}
	m, err := c.Mint(context.Background(), req)
	if err != nil {
		t.Fatalf("mint: %v", err)
	}
	return m
}

// wantAPIError checks that err matches class and carries the code and
// reason of the service's answer.
func wantAPIError(t *testing.T, err, class error, status int, code, reason string) *client.APIError {
	t.Helper()
	if !errors.Is(err, class) {
		t.Fatalf("error %v does not match %v", err, class)
	}
	var ae *client.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v is not an *APIError", err)
	}
	if ae.Status != status || ae.Code != code || ae.Reason != reason {
		t.Errorf("APIError %d %q %q, want %d %q %q", ae.Status, ae.Code, ae.Reason,
			status, code, reason)
	}
	return ae
}

func TestMintVerify(t *testing.T) {
	s := startService(t)
	c := newClient(t, s)
	ctx := context.Background()
	m := mint(t, c, client.MintRequest{
		Sub: "alice@example.com", Action: "refund:order:123", TTL: 120 * time.Second,
		Aud: "payments", Details: map[string]any{"amount": 50},
	})
	if want := s.Clock.Now().Add(120 * time.Second); !m.ExpiresAt.Equal(want) {
		t.Errorf("ExpiresAt %v, want %v", m.ExpiresAt, want)
	}

	v, err := c.Verify(ctx, m.Token, client.ForAction("refund:order:123"),
		client.ForAudience("payments"))
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if v.Sub != "alice@example.com" || v.Action != "refund:order:123" || v.JTI != m.JTI ||
		v.Aud != "payments" || string(v.Details) != `{"amount":50}` ||
		v.ExpiresAt != m.ExpiresAt.Unix() || v.VerifiedAt.IsZero() {
		t.Errorf("verified %+v", v)
	}

	_, err = c.Verify(ctx, m.Token)
	wantAPIError(t, err, client.ErrTokenUsed, 409, "token_used", "")
}

// TestErrors provokes each class of failure from the real service and
// checks the error callers match on.
func TestErrors(t *testing.T) {
	ctx := context.Background()
	s := startService(t)
	c := newClient(t, s)

	t.Run("expired", func(t *testing.T) {
		m := mint(t, c, client.MintRequest{TTL: time.Second})
		s.Clock.Advance(10 * time.Second)
		_, err := c.Verify(ctx, m.Token)
		wantAPIError(t, err, client.ErrTokenExpired, 401, "token_expired", "expired")
	})
	t.Run("invalid", func(t *testing.T) {
		m := mint(t, c, client.MintRequest{})
		tampered := tamper(m.Token)
		_, err := c.Verify(ctx, tampered)
		wantAPIError(t, err, client.ErrInvalidToken, 401, "invalid_token", "bad_signature")
		_, err = c.Verify(ctx, "not.a.token")
		wantAPIError(t, err, client.ErrInvalidToken, 401, "invalid_token", "malformed")
	})
	t.Run("forbidden", func(t *testing.T) {
		m := mint(t, c, client.MintRequest{Action: "refund:order:1", Aud: "payments"})
		_, err := c.Verify(ctx, m.Token, client.ForAction("refund:order:2"))
		wantAPIError(t, err, client.ErrForbidden, 403, "forbidden", "action_mismatch")
		_, err = c.Verify(ctx, m.Token, client.ForAudience("shipping"))
		wantAPIError(t, err, client.ErrForbidden, 403, "forbidden", "audience_mismatch")
		if _, err := c.Verify(ctx, m.Token, client.ForAction("refund:order:1")); err != nil {
			t.Errorf("a token refused for a mismatch was consumed: %v", err)
		}
	})
	t.Run("invalid request", func(t *testing.T) {
		_, err := c.Mint(ctx, client.MintRequest{Sub: "alice", Action: "has space"})
		wantAPIError(t, err, client.ErrInvalidRequest, 400, "invalid_request", "")
		_, err = c.Mint(ctx, client.MintRequest{Sub: "a", Action: "a", TTL: 1500 * time.Millisecond})
		if err == nil {
			t.Error("a TTL of 1.5s was accepted")
		}
	})
	t.Run("unauthorized", func(t *testing.T) {
		// Once a caller exists, every request needs a key.
		key, hash, err := callers.NewKey()
		if err != nil {
			t.Fatal(err)
		}
		keyed := startService(t)
		err = keyed.Store.AddCaller(ctx, callers.Caller{Name: "backend",
			Role: callers.RoleMinter, KeyHash: hash, Created: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		_, err = newClient(t, keyed).Mint(ctx, client.MintRequest{Sub: "a", Action: "a"})
		wantAPIError(t, err, client.ErrUnauthorized, 401, "unauthorized", "")
		_, err = newClient(t, keyed, client.WithAPIKey("am_wrong")).Mint(ctx,
			client.MintRequest{Sub: "a", Action: "a"})
		wantAPIError(t, err, client.ErrUnauthorized, 401, "unauthorized", "")
		mint(t, newClient(t, keyed, client.WithAPIKey(key)), client.MintRequest{})
	})
	t.Run("rate limited", func(t *testing.T) {
		limited := startService(t, func(c *httpapi.Config) {
			c.Limits.PerSub = httpapi.Rate{N: 1, Per: time.Hour}
		})
		lc := newClient(t, limited)
		mint(t, lc, client.MintRequest{Sub: "carol"})
		_, err := lc.Mint(ctx, client.MintRequest{Sub: "carol", Action: "a"})
		ae := wantAPIError(t, err, client.ErrRateLimited, 429, "rate_limited", "")
		if ae.RetryAfter <= 0 || ae.RetryAfter > time.Hour {
			t.Errorf("RetryAfter %v, want within the hour", ae.RetryAfter)
		}
	})
	t.Run("canceled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := c.Verify(cctx, "x"); !errors.Is(err, context.Canceled) {
			t.Errorf("error %v, want context.Canceled", err)
		}
	})
	t.Run("store down", func(t *testing.T) {
		m := mint(t, c, client.MintRequest{})
		s.Store.Close()
		_, err := c.Verify(ctx, m.Token)
		wantAPIError(t, err, client.ErrUnavailable, 503, "unavailable", "")
	})
	t.Run("service down", func(t *testing.T) {
		s.Stop()
		_, err := c.Verify(ctx, "x")
		if !errors.Is(err, client.ErrUnavailable) {
			t.Errorf("error %v, want ErrUnavailable", err)
		}
		var ae *client.APIError
		if errors.As(err, &ae) {
			t.Errorf("no answer gave an APIError %v", ae)
		}
	})
}

func problem(w http.ResponseWriter, status int, code, reason string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{
		"type": "about:blank", "status": status, "code": code, "reason": reason,
	})
}

// TestVerifyOffline checks a token without consuming it, and goes on
// checking after the service has stopped, from the cached keys.
func TestVerifyOffline(t *testing.T) {
	ctx := context.Background()
	s := startService(t)
	c := newClient(t, s)
	m := mint(t, c, client.MintRequest{Action: "deploy:prod", TTL: 300 * time.Second})
	other := mint(t, c, client.MintRequest{Action: "deploy:prod", TTL: 300 * time.Second})

	for range 2 {
		claims, err := c.VerifyOffline(ctx, m.Token, client.ForAction("deploy:prod"))
		if err != nil {
			t.Fatalf("offline: %v", err)
		}
		if claims.ID != m.JTI || claims.Subject != "alice@example.com" {
			t.Errorf("claims %+v", claims)
		}
	}
	if _, err := c.Verify(ctx, m.Token); err != nil {
		t.Fatalf("online after offline: %v (offline must consume nothing)", err)
	}

	// Offline rejections have the same classes as online ones.
	_, err := c.VerifyOffline(ctx, m.Token, client.ForAction("deploy:staging"))
	if !errors.Is(err, client.ErrForbidden) || !errors.Is(err, token.ErrActionMismatch) {
		t.Errorf("action mismatch: %v", err)
	}
	if _, err := c.VerifyOffline(ctx, "x.y"); !errors.Is(err, client.ErrInvalidToken) ||
		!errors.Is(err, token.ErrMalformed) {
		t.Errorf("malformed: %v", err)
	}

	// With the service gone, the cached keys still verify.
	s.Stop()
	hits := s.jwksHits.Load()
	if _, err := c.VerifyOffline(ctx, other.Token); err != nil {
		t.Fatalf("offline with the service stopped: %v", err)
	}
	_, err = c.VerifyOffline(ctx, forged(t))
	if !errors.Is(err, client.ErrInvalidToken) || !errors.Is(err, token.ErrUnknownKey) {
		t.Errorf("unknown kid with the service stopped: %v", err)
	}

	// Past max-age, stale-if-error keeps the keys as long as a token lives.
	s.Clock.Advance(60*time.Second + 200*time.Second)
	if _, err := c.VerifyOffline(ctx, other.Token); err != nil {
		t.Fatalf("offline within stale-if-error: %v", err)
	}
	s.Clock.Advance(200 * time.Second)
	if _, err := c.VerifyOffline(ctx, other.Token); !errors.Is(err, client.ErrUnavailable) {
		t.Errorf("offline past stale-if-error: %v, want ErrUnavailable", err)
	}
	if s.jwksHits.Load() != hits {
		t.Errorf("a stopped service was asked for keys")
	}
}

// forged returns a well-formed token signed by a key the service never had.
func forged(t testing.TB) string {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	jti, err := token.NewID(now)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := token.Sign(&token.Claims{
		Issuer: issuer, Subject: "mallory", Action: "deploy:prod", ID: jti,
		IssuedAt: now.Unix(), Expiry: now.Unix() + 60,
	}, token.KeyID(priv.Public().(ed25519.PublicKey)), priv)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestVerifyOfflineRotation: a token of a key that appeared after the set
// was cached makes the client fetch the set again.
func TestVerifyOfflineRotation(t *testing.T) {
	ctx := context.Background()
	s := startService(t)
	c := newClient(t, s)
	if _, err := c.VerifyOffline(ctx, mint(t, c, client.MintRequest{}).Token); err != nil {
		t.Fatal(err)
	}
	s.Clock.Advance(time.Second)
	if _, err := keys.Generate(s.KeyDir, s.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.Ring.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.VerifyOffline(ctx, mint(t, c, client.MintRequest{}).Token); err != nil {
		t.Fatalf("token of the new key: %v", err)
	}
	if got := s.jwksHits.Load(); got != 2 {
		t.Errorf("jwks fetched %d times, want 2", got)
	}
}

// TestUnknownKidFlood: tokens with made-up kids cost the service at most
// one key fetch per refresh interval.
func TestUnknownKidFlood(t *testing.T) {
	ctx := context.Background()
	s := startService(t)
	c := newClient(t, s, client.WithKeyRefreshInterval(10*time.Second))
	good := mint(t, c, client.MintRequest{TTL: 300 * time.Second}).Token
	if _, err := c.VerifyOffline(ctx, good); err != nil {
		t.Fatal(err)
	}
	for range 50 {
		if _, err := c.VerifyOffline(ctx, forged(t)); !errors.Is(err, token.ErrUnknownKey) {
			t.Fatalf("forged token: %v", err)
		}
	}
	if got := s.jwksHits.Load(); got != 2 {
		t.Errorf("jwks fetched %d times for 50 unknown kids, want 2", got)
	}
	s.Clock.Advance(11 * time.Second)
	c.VerifyOffline(ctx, forged(t))
	if got := s.jwksHits.Load(); got != 3 {
		t.Errorf("jwks fetched %d times after the interval, want 3", got)
	}
	if _, err := c.VerifyOffline(ctx, good); err != nil {
		t.Errorf("good token after the flood: %v", err)
	}
}

// TestJWKSMaxAge: the cached set is fetched again once max-age has passed.
func TestJWKSMaxAge(t *testing.T) {
	ctx := context.Background()
	s := startService(t)
	c := newClient(t, s)
	tok := mint(t, c, client.MintRequest{TTL: 300 * time.Second}).Token
	c.VerifyOffline(ctx, tok)
	s.Clock.Advance(59 * time.Second)
	c.VerifyOffline(ctx, tok)
	if got := s.jwksHits.Load(); got != 1 {
		t.Errorf("jwks fetched %d times within max-age, want 1", got)
	}
	s.Clock.Advance(2 * time.Second)
	if _, err := c.VerifyOffline(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if got := s.jwksHits.Load(); got != 2 {
		t.Errorf("jwks fetched %d times after max-age, want 2", got)
	}
}

func TestNewRejectsBadURL(t *testing.T) {
	for _, u := range []string{"", "localhost:3000", "ftp://x", "http://"} {
		if _, err := client.New(u); err == nil || strings.Contains(err.Error(), "%") {
			t.Errorf("New(%q) = %v", u, err)
		}
	}
}

// tamper changes one character in the middle of the token's signature.
func tamper(tok string) string {
	i := len(tok) - 10
	c := byte('A')
	if tok[i] == c {
		c = 'B'
	}
	return tok[:i] + string(c) + tok[i+1:]
}
