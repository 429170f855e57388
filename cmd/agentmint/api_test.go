package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
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

func TestMintAnswer(t *testing.T) {
	clock := newFakeClock()
	s := startServer(t, serverOpts{now: clock.Now})
	r := post(t, s.URL+"/mint", map[string]any{
		"sub": "alice@company.com", "action": "export:users:csv", "ttl_seconds": 42,
	})
	if r.Status != 200 {
		t.Fatalf("mint: %d %s", r.Status, r.Body)
	}
	var got struct {
		Token string `json:"token"`
		JTI   string `json:"jti"`
		Exp   int64  `json:"exp"`
	}
	if err := json.Unmarshal(r.Body, &got); err != nil {
		t.Fatal(err)
	}
	if want := clock.Now().Unix() + 42; got.Exp != want {
		t.Errorf("exp = %d, want %d", got.Exp, want)
	}
	if len(got.JTI) != 30 || strings.Count(got.Token, ".") != 2 {
		t.Errorf("jti %q, token with %d dots", got.JTI, strings.Count(got.Token, "."))
	}
	// Without ttl_seconds the lifetime is 60 s.
	r = post(t, s.URL+"/mint", map[string]any{"sub": "a", "action": "b"})
	if exp := int64(r.JSON(t)["exp"].(float64)); exp != clock.Now().Unix()+60 {
		t.Errorf("default exp = %d, want now+60", exp)
	}
}

func TestUseCaseActions(t *testing.T) {
	s := startServer(t, serverOpts{})
	for _, action := range []string{
		"refund:order:123:amount:50", "deploy:prod:api:v2.1.0",
		"export:users:csv", "delete:user:789", "compute:aws:instances:10",
	} {
		tok, _ := s.mint(t, "alice@company.com", action)
		r := s.proxy(t, tok)
		if r.Status != 200 || r.JSON(t)["action"] != action {
			t.Errorf("%s: %d %s", action, r.Status, r.Body)
		}
	}
}

func TestMintInputRules(t *testing.T) {
	s := startServer(t, serverOpts{})
	long := func(c string, n int) string { return strings.Repeat(c, n) }
	tests := []struct {
		name   string
		body   string
		status int
	}{
		{"sub of 256 characters", `{"sub":"` + long("é", 256) + `","action":"a"}`, 200},
		{"sub of 257 characters", `{"sub":"` + long("a", 257) + `","action":"a"}`, 400},
		{"empty sub", `{"sub":"","action":"a"}`, 400},
		{"missing sub", `{"action":"a"}`, 400},
		{"sub with newline", `{"sub":"a\nb","action":"a"}`, 400},
		{"sub with NUL", `{"sub":"a\u0000b","action":"a"}`, 400},
		{"sub with DEL", `{"sub":"a\u007fb","action":"a"}`, 400},
		{"sub of wrong type", `{"sub":5,"action":"a"}`, 400},
		{"action of 64", `{"sub":"a","action":"` + long("x", 64) + `"}`, 200},
		{"action of 65", `{"sub":"a","action":"` + long("x", 65) + `"}`, 400},
		{"empty action", `{"sub":"a","action":""}`, 400},
		{"action with space", `{"sub":"a","action":"refund order"}`, 400},
		{"action with tab", `{"sub":"a","action":"refund\torder"}`, 400},
		{"action not ASCII", `{"sub":"a","action":"rembourser:€"}`, 400},
		{"ttl 1", `{"sub":"a","action":"a","ttl_seconds":1}`, 200},
		{"ttl 300", `{"sub":"a","action":"a","ttl_seconds":300}`, 200},
		{"ttl 0", `{"sub":"a","action":"a","ttl_seconds":0}`, 400},
		{"ttl 301", `{"sub":"a","action":"a","ttl_seconds":301}`, 400},
		{"ttl negative", `{"sub":"a","action":"a","ttl_seconds":-5}`, 400},
		{"ttl fraction", `{"sub":"a","action":"a","ttl_seconds":1.5}`, 400},
		{"ttl string", `{"sub":"a","action":"a","ttl_seconds":"60"}`, 400},
		{"ttl null", `{"sub":"a","action":"a","ttl_seconds":null}`, 200},
		{"aud", `{"sub":"a","action":"a","aud":"payments-api"}`, 200},
		{"aud with space", `{"sub":"a","action":"a","aud":"pay api"}`, 400},
		{"details", `{"sub":"a","action":"a","details":{"amount":50}}`, 200},
		{"details not object", `{"sub":"a","action":"a","details":[1]}`, 400},
		{"details duplicate", `{"sub":"a","action":"a","details":{"x":1,"x":2}}`, 400},
		{"details too big", `{"sub":"a","action":"a","details":{"x":"` + long("y", 1100) + `"}}`, 400},
		{"unknown field", `{"sub":"a","action":"a","admin":true}`, 400},
		{"malformed JSON", `{"sub":"a",`, 400},
		{"not an object", `["sub","a"]`, 400},
		{"trailing data", `{"sub":"a","action":"a"} {}`, 400},
		{"empty body", ``, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, "POST", s.URL+"/mint", tt.body)
			if tt.status == 200 {
				if r.Status != 200 {
					t.Fatalf("status %d, want 200: %s", r.Status, r.Body)
				}
				return
			}
			wantProblem(t, r, tt.status, "invalid_request")
		})
	}
}

