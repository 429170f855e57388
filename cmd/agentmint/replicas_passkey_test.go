package main

import (
	"path/filepath"
	"testing"

	"github.com/agentmint/agentmint/internal/postgres/pgtest"
)

// TestReplicasSharePasskeys registers a passkey on one replica and
// approves with it on the other, on one PostgreSQL database: credentials
// and challenges are in the database, not in a replica's memory.
func TestReplicasSharePasskeys(t *testing.T) {
	db := pgtest.FreshDatabase(t)
	keysDir := filepath.Join(t.TempDir(), "keys")
	start := func() *passkeyServer {
		s := startServer(t, serverOpts{args: []string{
			"--database", db, "--keys-dir", keysDir,
			"--webauthn-rp-id", testRPID, "--webauthn-rp-origin", testOrigin,
		}})
		return &passkeyServer{testServer: s, t: t}
	}
	a, b := start(), start()

	// 1. Register on A, approve on B; the token verifies on A, once.
	auth := a.register("alice")
	tok := b.approve(auth, "alice", "deploy:prod:api:v2.1.0")
	if r := a.proxy(t, tok); r.Status != 200 {
		t.Fatalf("proxy on A: %d %s", r.Status, r.Body)
	}
	wantProblem(t, b.proxy(t, tok), 409, "token_used")

	// 2. A ceremony begun on A finishes on B, and only once across both.
	o := a.begin(map[string]any{"user_id": "alice", "action": "refund:order:7:amount:5"})
	cred := auth.Assert(o)
	r := b.finish("alice", cred)
	if r.Status != 200 {
		t.Fatalf("finish on B of a challenge from A: %d %s", r.Status, r.Body)
	}
	wantProblem(t, a.finish("alice", cred), 401, "unauthorized")
	if r := a.proxy(t, r.JSON(t)["token"].(string)); r.Status != 200 {
		t.Fatalf("proxy on A of the second token: %d %s", r.Status, r.Body)
	}
}
