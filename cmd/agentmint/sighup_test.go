package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agentmint/agentmint/internal/keys"
)

// TestSIGHUPReloadsKeys runs agentmint serve as a process that polls
// rarely, rotates its key, and sends SIGHUP: the new key is published at
// once.
func TestSIGHUPReloadsKeys(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "serve", "--addr", "127.0.0.1:0",
		"--data-dir", dir, "--key-poll", "60s", "--log-format", "json")
	cmd.Env = append(os.Environ(), "AGENTMINT_TEST_MAIN=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	// 1. The address, from the banner.
	var url string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if _, addr, ok := strings.Cut(sc.Text(), "→ "); ok {
			url = strings.TrimSpace(addr)
			break
		}
	}
	if url == "" {
		t.Fatal("no address in the banner")
	}
	// An answer means Serve runs, which starts after SIGHUP is caught.
	s := &testServer{URL: url}
	if n := len(s.jwks(t)); n != 1 {
		t.Fatalf("%d keys at start", n)
	}

	// 2. Rotate, signal, and see the new key published.
	k, err := keys.Generate(filepath.Join(dir, "keys"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	s.waitForKid(t, k.ID)
}
