package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentmint/agentmint/internal/audit"
	"github.com/agentmint/agentmint/internal/auditlog"
	"github.com/agentmint/agentmint/internal/httpapi"
	"golang.org/x/mod/sumdb/tlog"
)

// runMain runs the agentmint command line and returns its exit code and
// output.
func runMain(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out, errs bytes.Buffer
	code := Main(context.Background(), args, &out, &errs)
	return code, out.String() + errs.String()
}

// fillLog mints and verifies n tokens on s.
func fillLog(t *testing.T, s *testServer, n int) {
	t.Helper()
	for i := range n {
		tok, _ := s.mint(t, fmt.Sprintf("user%d@company.com", i),
			"deploy:prod:api:v2.1.0")
		if r := s.proxy(t, tok); r.Status != 200 {
			t.Fatalf("proxy: %d %s", r.Status, r.Body)
		}
	}
}

// verifyingKey returns the checkpoint verifier of a server.
func verifyingKey(t *testing.T, s *testServer) *audit.Verifier {
	t.Helper()
	r := do(t, "GET", s.URL+"/audit/key", "")
	v, err := audit.NewVerifier(strings.TrimSpace(string(r.Body)))
	if err != nil {
		t.Fatalf("GET /audit/key: %v: %s", err, r.Body)
	}
	return v
}

