package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

func TestBenchAgainstServe(t *testing.T) {
	s := startServer(t, serverOpts{})
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), []string{"bench", "--url", s.URL,
		"-n", "30", "-c", "3", "--bare-time", "20ms", "--json"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, &stdout, &stderr)
	}
	if stderr.Len() != 0 {
		t.Errorf("progress written although stderr is not a terminal: %q", &stderr)
	}
	var res struct {
		Proxy struct{ Requests, OK int }
		Mint  struct{ Requests, OK int }
	}
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, &stdout)
	}
	if res.Mint.OK != 30 || res.Proxy.OK != 30 || res.Proxy.Requests != 30 {
		t.Errorf("result %+v, want 30 of 30 for each endpoint", res)
	}
}

func TestBenchTextReport(t *testing.T) {
	s := startServer(t, serverOpts{})
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), []string{"bench", "--url", s.URL,
		"-n", "10", "-c", "2", "--bare-time", "20ms"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, &stdout, &stderr)
	}
	for _, want := range []string{"bare Ed25519", "/mint", "/proxy", "p99 ms"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, &stdout)
		}
	}
}

func TestBenchNoServer(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), []string{"bench", "--url",
		"http://127.0.0.1:1", "-n", "1"}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "does not answer") {
		t.Errorf("exit %d, stderr %q; want 1 and a clear message", code, &stderr)
	}
}