func TestProxyInputRules(t *testing.T) {
	s := startServer(t, serverOpts{})
	tests := []struct {
		name   string
		body   string
		status int
		code   string
	}{
		{"missing token", `{}`, 400, "invalid_request"},
		{"empty token", `{"token":""}`, 400, "invalid_request"},
		{"token not a string", `{"token":12}`, 400, "invalid_request"},
		{"malformed JSON", `{"token":`, 400, "invalid_request"},
		{"unknown field", `{"token":"a.b.c","x":1}`, 400, "invalid_request"},
		{"garbage token", `{"token":"not a token"}`, 401, "invalid_token"},
		{"token over 2 KiB", `{"token":"` + strings.Repeat("a", 2049) + `"}`, 401, "invalid_token"},
		{"three empty segments", `{"token":".."}`, 401, "invalid_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantProblem(t, do(t, "POST", s.URL+"/proxy", tt.body), tt.status, tt.code)
		})
	}
}

func TestBodyLimit(t *testing.T) {
	s := startServer(t, serverOpts{})
	pad := strings.Repeat(" ", 16<<10)
	r := do(t, "POST", s.URL+"/mint", `{"sub":"a","action":"b"}`+pad)
	wantProblem(t, r, 413, "too_large")
	// Exactly 16 KiB is accepted.
	body := `{"sub":"a","action":"b"}`
	body += strings.Repeat(" ", 16<<10-len(body))
	if r := do(t, "POST", s.URL+"/mint", body); r.Status != 200 {
		t.Errorf("16 KiB body: %d %s", r.Status, r.Body)
	}
}

func TestMethodsAndPaths(t *testing.T) {
	s := startServer(t, serverOpts{})
	tests := []struct {
		method, path string
		status       int
		allow        string
	}{
		{"GET", "/mint", 405, "POST"},
		{"PUT", "/proxy", 405, "POST"},
		{"POST", "/audit", 405, "GET"},
		{"DELETE", "/health", 405, "GET"},
		{"GET", "/nope", 404, ""},
	}
	for _, tt := range tests {
		r := do(t, tt.method, s.URL+tt.path, "")
		code := "method_not_allowed"
		if tt.status == 404 {
			code = "not_found"
		}
		wantProblem(t, r, tt.status, code)
		if got := r.Header.Get("Allow"); got != tt.allow {
			t.Errorf("%s %s: Allow %q, want %q", tt.method, tt.path, got, tt.allow)
		}
	}
}

