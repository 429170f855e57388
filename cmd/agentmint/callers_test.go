package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// addCaller runs `agentmint callers add` on the server's data directory,
// as an operator would while it runs, and returns the printed key.
func (s *testServer) addCaller(t *testing.T, name, role string) string {
	t.Helper()
	out := s.cli(t, "callers", "add", "--data-dir", s.DataDir, "--name", name, "--role", role)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	key := lines[len(lines)-1]
	if !strings.HasPrefix(key, "am_") {
		t.Fatalf("callers add printed no key:\n%s", out)
	}
	return key
}

// cli runs the agentmint command line and fails the test unless it
// succeeds.
func (s *testServer) cli(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := Main(context.Background(), args, &stdout, &stderr); code != 0 {
		t.Fatalf("agentmint %v: exit %d\n%s", args, code, stderr.String())
	}
	return stdout.String()
}

func bearer(key string) []string { return []string{"Authorization", "Bearer " + key} }

func (s *testServer) mintAs(t *testing.T, key, body string) *response {
	t.Helper()
	return do(t, "POST", s.URL+"/mint", body, bearer(key)...)
}

func TestCallersAndRoles(t *testing.T) {
	s := startServer(t, serverOpts{})
	if !strings.Contains(s.Stderr.String(), "NO CALLERS ARE CONFIGURED") {
		t.Errorf("no start-up warning without callers:\n%s", s.Stderr)
	}
	// Without callers, loopback needs no key.
	s.mint(t, "alice@company.com", "deploy:prod")

	minter := s.addCaller(t, "billing", "minter")
	verifier := s.addCaller(t, "gateway", "verifier")
	auditor := s.addCaller(t, "auditor-1", "auditor")
	body := `{"sub":"alice@company.com","action":"refund:order:123","ttl_seconds":300}`

	// Once a caller exists, even loopback needs a key: the server notices
	// the first caller within a second (it caches "no callers" that long).
	r := do(t, "POST", s.URL+"/mint", body)
	for deadline := time.Now().Add(2 * time.Second); r.Status == 200 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		r = do(t, "POST", s.URL+"/mint", body)
	}
	wantProblem(t, r, 401, "unauthorized")
	if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("401 without WWW-Authenticate: %v", r.Header)
	}
	for name, h := range map[string]string{
		"unknown key":   "Bearer am_" + strings.Repeat("A", 43),
		"malformed key": "Bearer " + minter[:20],
		"basic scheme":  "Basic " + minter,
		"no credential": "Bearer ",
	} {
		r := do(t, "POST", s.URL+"/mint", body, "Authorization", h)
		if r.Status != 401 {
			t.Errorf("%s: %d, want 401", name, r.Status)
		}
	}

	// The wrong role is a 403, the right one is served.
	wantProblem(t, s.mintAs(t, verifier, body), 403, "forbidden")
	r = s.mintAs(t, minter, body)
	if r.Status != 200 {
		t.Fatalf("mint as minter: %d %s", r.Status, r.Body)
	}
	tok := r.JSON(t)["token"].(string)
	proxy := `{"token":"` + tok + `"}`
	wantProblem(t, do(t, "POST", s.URL+"/proxy", proxy, bearer(minter)...), 403, "forbidden")
	wantProblem(t, do(t, "POST", s.URL+"/proxy", proxy, bearer(auditor)...), 403, "forbidden")
	r = do(t, "POST", s.URL+"/proxy", proxy, bearer(verifier)...)
	if r.Status != 200 || r.JSON(t)["minted_by"] != "billing" {
		t.Fatalf("proxy as verifier: %d %s; want 200 naming the minter", r.Status, r.Body)
	}
	wantProblem(t, do(t, "GET", s.URL+"/audit", "", bearer(minter)...), 403, "forbidden")
	if r := do(t, "GET", s.URL+"/audit", "", bearer(auditor)...); r.Status != 200 {
		t.Errorf("audit as auditor: %d", r.Status)
	}
	// Every audit route needs the auditor.
	for _, path := range []string{"/audit/checkpoint", "/audit/checkpoints",
		"/audit/key", "/audit/entries?from=0", "/audit/entries/0",
		"/audit/consistency?from=1&to=1"} {
		wantProblem(t, do(t, "GET", s.URL+path, ""), 401, "unauthorized")
		wantProblem(t, do(t, "GET", s.URL+path, "", bearer(minter)...), 403, "forbidden")
		if r := do(t, "GET", s.URL+path, "", bearer(auditor)...); r.Status == 401 || r.Status == 403 {
			t.Errorf("GET %s as auditor: %d", path, r.Status)
		}
	}
	wantProblem(t, do(t, "GET", s.URL+"/metrics", ""), 401, "unauthorized")
	if r := do(t, "GET", s.URL+"/metrics", "", bearer(auditor)...); r.Status != 200 {
		t.Errorf("metrics as auditor: %d", r.Status)
	}
	for _, path := range []string{"/health", "/ready", "/.well-known/jwks.json"} {
		if r := do(t, "GET", s.URL+path, ""); r.Status != 200 {
			t.Errorf("GET %s without a key: %d, want 200", path, r.Status)
		}
	}

	// A revocation applies to the very next request, without a restart.
	out := s.cli(t, "callers", "revoke", "--data-dir", s.DataDir, "--name", "billing")
	if !strings.Contains(out, "revoked caller billing") {
		t.Errorf("revoke printed %q", out)
	}
	wantProblem(t, s.mintAs(t, minter, body), 401, "unauthorized")
	list := s.cli(t, "callers", "list", "--data-dir", s.DataDir)
	for _, want := range []string{"billing", "gateway", "auditor-1", "verifier"} {
		if !strings.Contains(list, want) {
			t.Errorf("callers list lacks %q:\n%s", want, list)
		}
	}
	if strings.Contains(list, minter) {
		t.Error("callers list shows a key")
	}
	if got := strings.Count(list, "\n"); got != 4 {
		t.Errorf("callers list has %d lines, want 4:\n%s", got, list)
	}
}

