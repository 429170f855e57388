package main

import (
	"strings"
	"testing"
	"time"
)

// wantLimited checks a 429 and its RateLimit fields.
func wantLimited(t *testing.T, r *response, policy, retry string) {
	t.Helper()
	wantProblem(t, r, 429, "rate_limited")
	if got := r.Header.Get("RateLimit-Policy"); got != policy {
		t.Errorf("RateLimit-Policy %q, want %q", got, policy)
	}
	if got := r.Header.Get("Retry-After"); got != retry {
		t.Errorf("Retry-After %q, want %q", got, retry)
	}
	name, _, _ := strings.Cut(policy, ";")
	if want := name + ";r=0;t=" + retry; r.Header.Get("RateLimit") != want {
		t.Errorf("RateLimit %q, want %q", r.Header.Get("RateLimit"), want)
	}
}

func TestLimitPerIP(t *testing.T) {
	clock := newFakeClock()
	s := startServer(t, serverOpts{now: clock.Now, args: []string{"--limit-ip", "3/m"}})
	jwks := s.URL + "/.well-known/jwks.json"
	for i := 0; i < 3; i++ {
		r := do(t, "GET", jwks, "")
		if r.Status != 200 {
			t.Fatalf("request %d: %d", i+1, r.Status)
		}
		want := `"ip";r=` + string(rune('2'-i))
		if got := r.Header.Get("RateLimit"); !strings.HasPrefix(got, want+";") {
			t.Errorf("request %d: RateLimit %q, want %s;...", i+1, got, want)
		}
		if got := r.Header.Get("RateLimit-Policy"); got != `"ip";q=3;w=60` {
			t.Errorf("RateLimit-Policy %q", got)
		}
	}
	wantLimited(t, do(t, "GET", jwks, ""), `"ip";q=3;w=60`, "20")
	wantLimited(t, s.mintBody(t, `{"sub":"a","action":"b"}`), `"ip";q=3;w=60`, "20")

	// Probes are never throttled.
	if r := do(t, "GET", s.URL+"/health", ""); r.Status != 200 {
		t.Errorf("health while throttled: %d", r.Status)
	}

	// One request refills every 20 seconds.
	clock.Advance(20 * time.Second)
	if r := do(t, "GET", jwks, ""); r.Status != 200 {
		t.Fatalf("after 20s: %d", r.Status)
	}
	wantLimited(t, do(t, "GET", jwks, ""), `"ip";q=3;w=60`, "20")

	// Anyone can provoke this limit, so its refusals are not audited: a
	// flood of them cannot crowd the log.
	for range 20 {
		wantLimited(t, post(t, s.URL+"/proxy", map[string]any{"token": "x"}), `"ip";q=3;w=60`, "20")
	}
	clock.Advance(time.Minute)
	a := do(t, "GET", s.URL+"/audit?event=rejected", "")
	if a.Status != 200 || strings.Contains(string(a.Body), "throttled") {
		t.Errorf("per-IP throttles reached the audit log: %d %s", a.Status, a.Body)
	}
}

func (s *testServer) mintBody(t *testing.T, body string, header ...string) *response {
	t.Helper()
	return do(t, "POST", s.URL+"/mint", body, header...)
}

// TestLimitPerCaller also shows that a throttled /proxy consumes nothing:
// the token refused with 429 is accepted once the limit allows.
func TestLimitPerCaller(t *testing.T) {
	clock := newFakeClock()
	s := startServer(t, serverOpts{now: clock.Now,
		args: []string{"--limit-ip", "off", "--limit-caller", "2/m"}})
	minter := s.addCaller(t, "billing", "minter")
	verifier := s.addCaller(t, "gateway", "verifier")
	other := s.addCaller(t, "billing-2", "minter")

	body := `{"sub":"alice@company.com","action":"refund:1","ttl_seconds":300}`
	var toks []string
	for i := 0; i < 2; i++ {
		r := s.mintBody(t, body, bearer(minter)...)
		if r.Status != 200 {
			t.Fatalf("mint %d: %d %s", i+1, r.Status, r.Body)
		}
		toks = append(toks, r.JSON(t)["token"].(string))
	}
	r := s.mintBody(t, body, bearer(minter)...)
	wantLimited(t, r, `"caller";q=2;w=60`, "30")
	if strings.Contains(string(r.Body), "token\"") {
		t.Errorf("a throttled mint answered a token: %s", r.Body)
	}
	if r := s.mintBody(t, body, bearer(other)...); r.Status != 200 {
		t.Errorf("another caller was throttled: %d", r.Status)
	}

	present := func(tok string) *response {
		return do(t, "POST", s.URL+"/proxy", `{"token":"`+tok+`"}`, bearer(verifier)...)
	}
	if r := present(toks[0]); r.Status != 200 {
		t.Fatalf("proxy 1: %d %s", r.Status, r.Body)
	}
	wantProblem(t, present("x.y.z"), 401, "invalid_token")
	wantLimited(t, present(toks[1]), `"caller";q=2;w=60`, "30")
	clock.Advance(30 * time.Second)
	if r := present(toks[1]); r.Status != 200 {
		t.Fatalf("the throttled token once allowed: %d %s", r.Status, r.Body)
	}
}

func TestLimitPerSub(t *testing.T) {
	clock := newFakeClock()
	s := startServer(t, serverOpts{now: clock.Now,
		args: []string{"--limit-ip", "off", "--limit-sub", "2/h", "--metrics-public"}})
	alice := `{"sub":"alice@company.com","action":"refund:1"}`
	for i := 0; i < 2; i++ {
		if r := s.mintBody(t, alice); r.Status != 200 {
			t.Fatalf("mint %d: %d %s", i+1, r.Status, r.Body)
		}
	}
	wantLimited(t, s.mintBody(t, alice), `"sub";q=2;w=3600`, "1800")
	if r := s.mintBody(t, `{"sub":"bob@company.com","action":"refund:1"}`); r.Status != 200 {
		t.Fatalf("another sub was throttled: %d", r.Status)
	}
	// Three tokens were minted, not four.
	m := do(t, "GET", s.URL+"/metrics", "")
	if !strings.Contains(string(m.Body), "agentmint_tokens_minted_total 3\n") {
		t.Errorf("minted counter is not 3:\n%s", m.Body)
	}
	// The refusal is in the audit log, and no minted entry for it.
	a := do(t, "GET", s.URL+"/audit?event=rejected", "")
	if !strings.Contains(string(a.Body), `"reason":"throttled"`) ||
		!strings.Contains(string(a.Body), `"sub":"alice@company.com"`) {
		t.Errorf("audit has no throttled rejection: %s", a.Body)
	}
	if a := do(t, "GET", s.URL+"/audit?event=minted", ""); strings.Count(string(a.Body), `"event":"minted"`) != 3 {
		t.Errorf("audit does not hold exactly 3 mints: %s", a.Body)
	}
}
