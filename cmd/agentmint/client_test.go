package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// run runs the agentmint command line and returns its exit code and
// output.
func run(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = Main(context.Background(), args, &o, &e)
	return code, o.String(), e.String()
}

func TestCLIMintVerify(t *testing.T) {
	s := startServer(t, serverOpts{})

	// 1. mint prints the token and nothing else.
	code, out, errOut := run("mint", "--url", s.URL, "--sub", "alice@company.com",
		"--action", "deploy:prod:api:v2.1.0", "--ttl", "120", "--details", `{"ticket":42}`)
	if code != 0 {
		t.Fatalf("mint: exit %d: %s", code, errOut)
	}
	tok := strings.TrimSpace(out)
	if strings.Count(tok, ".") != 2 || strings.Contains(tok, "\n") {
		t.Fatalf("mint printed %q", out)
	}

	// 2. Offline verification consumes nothing, however often.
	for range 2 {
		code, out, errOut = run("verify", "--offline", "--url", s.URL,
			"--action", "deploy:prod:api:v2.1.0", tok)
		if code != 0 {
			t.Fatalf("verify --offline: exit %d: %s", code, errOut)
		}
		var claims map[string]any
		if err := json.Unmarshal([]byte(out), &claims); err != nil || claims["sub"] != "alice@company.com" {
			t.Fatalf("verify --offline printed %s (%v)", out, err)
		}
	}

	// 3. Online verification consumes: once 0, then non-zero.
	code, out, errOut = run("verify", "--url", s.URL, tok)
	if code != 0 {
		t.Fatalf("verify: exit %d: %s", code, errOut)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(out), &v); err != nil || v["action"] != "deploy:prod:api:v2.1.0" ||
		v["details"].(map[string]any)["ticket"] != 42.0 {
		t.Fatalf("verify printed %s (%v)", out, err)
	}
	code, out, errOut = run("verify", "--url", s.URL, tok)
	if code != 1 || !strings.Contains(errOut, "token_used") || out != "" {
		t.Errorf("replay: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if strings.Contains(errOut, tok) {
		t.Error("verify printed the token")
	}

	// 4. Rejections name their code and reason.
	bad := tamper(tok)
	code, _, errOut = run("verify", "--url", s.URL, bad)
	if code != 1 || !strings.Contains(errOut, "invalid_token (reason bad_signature)") ||
		strings.Contains(errOut, bad) {
		t.Errorf("bad signature: exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = run("verify", "--offline", "--url", s.URL, "--action", "other", tok)
	if code != 1 || !strings.Contains(errOut, "reason action_mismatch") {
		t.Errorf("offline mismatch: exit %d, stderr %q", code, errOut)
	}

	// 5. Usage errors.
	if code, _, _ := run("mint", "--url", s.URL, "--sub", "a"); code != 2 {
		t.Errorf("mint without --action: exit %d, want 2", code)
	}
	if code, _, _ := run("verify", "--url", s.URL); code != 2 {
		t.Errorf("verify without a token: exit %d, want 2", code)
	}
}

// TestCLIVerifyOfflineNeedsKeys: with no service to fetch keys from, an
// offline verification fails rather than accepting anything.
func TestCLIVerifyOfflineNeedsKeys(t *testing.T) {
	s := startServer(t, serverOpts{})
	_, out, _ := run("mint", "--url", s.URL, "--sub", "a", "--action", "a")
	tok := strings.TrimSpace(out)
	s.Stop()
	code, out, errOut := run("verify", "--offline", "--url", s.URL, tok)
	if code != 1 || out != "" || !strings.Contains(errOut, "unavailable") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
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