func TestMetricsPublic(t *testing.T) {
	s := startServer(t, serverOpts{args: []string{"--metrics-public"}})
	s.addCaller(t, "a", "auditor")
	if r := do(t, "GET", s.URL+"/metrics", ""); r.Status != 200 {
		t.Fatalf("public metrics: %d", r.Status)
	}
}

// TestLocalOnly checks that without callers only local addresses are
// served. On Linux all of 127.0.0.0/8 is loopback, so the test narrows
// "local" to 127.0.0.1 with --local-addrs and calls from 127.0.0.2: a real
// peer address outside the local set, over a real connection. The default
// set (loopback) is checked by the decision function's unit test in
// internal/httpapi.
func TestLocalOnly(t *testing.T) {
	s := startServer(t, serverOpts{args: []string{"--local-addrs", "127.0.0.1/32"}})
	body := `{"sub":"alice@company.com","action":"deploy:prod"}`
	if r := do(t, "POST", s.URL+"/mint", body); r.Status != 200 {
		t.Fatalf("local mint: %d %s", r.Status, r.Body)
	}
	remote := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{
		LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")},
		Timeout:   5 * time.Second,
	}).DialContext}}
	res, err := remote.Post(s.URL+"/mint", "application/json", strings.NewReader(body))
	if err != nil {
		t.Skipf("cannot dial from 127.0.0.2 on this system: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != 401 {
		t.Fatalf("remote mint without callers: %d, want 401", res.StatusCode)
	}
	res, err = remote.Get(s.URL + "/health")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("remote health: %d, want 200", res.StatusCode)
	}
}

func TestBinding(t *testing.T) {
	s := startServer(t, serverOpts{})
	r := post(t, s.URL+"/mint", map[string]any{
		"sub": "alice@company.com", "action": "refund:order:123",
		"aud": "https://api.example.com",
	})
	if r.Status != 200 {
		t.Fatalf("mint: %d %s", r.Status, r.Body)
	}
	tok := r.JSON(t)["token"].(string)
	for _, tc := range []struct{ action, aud string }{
		{"refund:order:124", ""},
		{"refund:order:12", ""},
		{"REFUND:order:123", ""},
		{"", "https://api.example.org"},
		{"refund:order:123", "https://api.example.com/"},
	} {
		r := post(t, s.URL+"/proxy", map[string]any{"token": tok, "action": tc.action, "aud": tc.aud})
		wantProblem(t, r, 403, "forbidden")
		if !strings.Contains(r.JSON(t)["detail"].(string), "not consumed") {
			t.Errorf("403 detail does not say nothing was consumed: %s", r.Body)
		}
	}
	r = post(t, s.URL+"/proxy", map[string]any{"token": tok,
		"action": "refund:order:123", "aud": "https://api.example.com"})
	if r.Status != 200 {
		t.Fatalf("the right action after refusals: %d %s", r.Status, r.Body)
	}
	wantProblem(t, post(t, s.URL+"/proxy", map[string]any{"token": tok,
		"action": "refund:order:123"}), 409, "token_used")
}
