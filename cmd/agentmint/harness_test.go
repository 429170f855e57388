package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMain lets the test binary act as the agentmint binary: with
// AGENTMINT_TEST_MAIN=1 it runs Main on its arguments, so that tests can
// start a real process and kill it.
func TestMain(m *testing.M) {
	if os.Getenv("AGENTMINT_TEST_MAIN") == "1" {
		os.Exit(Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Now().Truncate(time.Second)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testServer is `agentmint serve` running in this process on a random
// loopback port with its data in a temporary directory.
type testServer struct {
	URL     string
	DataDir string
	Stdout  *syncBuffer
	Stderr  *syncBuffer
	stop    func()
}

type serverOpts struct {
	dataDir string           // default: a new t.TempDir()
	now     func() time.Time // default: time.Now
	args    []string         // extra flags for serve
	prune   time.Duration    // how often to prune; default 30s
}

// startServer starts a server and stops it when the test ends.
func startServer(t *testing.T, o serverOpts) *testServer {
	t.Helper()
	if o.dataDir == "" {
		o.dataDir = t.TempDir()
	}
	s := &testServer{DataDir: o.dataDir, Stdout: &syncBuffer{}, Stderr: &syncBuffer{}}
	ready := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	args := append([]string{"--addr", "127.0.0.1:0", "--data-dir", o.dataDir,
		"--log-format", "json"}, o.args...)
	go func() {
		done <- runServe(ctx, args, s.Stdout, s.Stderr, serveHooks{
			now:        o.now,
			ready:      func(addr string) { ready <- addr },
			pruneEvery: o.prune,
		})
	}()
	select {
	case addr := <-ready:
		s.URL = "http://" + addr
	case err := <-done:
		cancel()
		t.Fatalf("server did not start: %v\n%s", err, s.Stderr.String())
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("server did not start in 10s")
	}
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("server stopped with %v", err)
			}
		})
	}
	t.Cleanup(s.stop)
	return s
}

// Stop shuts the server down cleanly and waits for it.
func (s *testServer) Stop() { s.stop() }

// response is a decoded answer.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a map.
func (r *response) JSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, r.Body)
	}
	return m
}

// do sends a request with a raw body and reads the whole answer.
func do(t *testing.T, method, url, body string, header ...string) *response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return &response{Status: res.StatusCode, Header: res.Header, Body: b}
}

// post sends v as JSON.
func post(t *testing.T, url string, v any) *response {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, "POST", url, string(b))
}

// mint mints a token and fails the test unless it gets one.
func (s *testServer) mint(t *testing.T, sub, action string) (tok, jti string) {
	t.Helper()
	r := post(t, s.URL+"/mint", map[string]any{"sub": sub, "action": action})
	if r.Status != 200 {
		t.Fatalf("mint: %d %s", r.Status, r.Body)
	}
	m := r.JSON(t)
	return m["token"].(string), m["jti"].(string)
}

// proxy presents a token.
func (s *testServer) proxy(t *testing.T, tok string) *response {
	t.Helper()
	return post(t, s.URL+"/proxy", map[string]any{"token": tok})
}

// wantProblem checks a problem details answer.
func wantProblem(t *testing.T, r *response, status int, code string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d; body %s", r.Status, status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q, want application/problem+json", ct)
	}
	if got := r.JSON(t)["code"]; got != code {
		t.Errorf("code %v, want %q; body %s", got, code, r.Body)
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