func TestAuditEndpoints(t *testing.T) {
	s := startServer(t, serverOpts{args: []string{
		"--checkpoint-interval", "100ms", "--checkpoint-entries", "1"}})
	fillLog(t, s, 3)
	tok, _ := s.mint(t, "alice@company.com", "refund:order:1")
	s.proxy(t, tok)
	wantProblem(t, s.proxy(t, tok), 409, "token_used")
	wantProblem(t, s.proxy(t, "garbage"), 401, "invalid_token")
	// key_rotated, then 4 mints and verifications, a replay, garbage.
	const size = 1 + 8 + 2

	// 1. GET /audit keeps its shape; filters and paging.
	var recs []httpapi.AuditRecord
	r := do(t, "GET", s.URL+"/audit?limit=2", "")
	if err := json.Unmarshal(r.Body, &recs); err != nil || len(recs) != 2 {
		t.Fatalf("GET /audit: %d %s", r.Status, r.Body)
	}
	if recs[0].Sub != "alice@company.com" || recs[0].VerifiedAt == "" {
		t.Errorf("newest record %+v", recs[0])
	}
	next := r.Header.Get("X-Next-Cursor")
	if next == "" || !strings.Contains(r.Header.Get("Link"), "cursor="+next) {
		t.Fatalf("no next cursor: %v", r.Header)
	}
	r = do(t, "GET", s.URL+"/audit?limit=2&cursor="+next, "")
	json.Unmarshal(r.Body, &recs)
	if len(recs) != 2 || recs[0].Sub != "user1@company.com" {
		t.Errorf("second page %s", r.Body)
	}
	r = do(t, "GET", s.URL+"/audit?sub=user1@company.com", "")
	json.Unmarshal(r.Body, &recs)
	if len(recs) != 1 || recs[0].Sub != "user1@company.com" {
		t.Errorf("sub filter: %s", r.Body)
	}

	// 2. With an event filter, every field.
	var evs []httpapi.AuditEvent
	r = do(t, "GET", s.URL+"/audit?event=rejected", "")
	if err := json.Unmarshal(r.Body, &evs); err != nil || len(evs) != 2 {
		t.Fatalf("rejected events: %s", r.Body)
	}
	if evs[0].Reason != "malformed" || evs[1].Reason != "replay" ||
		evs[1].JTI == "" || evs[1].Sub != "alice@company.com" {
		t.Errorf("rejected events %+v", evs)
	}
	r = do(t, "GET", s.URL+"/audit?event=minted&since=2000-01-01T00:00:00Z"+
		"&until=2999-01-01T00:00:00Z&action=refund:order:1", "")
	json.Unmarshal(r.Body, &evs)
	if len(evs) != 1 || evs[0].Event != "minted" {
		t.Errorf("minted events %s", r.Body)
	}

	// 3. The checkpoint, and a proof of each entry against it.
	v := verifyingKey(t, s)
	var c audit.Checkpoint
	waitFor(t, func() bool {
		r = do(t, "GET", s.URL+"/audit/checkpoint", "")
		var err error
		c, err = audit.ParseCheckpoint(r.Body, v)
		return err == nil && c.Size == size
	})
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("checkpoint Content-Type %q", ct)
	}
	for i := range int64(size) {
		r = do(t, "GET", fmt.Sprintf("%s/audit/entries/%d", s.URL, i), "")
		var p httpapi.EntryProof
		if err := json.Unmarshal(r.Body, &p); err != nil {
			t.Fatalf("entry %d: %v %s", i, err, r.Body)
		}
		if err := audit.VerifyExportLine(p.ExportLine, c); err != nil {
			t.Errorf("entry %d: %v", i, err)
		}
	}

	// 4. Consistency between an earlier size and the checkpoint.
	r = do(t, "GET", fmt.Sprintf("%s/audit/consistency?from=3&to=%d",
		s.URL, size), "")
	var cp httpapi.ConsistencyProof
	if err := json.Unmarshal(r.Body, &cp); err != nil {
		t.Fatalf("consistency: %s", r.Body)
	}
	var entries []audit.Entry
	json.Unmarshal(do(t, "GET", s.URL+"/audit/entries?from=0&limit=3",
		"").Body, &entries)
	tree, err := audit.BuildTree(entries)
	if err != nil {
		t.Fatal(err)
	}
	root3, _ := audit.TreeHash(3, tree)
	if err := audit.CheckConsistency(tlog.TreeProof(cp.Proof), 3, root3,
		size, c.Root); err != nil {
		t.Error(err)
	}

	// 5. Errors.
	for _, path := range []string{
		"/audit?limit=0", "/audit?since=yesterday", "/audit?event=Bad",
		"/audit?cursor=-1", "/audit?colour=red", "/audit?limit=1&limit=2",
		"/audit/entries/x", "/audit/entries/01", "/audit/consistency?from=0&to=3",
		"/audit/consistency?from=4&to=3", "/audit/consistency?from=1",
	} {
		wantProblem(t, do(t, "GET", s.URL+path, ""), 400, "invalid_request")
	}
	for _, path := range []string{"/audit/entries/9999",
		"/audit/consistency?from=1&to=9999"} {
		wantProblem(t, do(t, "GET", s.URL+path, ""), 404, "not_found")
	}

	// 6. The whole log verifies through the API.
	if code, out := runMain(t, "audit", "verify", "--url", s.URL); code != 0 {
		t.Errorf("audit verify --url = %d: %s", code, out)
	}
}

// TestRejectionsBounded floods /proxy with garbage: only a burst of
// rejections gets entries, the rest are counted in one summary entry.
func TestRejectionsBounded(t *testing.T) {
	clock := newFakeClock()
	s := startServer(t, serverOpts{now: clock.Now, args: []string{
		"--audit-reject-rate", "1", "--audit-reject-burst", "3"}})
	for range 20 {
		s.proxy(t, "garbage")
	}
	m := do(t, "GET", s.URL+"/metrics", "")
	want := `agentmint_audit_rejections_dropped_total{reason="malformed"} 17`
	if !bytes.Contains(m.Body, []byte(want)) {
		t.Errorf("metrics lack %s", want)
	}
	s.Stop() // flushes the summary
	s = startServer(t, serverOpts{dataDir: s.DataDir})
	var evs []httpapi.AuditEvent
	json.Unmarshal(do(t, "GET", s.URL+"/audit?event=rejected", "").Body, &evs)
	if len(evs) != 3 {
		t.Errorf("%d rejected entries, want 3", len(evs))
	}
	json.Unmarshal(do(t, "GET", s.URL+"/audit?event=rejections_dropped",
		"").Body, &evs)
	if len(evs) != 1 || string(evs[0].Evidence) != `{"malformed":17}` {
		t.Errorf("summary entries %+v, want one counting 17", evs)
	}
}

