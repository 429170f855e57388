package client_test

import (
	"context"
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/agentmint/agentmint/client"
)

// BenchmarkVerifyOffline is the cost per token of offline verification
// with the key set cached: parse, signature and claims.
func BenchmarkVerifyOffline(b *testing.B) {
	s := startService(b)
	c := newClient(b, s)
	tok := mint(b, c, client.MintRequest{TTL: 300 * time.Second,
		Details: map[string]any{"amount": 50}}).Token
	ctx := context.Background()
	if _, err := c.VerifyOffline(ctx, tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.VerifyOffline(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEd25519Verify is the bare signature check, to compare with in
// the same run.
func BenchmarkEd25519Verify(b *testing.B) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	msg := make([]byte, 300)
	sig := ed25519.Sign(priv, msg)
	for b.Loop() {
		if !ed25519.Verify(pub, msg, sig) {
			b.Fatal("bad signature")
		}
	}
}
