package main

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"regexp"
	"syscall"
	"testing"
	"time"
)

// process is agentmint serve running as a child process: the test binary
// itself, acting as agentmint through TestMain.
type process struct {
	URL string
	cmd *exec.Cmd
}

var readyLine = regexp.MustCompile(`Server ready → (http://\S+)`)

func startProcess(t *testing.T, dataDir string) *process {
	t.Helper()
	cmd := exec.Command(os.Args[0], "serve", "--addr", "127.0.0.1:0",
		"--data-dir", dataDir, "--log-format", "json")
	cmd.Env = append(os.Environ(), "AGENTMINT_TEST_MAIN=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd}
	t.Cleanup(func() { p.kill() })
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := readyLine.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
				break
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	select {
	case p.URL = <-found:
	case <-time.After(20 * time.Second):
		t.Fatal("child server did not become ready")
	}
	return p
}

// kill ends the process with SIGKILL: no clean shutdown, no closing of the
// store.
func (p *process) kill() {
	if p.cmd.ProcessState == nil {
		p.cmd.Process.Signal(syscall.SIGKILL)
		p.cmd.Wait()
	}
}

// TestRestartAfterKill consumes a token, kills the server without a clean
// shutdown and starts it again on the same data directory: the consumed
// token is refused and the unused one, signed before the kill, verifies.
func TestRestartAfterKill(t *testing.T) {
	dir := t.TempDir()
	p := startProcess(t, dir)
	s := &testServer{URL: p.URL}
	used, _ := s.mint(t, "alice@company.com", "refund:order:123:amount:50")
	unused, _ := s.mint(t, "alice@company.com", "delete:user:789")
	if r := s.proxy(t, used); r.Status != 200 {
		t.Fatalf("proxy before kill: %d %s", r.Status, r.Body)
	}
	p.kill()

	p = startProcess(t, dir)
	s = &testServer{URL: p.URL}
	wantProblem(t, s.proxy(t, used), 409, "token_used")
	if r := s.proxy(t, unused); r.Status != 200 {
		t.Fatalf("unused token after restart: %d %s", r.Status, r.Body)
	}
}

// TestCleanShutdown sends SIGTERM: the server exits 0 and frees the data
// directory for the next one.
func TestCleanShutdown(t *testing.T) {
	dir := t.TempDir()
	p := startProcess(t, dir)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	startProcess(t, dir)
}

// TestSecondServerRefused: two servers must not share a data directory.
func TestSecondServerRefused(t *testing.T) {
	dir := t.TempDir()
	startProcess(t, dir)
	cmd := exec.Command(os.Args[0], "serve", "--addr", "127.0.0.1:0", "--data-dir", dir)
	cmd.Env = append(os.Environ(), "AGENTMINT_TEST_MAIN=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatal("a second server started on the same data directory")
	}
	if !regexp.MustCompile(`in use by another agentmint process`).Match(out) {
		t.Errorf("message: %s", out)
	}
}