// waitFor polls cond until it holds or 10 s have passed.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for range 200 {
		if cond() {
			return
		}
		sleep()
	}
	t.Fatal("condition not met in 10s")
}

// copyDB copies the SQLite files of one data directory into another,
// with the audit directory.
func copyDataDir(t *testing.T, from, to string) {
	t.Helper()
	for _, name := range []string{"agentmint.db", "agentmint.db-wal",
		"agentmint.db-shm", "audit/" + auditlog.VerifierFile,
		"audit/" + auditlog.MirrorFile} {
		b, err := os.ReadFile(filepath.Join(from, name))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Dir(filepath.Join(to, name)), 0o700)
		if err := os.WriteFile(filepath.Join(to, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// execSQL runs statements on a data directory's database.
func execSQL(t *testing.T, dir string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, "agentmint.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func TestAuditVerifyTampered(t *testing.T) {
	// A log of 1 + 2*10 entries, with checkpoints, and a copy of it from
	// before the last 4 entries, with its older checkpoint.
	s := startServer(t, serverOpts{args: []string{"--checkpoint-entries", "1"}})
	fillLog(t, s, 8)
	s.Stop()
	old := t.TempDir()
	copyDataDir(t, s.DataDir, old)
	s = startServer(t, serverOpts{dataDir: s.DataDir})
	fillLog(t, s, 2)
	s.Stop()
	const last = 20

	tests := []struct {
		name   string
		tamper func(dir string)
		want   string // "" for a log that verifies
	}{
		{"untouched", func(string) {}, ""},
		{"changed field", func(dir string) {
			execSQL(t, dir, `UPDATE audit_entries SET sub = 'mallory' WHERE idx = 5`)
		}, "entry 5: leaf hash does not match stored tree"},
		{"last deleted", func(dir string) {
			execSQL(t, dir, fmt.Sprintf(`DELETE FROM audit_entries WHERE idx = %d`, last))
		}, fmt.Sprintf("entry %d: missing from the log", last)},
		{"middle deleted", func(dir string) {
			execSQL(t, dir, `DELETE FROM audit_entries WHERE idx = 10`)
		}, "entry 10: out of sequence: found index 11 in its place"},
		{"swapped", func(dir string) {
			execSQL(t, dir,
				`UPDATE audit_entries SET idx = -1 WHERE idx = 3`,
				`UPDATE audit_entries SET idx = 3 WHERE idx = 4`,
				`UPDATE audit_entries SET idx = 4 WHERE idx = -1`)
		}, "entry 3: leaf hash does not match stored tree"},
		{"rolled back", func(dir string) {
			for _, n := range []string{"agentmint.db", "agentmint.db-wal", "agentmint.db-shm"} {
				os.Remove(filepath.Join(dir, n))
			}
			b, err := os.ReadFile(filepath.Join(old, "agentmint.db"))
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, "agentmint.db"), b, 0o600)
		}, fmt.Sprintf("(size %d): log has only 17 entries: truncated, "+
			"or rolled back to an older copy [checkpoint from ", last+1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			copyDataDir(t, s.DataDir, dir)
			tc.tamper(dir)
			code, out := runMain(t, "audit", "verify", "--data-dir", dir)
			if tc.want == "" {
				if code != 0 || !strings.Contains(out, "21 entries") {
					t.Errorf("verify = %d: %s", code, out)
				}
				return
			}
			if code != 1 || !strings.Contains(out, tc.want) {
				t.Errorf("verify = %d: %s\nwant exit 1 naming %q", code, out, tc.want)
			}
		})
	}
}

func sleep() { time.Sleep(50 * time.Millisecond) }
