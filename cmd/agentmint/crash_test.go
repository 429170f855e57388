package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/agentmint/agentmint/internal/audit"
	"github.com/agentmint/agentmint/internal/httpapi"
)

// TestCrashLosesNoEntry kills the server with SIGKILL during a burst of
// mints and verifications: after a restart every answer the clients got
// has its entry, the indices have no gap, and the log verifies.
func TestCrashLosesNoEntry(t *testing.T) {
	dir := t.TempDir()
	p := startProcess(t, dir)
	cmd, url := p.cmd, p.URL

	// 1. A burst of clients, each recording the jtis the server
	// acknowledged.
	var mu sync.Mutex
	minted, verified := map[string]bool{}, map[string]bool{}
	var ok atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	hc := &http.Client{Timeout: 5 * time.Second}
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				tok, jti, err := mintOnce(hc, url, fmt.Sprintf("u%d-%d", w, i))
				if err != nil {
					return
				}
				mu.Lock()
				minted[jti] = true
				mu.Unlock()
				body := fmt.Sprintf(`{"token":%q}`, tok)
				res, err := hc.Post(url+"/proxy", "application/json",
					strings.NewReader(body))
				if err != nil {
					return
				}
				res.Body.Close()
				if res.StatusCode == 200 {
					mu.Lock()
					verified[jti] = true
					mu.Unlock()
					ok.Add(1)
				}
			}
		})
	}

	// 2. Kill it mid-burst.
	for ok.Load() < 150 {
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	close(stop)
	wg.Wait()

	// 3. Restart on the same directory: the tree catches up at start.
	s := startServer(t, serverOpts{dataDir: dir})
	var entries []audit.Entry
	for {
		var page []audit.Entry
		r := do(t, "GET", fmt.Sprintf("%s/audit/entries?from=%d", s.URL,
			len(entries)), "")
		if err := json.Unmarshal(r.Body, &page); err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		entries = append(entries, page...)
	}
	seen := map[audit.Event]map[string]bool{
		audit.EventMinted: {}, audit.EventVerified: {}}
	for i, e := range entries {
		if e.Index != int64(i) {
			t.Fatalf("entry at %d has index %d: a gap", i, e.Index)
		}
		if seen[e.Event] != nil {
			seen[e.Event][e.JTI] = true
		}
	}
	for jti := range minted {
		if !seen[audit.EventMinted][jti] {
			t.Errorf("mint of %s was answered but has no entry", jti)
		}
	}
	for jti := range verified {
		if !seen[audit.EventVerified][jti] {
			t.Errorf("verification of %s was answered but has no entry", jti)
		}
	}
	t.Logf("%d mints and %d verifications answered, %d entries",
		len(minted), len(verified), len(entries))

	// 4. The whole log verifies, against the mirrored checkpoint too.
	s.Stop()
	if code, out := runMain(t, "audit", "verify", "--data-dir", dir); code != 0 {
		t.Errorf("audit verify after crash = %d: %s", code, out)
	}
}

// mintOnce mints one token for sub.
func mintOnce(hc *http.Client, url, sub string) (tok, jti string, err error) {
	body := fmt.Sprintf(`{"sub":%q,"action":"deploy:prod"}`, sub)
	res, err := hc.Post(url+"/mint", "application/json", strings.NewReader(body))
	if err != nil {
		return "", "", err
	}
	defer res.Body.Close()
	var m httpapi.MintResponse
	if res.StatusCode != 200 {
		return "", "", fmt.Errorf("mint: %s", res.Status)
	}
	if err := json.NewDecoder(res.Body).Decode(&m); err != nil {
		return "", "", err
	}
	return m.Token, m.JTI, nil
}
