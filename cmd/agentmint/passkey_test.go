package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentmint/agentmint/internal/audit"
	"github.com/agentmint/agentmint/internal/ledger"
	"github.com/agentmint/agentmint/internal/passkey"
	"github.com/agentmint/agentmint/internal/passkey/passkeytest"
	"github.com/agentmint/agentmint/internal/sqlite"
	"github.com/agentmint/agentmint/token"
)

// The relying party of the browserless tests. The software authenticator
// writes this origin into its client data, so it need not be where the
// test server listens.
const (
	testRPID   = "localhost"
	testOrigin = "http://localhost:3000"
)

// passkeyServer is a test server with passkeys on.
type passkeyServer struct {
	*testServer
	t     *testing.T
	clock *fakeClock
}

func startPasskeyServer(t *testing.T) *passkeyServer {
	t.Helper()
	clock := newFakeClock()
	s := startServer(t, serverOpts{now: clock.Now, args: []string{
		"--webauthn-rp-id", testRPID, "--webauthn-rp-origin", testOrigin,
	}})
	return &passkeyServer{testServer: s, t: t, clock: clock}
}

// register registers a new software passkey for user.
func (s *passkeyServer) register(user string) *passkeytest.Authenticator {
	s.t.Helper()
	r := post(s.t, s.URL+"/webauthn/register/start", map[string]any{
		"user_id": user, "user_name": user,
	})
	if r.Status != 200 {
		s.t.Fatalf("register/start: %d %s", r.Status, r.Body)
	}
	o, err := passkeytest.ParseOptions(r.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	a := passkeytest.New(testRPID, testOrigin)
	r = post(s.t, s.URL+"/webauthn/register/finish", map[string]any{
		"user_id": user, "credential": a.Register(o),
	})
	if r.Status != 200 {
		s.t.Fatalf("register/finish: %d %s", r.Status, r.Body)
	}
	return a
}

// begin starts an approval and returns the options to answer.
func (s *passkeyServer) begin(body map[string]any) passkeytest.Options {
	s.t.Helper()
	r := post(s.t, s.URL+"/webauthn/auth/start", body)
	if r.Status != 200 {
		s.t.Fatalf("auth/start: %d %s", r.Status, r.Body)
	}
	o, err := passkeytest.ParseOptions(r.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return o
}

// finish sends an assertion for user.
func (s *passkeyServer) finish(user string, cred json.RawMessage, extra ...string) *response {
	s.t.Helper()
	body := map[string]any{"user_id": user, "credential": cred}
	for i := 0; i+1 < len(extra); i += 2 {
		body[extra[i]] = extra[i+1]
	}
	return post(s.t, s.URL+"/webauthn/auth/finish", body)
}

// approve runs a whole approval and returns the token.
func (s *passkeyServer) approve(a *passkeytest.Authenticator, user, action string) string {
	s.t.Helper()
	o := s.begin(map[string]any{"user_id": user, "action": action})
	r := s.finish(user, a.Assert(o))
	if r.Status != 200 {
		s.t.Fatalf("auth/finish: %d %s", r.Status, r.Body)
	}
	return r.JSON(s.t)["token"].(string)
}

// entries returns the audit entries of event for user, oldest first,
// read from the server's database file as an auditor would.
func (s *passkeyServer) entries(event audit.Event, user string) []audit.Entry {
	s.t.Helper()
	st, err := sqlite.Open(filepath.Join(s.DataDir, "agentmint.db"), sqlite.Options{})
	if err != nil {
		s.t.Fatal(err)
	}
	defer st.Close()
	es, err := st.Entries(context.Background(), ledger.Filter{
		Event: string(event), Sub: user, Limit: 1000,
	})
	if err != nil {
		s.t.Fatal(err)
	}
	for i, j := 0, len(es)-1; i < j; i, j = i+1, j-1 {
		es[i], es[j] = es[j], es[i]
	}
	return es
}

// failures counts the failures recorded against user's lockout.
func (s *passkeyServer) failures(user string) int {
	s.t.Helper()
	return len(s.entries(audit.EventPasskeyFailed, user))
}

// claims decodes a token's payload without verifying it.
func claims(t *testing.T, tok string) token.Claims {
	t.Helper()
	parts := strings.Split(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c token.Claims
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPasskeyApproval(t *testing.T) {
	s := startPasskeyServer(t)
	a := s.register("alice@company.com")

	// 1. Approve an action with every optional member.
	r := post(t, s.URL+"/webauthn/auth/start", map[string]any{
		"user_id": "alice@company.com", "action": "refund:order:123:amount:50",
		"ttl_seconds": 42, "aud": "https://api.example.com",
		"details": map[string]any{"amount": 50, "note": "for \u202egnp.exe"},
	})
	if r.Status != 200 {
		t.Fatalf("auth/start: %d %s", r.Status, r.Body)
	}
	var begun struct {
		Approval struct {
			Display struct{ Sub, Action, Details string }
		}
	}
	json.Unmarshal(r.Body, &begun)
	if !strings.Contains(begun.Approval.Display.Details, "for ⟨U+202E⟩gnp.exe") {
		t.Errorf("display does not reveal U+202E: %q", begun.Approval.Display.Details)
	}
	o, _ := passkeytest.ParseOptions(r.Body)
	r = s.finish("alice@company.com", a.Assert(o))
	if r.Status != 200 {
		t.Fatalf("auth/finish: %d %s", r.Status, r.Body)
	}
	tok := r.JSON(t)["token"].(string)

	// 2. The token carries exactly the signed request.
	c := claims(t, tok)
	if c.Subject != "alice@company.com" || c.Action != "refund:order:123:amount:50" ||
		c.Audience != "https://api.example.com" || len(c.AMR) != 1 || c.AMR[0] != "passkey" ||
		c.Expiry-c.IssuedAt != 42 || !strings.Contains(string(c.Details), `"amount":50`) {
		t.Errorf("claims %+v", c)
	}

	// 3. It verifies at /proxy, which reports the amr.
	r = post(t, s.URL+"/proxy", map[string]any{"token": tok, "aud": "https://api.example.com"})
	if r.Status != 200 || !strings.Contains(string(r.Body), `"amr":["passkey"]`) {
		t.Fatalf("proxy: %d %s", r.Status, r.Body)
	}

	// 4. The evidence re-checks offline, and tampering with it does not.
	es := s.entries(audit.EventPasskeyApproved, "alice@company.com")
	if len(es) != 1 || es[0].JTI != c.ID {
		t.Fatalf("approved entries %+v", es)
	}
	if err := passkey.VerifyEntry(es[0]); err != nil {
		t.Errorf("evidence does not verify: %v", err)
	}
	forged := es[0]
	forged.Evidence = bytes.Replace(forged.Evidence, []byte(`amount:50`), []byte(`amount:90`), 1)
	forged.Action = "refund:order:123:amount:90"
	if err := passkey.VerifyEntry(forged); err == nil {
		t.Error("evidence with a changed action verifies")
	}
	var out bytes.Buffer
	if code := Main(context.Background(), []string{"passkey", "verify-evidence",
		"--data-dir", s.DataDir}, &out, &out); code != 0 ||
		out.String() != "1 passkey approvals verified\n" {
		t.Errorf("verify-evidence: %d %s", code, out.String())
	}

	// 5. audit verify re-checks the evidence too: it passes, then names
	// an approval appended with evidence no passkey signed, although
	// the log itself stays consistent.
	out.Reset()
	code := Main(context.Background(), []string{"audit", "verify", "--data-dir", s.DataDir}, &out, &out)
	if code != 0 || !strings.Contains(out.String(), "1 passkey approvals re-checked") {
		t.Fatalf("audit verify: %d %s", code, out.String())
	}
	store, err := sqlite.Open(filepath.Join(s.DataDir, "agentmint.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	bad, err := store.Append(context.Background(), forged)
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	code = Main(context.Background(), []string{"audit", "verify", "--data-dir", s.DataDir}, &out, &out)
	if want := fmt.Sprintf("entry %d:", bad.Index); code == 0 || !strings.Contains(out.String(), want) {
		t.Errorf("audit verify with forged evidence: %d %s; want a failure naming %q", code, out.String(), want)
	}
}

func TestPasskeyRegistration(t *testing.T) {
	s := startPasskeyServer(t)
	s.register("bob")
	s.register("bob")

	// Both credentials are allowed in an approval.
	r := post(t, s.URL+"/webauthn/auth/start", map[string]any{"user_id": "bob", "action": "a"})
	var begun struct {
		PublicKey struct {
			AllowCredentials []struct{ ID string } `json:"allowCredentials"`
			UserVerification string                `json:"userVerification"`
		} `json:"publicKey"`
	}
	json.Unmarshal(r.Body, &begun)
	if len(begun.PublicKey.AllowCredentials) != 2 || begun.PublicKey.UserVerification != "required" {
		t.Errorf("auth/start answered %s", r.Body)
	}
	if es := s.entries(audit.EventPasskeyRegistered, "bob"); len(es) != 2 {
		t.Errorf("%d registration entries, want 2", len(es))
	}

	// A registration answer used twice, or without UV, is refused.
	r = post(t, s.URL+"/webauthn/register/start", map[string]any{"user_id": "carol"})
	o, _ := passkeytest.ParseOptions(r.Body)
	a := passkeytest.New(testRPID, testOrigin)
	cred := a.Register(o)
	r = post(t, s.URL+"/webauthn/register/finish", map[string]any{"user_id": "carol", "credential": cred})
	if r.Status != 200 {
		t.Fatalf("register/finish: %d %s", r.Status, r.Body)
	}
	r = post(t, s.URL+"/webauthn/register/finish", map[string]any{"user_id": "carol", "credential": cred})
	wantProblem(t, r, 401, "unauthorized")
	r = post(t, s.URL+"/webauthn/register/start", map[string]any{"user_id": "carol"})
	o, _ = passkeytest.ParseOptions(r.Body)
	b := passkeytest.New(testRPID, testOrigin)
	b.Flags = passkeytest.FlagUP
	r = post(t, s.URL+"/webauthn/register/finish", map[string]any{"user_id": "carol", "credential": b.Register(o)})
	wantProblem(t, r, 401, "unauthorized")
	r = post(t, s.URL+"/webauthn/auth/start", map[string]any{"user_id": "nobody", "action": "a"})
	wantProblem(t, r, 400, "invalid_request")
}

func TestPasskeysOff(t *testing.T) {
	s := startServer(t, serverOpts{})
	r := post(t, s.URL+"/webauthn/register/start", map[string]any{"user_id": "a"})
	wantProblem(t, r, 404, "not_found")
	for _, args := range [][]string{
		{"--webauthn-rp-id", "localhost"},
		{"--webauthn-rp-id", "example.com", "--webauthn-rp-origin", "https://evil.com"},
		{"--webauthn-rp-id", "example.com", "--webauthn-rp-origin", "http://example.com"},
	} {
		var out bytes.Buffer
		full := append([]string{"serve", "--data-dir", t.TempDir(), "--addr", "127.0.0.1:0"}, args...)
		if code := Main(context.Background(), full, &out, &out); code == 0 {
			t.Errorf("serve %v started", args)
		}
	}
}

func TestPasskeyReplay(t *testing.T) {
	s := startPasskeyServer(t)
	a := s.register("alice")

	// 1. The same assertion twice: the challenge is gone after the first.
	o := s.begin(map[string]any{"user_id": "alice", "action": "deploy:prod:api:v2.1.0"})
	cred := a.Assert(o)
	if r := s.finish("alice", cred); r.Status != 200 {
		t.Fatalf("first finish: %d %s", r.Status, r.Body)
	}
	wantProblem(t, s.finish("alice", cred), 401, "unauthorized")

	// 2. Fifty at once: exactly one token.
	o = s.begin(map[string]any{"user_id": "alice", "action": "deploy:prod:api:v2.1.0"})
	cred = a.Assert(o)
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := s.finish("alice", cred)
			mu.Lock()
			statuses[r.Status]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if statuses[200] != 1 || statuses[401] != 49 {
		t.Errorf("statuses %v, want one 200 and 49 401s", statuses)
	}
	// Replays are not failures on a live challenge: nothing counted.
	if n := s.failures("alice"); n != 0 {
		t.Errorf("%d failures counted for replays", n)
	}
}

// TestPasskeyRefusals runs each way an assertion can be wrong, and checks
// whether it counts toward the lockout.
func TestPasskeyRefusals(t *testing.T) {
	s := startPasskeyServer(t)
	const user = "alice"
	a := s.register(user)
	bob := s.register("bob")
	start := func() passkeytest.Options {
		return s.begin(map[string]any{"user_id": user, "action": "delete:user:789"})
	}
	tests := []struct {
		name    string
		run     func() *response
		status  int
		counted bool
	}{
		{"another user's challenge", func() *response {
			return s.finish("bob", bob.Assert(start()))
		}, 401, false},
		{"another user's credential", func() *response {
			return s.finish(user, bob.Assert(start()))
		}, 401, true},
		{"wrong origin", func() *response {
			defer func(o string) { a.Origin = o }(a.Origin)
			a.Origin = "http://evil.localhost:3000"
			return s.finish(user, a.Assert(start()))
		}, 401, true},
		{"wrong RP ID", func() *response {
			defer func(id string) { a.RPID = id }(a.RPID)
			a.RPID = "evil.com"
			return s.finish(user, a.Assert(start()))
		}, 401, true},
		{"user not verified", func() *response {
			defer func(f byte) { a.Flags = f }(a.Flags)
			a.Flags = passkeytest.FlagUP
			return s.finish(user, a.Assert(start()))
		}, 401, true},
		{"expired challenge", func() *response {
			o := start()
			s.clock.Advance(passkey.ChallengeTTL)
			return s.finish(user, a.Assert(o))
		}, 401, false},
		{"action named at finish differs", func() *response {
			return s.finish(user, a.Assert(start()), "action", "delete:user:790")
		}, 401, true},
		{"signed a request the server never issued", func() *response {
			start()
			other := sha256.Sum256([]byte(`{"action":"delete:user:790"}`))
			return s.finish(user, a.AssertChallenge(other[:]))
		}, 401, false},
		{"stored request changed after start", func() *response {
			o := start()
			tamperStoredAction(t, s.DataDir, "delete:user:789", "delete:user:790")
			return s.finish(user, a.Assert(o))
		}, 401, true},
		{"counter went backwards", func() *response {
			s.approve(a, user, "delete:user:789")
			defer func(c uint32) { a.Counter = c }(a.Counter)
			a.Counter -= 2
			return s.finish(user, a.Assert(start()))
		}, 401, true},
		{"malformed credential", func() *response {
			start()
			return s.finish(user, json.RawMessage(`{"id":"AAAA","type":"public-key"}`))
		}, 400, false},
		{"credential not JSON", func() *response {
			return do(t, "POST", s.URL+"/webauthn/auth/finish",
				`{"user_id":"alice","credential":{"id":`)
		}, 400, false},
		{"unknown user", func() *response {
			return s.finish("mallory", a.Assert(start()))
		}, 400, false},
	}
	counted := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Stay clear of the start rate limit and the lockout: a minute
			// refills the one, a success clears the other.
			s.clock.Advance(time.Minute)
			s.approve(a, user, "reset:failures")
			r := tt.run()
			if r.Status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tt.status, r.Body)
			}
			if tt.counted {
				counted++
			}
			if got := s.failures(user); got != counted {
				t.Errorf("%d failures recorded, want %d", got, counted)
			}
		})
	}
	if !strings.Contains(s.Stderr.String(), "possible cloned authenticator") {
		t.Error("counter regression was not logged")
	}
}

// tamperStoredAction rewrites the action of the pending approval requests
// in the database, as someone with write access to it could.
func tamperStoredAction(t *testing.T, dataDir, from, to string) {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dataDir, "agentmint.db")+
		"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, err = db.Exec(`UPDATE passkey_challenges SET request =
		CAST(replace(CAST(request AS TEXT), ?, ?) AS BLOB)`, from, to)
	if err != nil {
		t.Fatal(err)
	}
}

func TestPasskeyLockout(t *testing.T) {
	s := startPasskeyServer(t)
	const user = "alice"
	a := s.register(user)
	// Each step moves the clock on a little, to stay clear of the start
	// rate limit.
	failOnce := func() *response {
		s.clock.Advance(7 * time.Second)
		o := s.begin(map[string]any{"user_id": user, "action": "export:users:csv"})
		defer func(f byte) { a.Flags = f }(a.Flags)
		a.Flags = passkeytest.FlagUP
		return s.finish(user, a.Assert(o))
	}
	approve := func() {
		s.clock.Advance(7 * time.Second)
		s.approve(a, user, "export:users:csv")
	}
	startStatus := func() *response {
		return post(t, s.URL+"/webauthn/auth/start", map[string]any{"user_id": user, "action": "a"})
	}

	// 1. Exactly five failures lock; each of them is a 401.
	pending := s.begin(map[string]any{"user_id": user, "action": "export:users:csv"})
	for i := range passkey.MaxFailures {
		wantProblem(t, failOnce(), 401, "unauthorized")
		if r := startStatus(); i < passkey.MaxFailures-1 && r.Status != 200 {
			t.Fatalf("locked after %d failures: %d %s", i+1, r.Status, r.Body)
		}
	}

	// 2. Locked: start and finish are 429 with Retry-After, even with a
	// valid assertion on a challenge begun before.
	r := startStatus()
	wantProblem(t, r, 429, "rate_limited")
	if ra := r.Header.Get("Retry-After"); ra != "900" {
		t.Errorf("Retry-After %q, want 900", ra)
	}
	wantProblem(t, s.finish(user, a.Assert(pending)), 429, "rate_limited")
	if n := len(s.entries(audit.EventPasskeyLockout, user)); n != 1 {
		t.Errorf("%d lockout entries, want 1", n)
	}

	// 3. Released after 15 minutes; a success resets the count.
	s.clock.Advance(passkey.LockoutDuration)
	approve()
	for range passkey.MaxFailures - 1 {
		failOnce()
	}
	approve()
	failOnce()
	approve()

	// 4. Locked again, then unlocked by an operator.
	for range passkey.MaxFailures {
		failOnce()
	}
	wantProblem(t, startStatus(), 429, "rate_limited")
	var out bytes.Buffer
	code := Main(context.Background(), []string{"passkey", "unlock", "--user", user,
		"--data-dir", s.DataDir}, &out, &out)
	if code != 0 || out.String() != "unlocked alice\n" {
		t.Fatalf("unlock: %d %s", code, out.String())
	}
	approve()
	if n := len(s.entries(audit.EventPasskeyUnlocked, user)); n != 1 {
		t.Errorf("%d unlock entries, want 1", n)
	}
}

func TestPasskeyStartRateLimit(t *testing.T) {
	s := startPasskeyServer(t)
	s.register("alice")
	s.clock.Advance(time.Minute) // registering took a token
	body := map[string]any{"user_id": "alice", "action": "a"}
	for i := range passkey.DefaultUserLimit.Burst {
		if r := post(t, s.URL+"/webauthn/auth/start", body); r.Status != 200 {
			t.Fatalf("start %d: %d %s", i, r.Status, r.Body)
		}
	}
	r := post(t, s.URL+"/webauthn/auth/start", body)
	wantProblem(t, r, 429, "rate_limited")
	if r.Header.Get("Retry-After") != "6" {
		t.Errorf("Retry-After %q, want 6", r.Header.Get("Retry-After"))
	}
	s.clock.Advance(passkey.DefaultUserLimit.Every)
	if r := post(t, s.URL+"/webauthn/auth/start", body); r.Status != 200 {
		t.Errorf("after the refill: %d %s", r.Status, r.Body)
	}
}

func TestPasskeyPage(t *testing.T) {
	s := startPasskeyServer(t)
	r := do(t, "GET", s.URL+"/webauthn/", "")
	if r.Status != 200 || !strings.Contains(string(r.Body), `<script src="app.js" defer>`) {
		t.Fatalf("page: %d %s", r.Status, r.Body)
	}
	csp := r.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
		t.Errorf("CSP %q", csp)
	}
	// No inline script or handler for the CSP to block.
	if regexp.MustCompile(`<script>|<script [^>]*>[^<]|\son[a-z]+=`).Match(r.Body) {
		t.Error("page has inline script")
	}
	r = do(t, "GET", s.URL+"/webauthn/app.js", "")
	if r.Status != 200 || !strings.Contains(r.Header.Get("Content-Type"), "javascript") {
		t.Errorf("app.js: %d %s", r.Status, r.Header.Get("Content-Type"))
	}
}

// TestPasskeyStartsNeedMinter: once callers exist, only a minter may start
// a registration or an approval; the finishes, which the person's browser
// calls, need no key.
func TestPasskeyStartsNeedMinter(t *testing.T) {
	s := startPasskeyServer(t)
	minter := s.addCaller(t, "backend", "minter")
	verifier := s.addCaller(t, "gateway", "verifier")
	for _, path := range []string{"/webauthn/register/start", "/webauthn/auth/start"} {
		body := `{"user_id":"alice@company.com","user_name":"alice","action":"delete:user:789"}`
		if path == "/webauthn/register/start" {
			body = `{"user_id":"alice@company.com","user_name":"alice"}`
		}
		wantProblem(t, do(t, "POST", s.URL+path, body), 401, "unauthorized")
		wantProblem(t, do(t, "POST", s.URL+path, body, bearer(verifier)...), 403, "forbidden")
		r := do(t, "POST", s.URL+path, body, bearer(minter)...)
		if r.Status == 401 || r.Status == 403 {
			t.Errorf("%s as minter: %d %s", path, r.Status, r.Body)
		}
	}
	for _, path := range []string{"/webauthn/register/finish", "/webauthn/auth/finish"} {
		r := do(t, "POST", s.URL+path, `{"user_id":"alice@company.com","credential":{}}`)
		if r.Status == 401 && strings.Contains(string(r.Body), "API key") {
			t.Errorf("%s asked the browser for an API key: %s", path, r.Body)
		}
	}
}