func TestHealthReadyJWKSMetrics(t *testing.T) {
	s := startServer(t, serverOpts{})
	if r := do(t, "GET", s.URL+"/health", ""); r.Status != 200 || r.JSON(t)["status"] != "ok" {
		t.Errorf("/health: %d %s", r.Status, r.Body)
	}
	if r := do(t, "GET", s.URL+"/ready", ""); r.Status != 200 || r.JSON(t)["status"] != "ready" {
		t.Errorf("/ready: %d %s", r.Status, r.Body)
	}

	r := do(t, "GET", s.URL+"/.well-known/jwks.json", "")
	var set struct{ Keys []map[string]any }
	if err := json.Unmarshal(r.Body, &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("jwks: %v %s", err, r.Body)
	}
	k := set.Keys[0]
	for name, want := range map[string]string{
		"kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA",
	} {
		if k[name] != want {
			t.Errorf("jwk %s = %v, want %s", name, k[name], want)
		}
	}
	if _, ok := k["d"]; ok || len(k) != 6 {
		t.Errorf("jwk has members beyond the public ones: %v", k)
	}

	tok, _ := s.mint(t, "a", "b")
	s.proxy(t, tok)
	s.proxy(t, tok)
	s.proxy(t, "x.y.z")
	body := string(do(t, "GET", s.URL+"/metrics", "").Body)
	for _, want := range []string{
		"agentmint_tokens_minted_total 1",
		"agentmint_tokens_verified_total 1",
		"agentmint_token_replays_total 1",
		`agentmint_tokens_rejected_total{reason="replay"} 1`,
		`agentmint_tokens_rejected_total{reason="malformed"} 1`,
		`agentmint_http_request_duration_seconds_count{code="200",route="/proxy"} 1`,
		`agentmint_http_request_duration_seconds_count{code="409",route="/proxy"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestSecurityHeaders(t *testing.T) {
	s := startServer(t, serverOpts{})
	for _, path := range []string{"/health", "/nope"} {
		r := do(t, "GET", s.URL+path, "")
		for name, want := range map[string]string{
			"X-Content-Type-Options": "nosniff",
			"Cache-Control":          "no-store",
			"X-Frame-Options":        "DENY",
		} {
			if got := r.Header.Get(name); got != want {
				t.Errorf("%s: %s = %q, want %q", path, name, got, want)
			}
		}
	}
}

func TestAuditNewestFirst(t *testing.T) {
	s := startServer(t, serverOpts{})
	var jtis []string
	for i := range 3 {
		tok, jti := s.mint(t, fmt.Sprintf("user%d@company.com", i), "delete:user:789")
		if r := s.proxy(t, tok); r.Status != 200 {
			t.Fatalf("proxy: %d", r.Status)
		}
		jtis = append(jtis, jti)
	}
	s.mint(t, "unused@company.com", "delete:user:789") // minted, not verified
	r := do(t, "GET", s.URL+"/audit", "")
	var got []map[string]string
	if err := json.Unmarshal(r.Body, &got); err != nil {
		t.Fatalf("audit: %v %s", err, r.Body)
	}
	if len(got) != 3 {
		t.Fatalf("audit has %d records, want 3: %s", len(got), r.Body)
	}
	for i, rec := range got {
		if rec["jti"] != jtis[2-i] || rec["sub"] != fmt.Sprintf("user%d@company.com", 2-i) {
			t.Errorf("record %d = %v, want jti %s", i, rec, jtis[2-i])
		}
		if _, err := time.Parse(time.RFC3339, rec["verified_at"]); err != nil {
			t.Errorf("verified_at %q: %v", rec["verified_at"], err)
		}
	}
	if r := do(t, "GET", s.URL+"/audit?limit=1", ""); strings.Count(string(r.Body), "jti") != 1 {
		t.Errorf("limit=1 gave %s", r.Body)
	}
	wantProblem(t, do(t, "GET", s.URL+"/audit?limit=0", ""), 400, "invalid_request")
}

// TestConcurrentPresentations presents one token from 64 goroutines at
// once: exactly one may win.
func TestConcurrentPresentations(t *testing.T) {
	s := startServer(t, serverOpts{})
	tok, _ := s.mint(t, "alice@company.com", "refund:order:123:amount:50")
	body := `{"token":"` + tok + `"}`
	start := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	counts := map[int]int{}
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			res, err := http.Post(s.URL+"/proxy", "application/json", strings.NewReader(body))
			if err != nil {
				t.Error(err)
				return
			}
			res.Body.Close()
			mu.Lock()
			counts[res.StatusCode]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	if counts[200] != 1 || counts[409] != 63 {
		t.Fatalf("statuses %v, want exactly one 200 and 63 409s", counts)
	}
}

// TestExpiry moves an injected clock across the end of a token's life:
// accepted until exp plus the 5 s leeway, refused from then on.
func TestExpiry(t *testing.T) {
	clock := newFakeClock()
	s := startServer(t, serverOpts{now: clock.Now})
	mint := func() string {
		r := post(t, s.URL+"/mint", map[string]any{
			"sub": "alice@company.com", "action": "deploy:prod:api:v2.1.0", "ttl_seconds": 10,
		})
		return r.JSON(t)["token"].(string)
	}
	t0 := clock.Now()
	last, expired, early := mint(), mint(), mint()

	// Within the leeway, the last second: accepted.
	clock.Set(t0.Add(15*time.Second - time.Nanosecond))
	if r := s.proxy(t, last); r.Status != 200 {
		t.Errorf("1 ns before exp+leeway: %d %s", r.Status, r.Body)
	}
	// At exp plus leeway: expired, and the message says so.
	clock.Set(t0.Add(15 * time.Second))
	r := s.proxy(t, expired)
	wantProblem(t, r, 401, "token_expired")
	if d := r.JSON(t)["detail"]; !strings.Contains(fmt.Sprint(d), "expired") {
		t.Errorf("detail %q does not say expired", d)
	}
	// An expired token consumed nothing: it is still refused as expired,
	// not as used.
	wantProblem(t, s.proxy(t, expired), 401, "token_expired")

	// A token from more than the leeway in the future is refused.
	clock.Set(t0.Add(-6 * time.Second))
	wantProblem(t, s.proxy(t, early), 401, "invalid_token")
	clock.Set(t0.Add(-5 * time.Second))
	if r := s.proxy(t, early); r.Status != 200 {
		t.Errorf("iat 5 s ahead (within leeway): %d %s", r.Status, r.Body)
	}
}

func TestBindingMismatchConsumesNothing(t *testing.T) {
	s := startServer(t, serverOpts{})
	r := post(t, s.URL+"/mint", map[string]any{
		"sub": "alice@company.com", "action": "refund:order:123:amount:50", "aud": "payments",
	})
	tok := r.JSON(t)["token"].(string)
	for _, body := range []map[string]any{
		{"token": tok, "action": "refund:order:123:amount:5000"},
		{"token": tok, "aud": "billing"},
	} {
		wantProblem(t, post(t, s.URL+"/proxy", body), 403, "forbidden")
	}
	r = post(t, s.URL+"/proxy", map[string]any{
		"token": tok, "action": "refund:order:123:amount:50", "aud": "payments",
	})
	if r.Status != 200 {
		t.Fatalf("right action and aud after mismatches: %d %s", r.Status, r.Body)
	}
}

func TestErrorsDoNotEchoToken(t *testing.T) {
	s := startServer(t, serverOpts{})
	tok, _ := s.mint(t, "alice@company.com", "export:users:csv")
	s.proxy(t, tok)
	bad := tok[:len(tok)-4] + "AAAA"
	for _, r := range []*response{s.proxy(t, tok), s.proxy(t, bad)} {
		if strings.Contains(string(r.Body), tok[:40]) {
			t.Errorf("answer echoes the token: %s", r.Body)
		}
	}
	s.Stop()
	if strings.Contains(s.Stderr.String(), tok[:40]) {
		t.Error("the log contains the token")
	}
}
