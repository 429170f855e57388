package main

import (
	"testing"
)

func TestMintVerifyReplay(t *testing.T) {
	s := startServer(t, serverOpts{})
	tok, jti := s.mint(t, "alice@company.com", "refund:order:123:amount:50")
	r := s.proxy(t, tok)
	if r.Status != 200 {
		t.Fatalf("proxy: %d %s", r.Status, r.Body)
	}
	m := r.JSON(t)
	if m["sub"] != "alice@company.com" || m["jti"] != jti ||
		m["action"] != "refund:order:123:amount:50" {
		t.Errorf("proxy answered %s", r.Body)
	}
	r = s.proxy(t, tok)
	wantProblem(t, r, 409, "token_used")
	if d := r.JSON(t)["detail"]; d != "token already used" {
		t.Errorf("replay detail %q, want %q", d, "token already used")
	}
}
