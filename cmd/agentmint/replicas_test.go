package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentmint/agentmint/internal/audit"
	"github.com/agentmint/agentmint/internal/ledger"
	"github.com/agentmint/agentmint/internal/postgres"
	"github.com/agentmint/agentmint/internal/postgres/pgtest"
)

// startReplica starts a server on PostgreSQL with a key directory shared
// with the other replicas.
func startReplica(t *testing.T, db, keysDir string) *testServer {
	t.Helper()
	return startServer(t, serverOpts{args: []string{
		"--database", db, "--keys-dir", keysDir,
	}})
}

// TestReplicasShareOneLedger presents each of 20 tokens 20 times at once,
// split across two replicas of one database: exactly one presentation of
// each is accepted, and the audit log holds exactly the 20 verifications,
// indexed without gaps.
func TestReplicasShareOneLedger(t *testing.T) {
	db := pgtest.FreshDatabase(t)
	keysDir := filepath.Join(t.TempDir(), "keys")
	a := startReplica(t, db, keysDir)
	b := startReplica(t, db, keysDir)

	var toks []string
	for i := range 20 {
		minter := a
		if i%2 == 1 {
			minter = b
		}
		tok, _ := minter.mint(t, "alice@company.com", "deploy:prod:api:v2.1.0")
		toks = append(toks, tok)
	}

	var mu sync.Mutex
	counts := map[int]int{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, tok := range toks {
		for j := range 20 {
			replica := a
			if (i+j)%2 == 1 {
				replica = b
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				res, err := http.Post(replica.URL+"/proxy", "application/json",
					strings.NewReader(`{"token":"`+tok+`"}`))
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				mu.Lock()
				counts[res.StatusCode]++
				mu.Unlock()
			}()
		}
	}
	close(start)
	wg.Wait()
	if counts[200] != 20 || counts[409] != 380 || len(counts) != 2 {
		t.Fatalf("statuses %v, want 20 × 200 and 380 × 409", counts)
	}

	s, err := postgres.Open(context.Background(), db, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	es, err := s.Entries(context.Background(), ledger.Filter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	verified := 0
	for i, e := range es {
		if want := int64(len(es) - 1 - i); e.Index != want {
			t.Fatalf("entry %d has index %d, want %d: a gap", i, e.Index, want)
		}
		if e.Event == audit.EventVerified {
			verified++
		}
	}
	if verified != 20 {
		t.Errorf("audit log holds %d verifications, want 20", verified)
	}
}

// tcpProxy forwards connections to a target until it is cut, which closes
// every connection and refuses new ones, as a failed network would.
type tcpProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  []net.Conn
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); p.setCut(true) })
	go p.serve()
	return p
}

func (p *tcpProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go func() { io.Copy(up, c); up.Close() }()
		go func() { io.Copy(c, up); c.Close() }()
	}
}

func (p *tcpProxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for _, c := range p.conns {
			c.Close()
		}
		p.conns = nil
	}
}

// TestDatabaseLossFailsClosed cuts the replica's path to the database: a
// valid token is refused with 503 within a bounded time, /ready says so,
// and once the path is back the replica recovers by itself and the same
// token, never consumed, verifies.
func TestDatabaseLossFailsClosed(t *testing.T) {
	db := pgtest.FreshDatabase(t)
	u, err := url.Parse(db)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newTCPProxy(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	s := startReplica(t, u.String(), filepath.Join(t.TempDir(), "keys"))
	tok, _ := s.mint(t, "alice@company.com", "delete:user:789")

	proxy.setCut(true)
	start := time.Now()
	wantProblem(t, s.proxy(t, tok), 503, "unavailable")
	if d := time.Since(start); d > 12*time.Second {
		t.Errorf("503 took %v", d)
	}
	if r := do(t, "GET", s.URL+"/ready", ""); r.Status != 503 {
		t.Errorf("/ready while cut: %d", r.Status)
	}

	proxy.setCut(false)
	deadline := time.Now().Add(20 * time.Second)
	for do(t, "GET", s.URL+"/ready", "").Status != 200 {
		if time.Now().After(deadline) {
			t.Fatal("replica did not recover within 20 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if r := s.proxy(t, tok); r.Status != 200 {
		t.Fatalf("token after recovery: %d %s", r.Status, r.Body)
	}
}

// TestAdminCommandsOnPostgres runs the operator's commands against a
// PostgreSQL deployment: a caller added with --database is known to every
// replica at once, and audit verify checks the shared log.
func TestAdminCommandsOnPostgres(t *testing.T) {
	db := pgtest.FreshDatabase(t)
	dir := t.TempDir()
	keysDir := filepath.Join(dir, "keys")
	auditKeys := filepath.Join(dir, "audit-keys")
	args := []string{"--database", db, "--keys-dir", keysDir,
		"--audit-key-dir", auditKeys, "--checkpoint-interval", "100ms"}
	a := startServer(t, serverOpts{args: args})
	b := startServer(t, serverOpts{args: args})

	run := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if code := Main(context.Background(), args, &out, &out); code != 0 {
			t.Fatalf("agentmint %v: exit %d\n%s", args, code, out.String())
		}
		return out.String()
	}
	key := func(out string) string {
		t.Helper()
		k := regexp.MustCompile(`am_[A-Za-z0-9_-]+`).FindString(out)
		if k == "" {
			t.Fatalf("no key printed: %s", out)
		}
		return k
	}
	minter := key(run("callers", "add", "--database", db, "--name", "backend", "--role", "minter"))
	verifier := key(run("callers", "add", "--database", db, "--name", "gateway", "--role", "verifier"))

	// Both replicas now require keys, and know both callers.
	wantProblem(t, post(t, a.URL+"/mint", map[string]any{"sub": "a", "action": "b"}), 401, "unauthorized")
	r := do(t, "POST", a.URL+"/mint", `{"sub":"alice@company.com","action":"export:users:csv"}`,
		"Authorization", "Bearer "+minter)
	if r.Status != 200 {
		t.Fatalf("mint with key on A: %d %s", r.Status, r.Body)
	}
	tok := r.JSON(t)["token"].(string)
	r = do(t, "POST", b.URL+"/proxy", `{"token":"`+tok+`"}`, "Authorization", "Bearer "+verifier)
	if r.Status != 200 || r.JSON(t)["minted_by"] != "backend" {
		t.Fatalf("proxy with key on B: %d %s", r.Status, r.Body)
	}

	// A revocation through the database reaches both replicas.
	run("callers", "revoke", "--database", db, "--name", "backend")
	for _, s := range []*testServer{a, b} {
		r := do(t, "POST", s.URL+"/mint", `{"sub":"a","action":"b"}`, "Authorization", "Bearer "+minter)
		wantProblem(t, r, 401, "unauthorized")
	}

	// The shared log verifies, whether or not a checkpoint covers it yet.
	out := run("audit", "verify", "--database", db,
		"--key", filepath.Join(auditKeys, "checkpoint-key.pub"))
	if !strings.Contains(out, "audit log verified") {
		t.Errorf("audit verify: %s", out)
	}
}
