package main

import (
	"strings"
	"testing"
)

// TestLogsHoldNoSecrets runs requests with keys, tokens and bodies through
// a server logging at debug level and looks for them in the log.
func TestLogsHoldNoSecrets(t *testing.T) {
	s := startServer(t, serverOpts{args: []string{"--log-level", "debug"}})
	minter := s.addCaller(t, "billing", "minter")
	verifier := s.addCaller(t, "gateway", "verifier")
	const marker = "body-marker-7f3a"
	r := s.mintBody(t, `{"sub":"alice@company.com","action":"refund:1",`+
		`"details":{"note":"`+marker+`"}}`, bearer(minter)...)
	if r.Status != 200 {
		t.Fatalf("mint: %d %s", r.Status, r.Body)
	}
	m := r.JSON(t)
	tok, jti := m["token"].(string), m["jti"].(string)
	do(t, "POST", s.URL+"/proxy", `{"token":"`+tok+`"}`, bearer(verifier)...)
	do(t, "POST", s.URL+"/proxy", `{"token":"`+tok+`"}`, bearer(verifier)...) // replay
	do(t, "POST", s.URL+"/proxy", `{"token":"`+tok+`x"}`, bearer(verifier)...)
	do(t, "POST", s.URL+"/mint", `{}`, "Authorization", "Bearer "+minter+"x")
	// A User-Agent with a C1 control, a line separator and a bidi override.
	do(t, "GET", s.URL+"/.well-known/jwks.json", "",
		"User-Agent", "evil\u0085forged\u2028line\u202eagent")

	s.Stop()
	logs := s.Stderr.String()
	for name, secret := range map[string]string{
		"token": tok, "token signature": tok[strings.LastIndexByte(tok, '.')+1:],
		"minter key": minter, "verifier key": verifier,
		"key body": minter[3:], "request body": marker,
	} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log contains the %s", name)
		}
	}
	for _, c := range []string{"\u0085", "\u2028", "\u202e", `\u2028`, `\u202e`} {
		if strings.Contains(logs, c) {
			t.Errorf("the log contains %q", c)
		}
	}
	for _, want := range []string{jti, `"caller":"billing"`, `"user_agent":"evilforgedlineagent"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks %s", want)
		}
	}
}
