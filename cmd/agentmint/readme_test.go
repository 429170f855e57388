package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// readmeBlocks returns the fenced code blocks of lang in the README section
// that starts with heading, in order.
func readmeBlocks(t *testing.T, heading, lang string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	var cur *strings.Builder
	in := false
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case cur != nil && line == "```":
			blocks = append(blocks, cur.String())
			cur = nil
		case cur != nil:
			cur.WriteString(line + "\n")
		case strings.HasPrefix(line, "## "):
			in = line == heading
		case in && line == "```"+lang:
			cur = &strings.Builder{}
		}
	}
	if len(blocks) == 0 {
		t.Fatalf("README has no %s blocks under %q", lang, heading)
	}
	return blocks
}

// localize points a README snippet at the test server.
func localize(snippet, url string) string {
	return strings.ReplaceAll(snippet, "http://localhost:3000", url)
}

// TestReadmeWalkthrough runs the curl commands of the README's demo, as
// printed, against a real server; only the address and the token a reader
// would paste are filled in.
func TestReadmeWalkthrough(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	s := startServer(t, serverOpts{})
	steps := readmeBlocks(t, "## Demo", "bash")
	if len(steps) != 4 {
		t.Fatalf("demo has %d bash steps, want 4", len(steps))
	}
	run := func(snippet string) string {
		t.Helper()
		out, err := exec.Command("bash", "-euc", localize(snippet, s.URL)).Output()
		if err != nil {
			t.Fatalf("%s\n%v", snippet, err)
		}
		return string(out)
	}

	// 1. Mint.
	var minted struct{ Token, JTI string }
	if err := json.Unmarshal([]byte(run(steps[0])), &minted); err != nil || minted.Token == "" {
		t.Fatalf("step 1 did not print a token: %v", err)
	}
	// 2. Verify: the reader pastes the token.
	out := run(strings.ReplaceAll(steps[1], "<token from step 1>", minted.Token))
	if !strings.Contains(out, `"sub":"alice@company.com"`) {
		t.Errorf("step 2 printed %s", out)
	}
	// 3. Replay.
	out = run(strings.ReplaceAll(steps[2], "<same token>", minted.Token))
	if !strings.Contains(out, "token already used") {
		t.Errorf("step 3 printed %s", out)
	}
	// 4. Audit.
	var audit []map[string]string
	if err := json.Unmarshal([]byte(run(steps[3])), &audit); err != nil {
		t.Fatal(err)
	}
	if len(audit) != 1 || audit[0]["jti"] != minted.JTI ||
		audit[0]["action"] != "refund:order:123:amount:50" {
		t.Errorf("step 4 printed %v", audit)
	}
}

// TestReadmePython runs the README's Python snippet against a real server.
func TestReadmePython(t *testing.T) {
	python := ""
	for _, p := range []string{"python3", "/usr/bin/python3"} {
		if exec.Command(p, "-c", "import requests").Run() == nil {
			python = p
			break
		}
	}
	if python == "" {
		t.Skip("no python3 with the requests package; .ci/run installs one")
	}
	s := startServer(t, serverOpts{})
	code := readmeBlocks(t, "## Integration (Python)", "python")[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, python, "-c", localize(code, s.URL)).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	if string(out) != "Approved by: alice@company.com\n" {
		t.Errorf("python printed %q", out)
	}
}

// TestReadmeQuickStart checks the README's start command and banner
// against the binary.
func TestReadmeQuickStart(t *testing.T) {
	blocks := readmeBlocks(t, "## Quick start", "bash")
	if blocks[0] != "go run ./cmd/agentmint serve\n" {
		t.Errorf("start command is %q", blocks[0])
	}
	if blocks[1] != "go test ./...\n" {
		t.Errorf("test command is %q", blocks[1])
	}
	b, _ := os.ReadFile(filepath.Join("..", "..", "README.md"))
	s := startServer(t, serverOpts{})
	banner := regexp.MustCompile(`http://[0-9.:]+`).ReplaceAllString(s.Stdout.String(), "http://0.0.0.0:3000")
	if !strings.Contains(string(b), banner) {
		t.Errorf("README does not show the banner the server prints:\n%s", banner)
	}
}
