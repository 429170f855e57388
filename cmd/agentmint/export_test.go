package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestAuditExportChecksWithoutAgentMint exports a real log and checks it
// with the standalone script of docs/, as an auditor would; a tampered
// export fails the check, also under python -O.
func TestAuditExportChecksWithoutAgentMint(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not installed")
	}
	s := startServer(t, serverOpts{})
	for _, a := range []string{"export:users:csv", "delete:user:789", "deploy:prod:api:v2.1.0"} {
		tok, _ := s.mint(t, "alice@company.com", a)
		if r := s.proxy(t, tok); r.Status != 200 {
			t.Fatalf("proxy: %d", r.Status)
		}
	}
	s.Stop() // signs a last checkpoint over every entry

	out := filepath.Join(t.TempDir(), "export")
	var buf bytes.Buffer
	if code := Main(context.Background(), []string{"audit", "export",
		"--data-dir", s.DataDir, "--out", out}, &buf, &buf); code != 0 {
		t.Fatalf("audit export: %d %s", code, buf.String())
	}
	script := filepath.Join("..", "..", "docs", "checkexport.py")
	if b, err := exec.Command("python3", script, out).CombinedOutput(); err != nil ||
		!strings.Contains(string(b), "entries are in the tree") {
		t.Fatalf("checkexport on the export: %v\n%s", err, b)
	}

	// Change the action of one entry: the check fails, even with -O.
	path := filepath.Join(out, "entries.jsonl")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	forged := strings.Replace(string(data), "delete:user:789", "delete:user:790", 1)
	if forged == string(data) {
		t.Fatal("the export does not hold the action to change")
	}
	if err := os.WriteFile(path, []byte(forged), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{script, out}, {"-O", script, out}} {
		b, err := exec.Command("python3", args...).CombinedOutput()
		if err == nil || !strings.Contains(string(b), "leaf hash") {
			t.Errorf("python3 %v on a tampered export: %v\n%s", args, err, b)
		}
	}
}
