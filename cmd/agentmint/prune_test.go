package main

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/agentmint/agentmint/internal/ledger"
	"github.com/agentmint/agentmint/token"
)

// consumedJTIs counts the ledger's consumed jtis in the SQLite file.
func consumedJTIs(t *testing.T, dataDir string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, "agentmint.db")+
		"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM used_jti`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// mintAndPresent mints n tokens that live ttl seconds and presents each.
func mintAndPresent(t *testing.T, url string, n, ttl int) []string {
	t.Helper()
	var toks []string
	for i := range n {
		m := post(t, url+"/mint", map[string]any{"sub": "alice@company.com",
			"action": fmt.Sprintf("refund:order:%d", i), "ttl_seconds": ttl}).JSON(t)
		tok := m["token"].(string)
		if r := post(t, url+"/proxy", map[string]any{"token": tok}); r.Status != 200 {
			t.Fatalf("/proxy: %d %s", r.Status, r.Body)
		}
		toks = append(toks, tok)
	}
	return toks
}

// The ledger stays flat: a consumed jti is kept while its token could
// still verify anywhere, then the server's periodic prune, on the
// server's clock, removes it; a pruned token is still refused, as expired.
func TestLedgerIsPrunedOnTheServersClock(t *testing.T) {
	clock := newFakeClock()
	s := startServer(t, serverOpts{now: clock.Now, prune: 20 * time.Millisecond})

	old := mintAndPresent(t, s.URL, 20, 1)
	if n := consumedJTIs(t, s.DataDir); n != 20 {
		t.Fatalf("%d consumed jtis, want 20", n)
	}

	// Just short of the margin the jtis are kept.
	clock.Advance(time.Second + token.Leeway + ledger.PruneMargin - 2*time.Second)
	time.Sleep(200 * time.Millisecond) // several prune rounds
	if n := consumedJTIs(t, s.DataDir); n != 20 {
		t.Fatalf("%d consumed jtis before the margin passed, want 20", n)
	}

	// Past it, they go, and only the newer ones stay.
	clock.Advance(3 * time.Second)
	mintAndPresent(t, s.URL, 5, 300)
	deadline := time.Now().Add(10 * time.Second)
	for consumedJTIs(t, s.DataDir) != 5 {
		if time.Now().After(deadline) {
			t.Fatalf("%d consumed jtis 10 s after the margin passed, want 5",
				consumedJTIs(t, s.DataDir))
		}
		time.Sleep(20 * time.Millisecond)
	}
	r := post(t, s.URL+"/proxy", map[string]any{"token": old[0]})
	wantProblem(t, r, 401, "token_expired")
}
