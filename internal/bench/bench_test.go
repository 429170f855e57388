package bench

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentmint/agentmint/internal/httpapi/apitest"
)

// startServer serves the API on a loopback port with a real SQLite file
// and keyring; now is the server's clock.
func startServer(t *testing.T, now func() time.Time) string {
	t.Helper()
	s := apitest.New(t, now)
	return s.Serve(t, nil)
}

func TestRunCountsEveryRequest(t *testing.T) {
	url := startServer(t, nil)
	cfg := Config{URL: url + "/", Clients: 4, Count: 40,
		BareTime: 20 * time.Millisecond, PID: os.Getpid()}
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []Endpoint{res.Mint, res.Proxy} {
		if e.Requests != 40 || e.OK != 40 || e.Status != nil || e.Errors != 0 {
			t.Errorf("%s: %d requests, %d ok, %v, %d errors; want 40 ok",
				e.Path, e.Requests, e.OK, e.Status, e.Errors)
		}
		l := e.Latencies
		if !(0 < l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.Max) {
			t.Errorf("%s: percentiles out of order: %+v", e.Path, l)
		}
		if e.CPU == nil || e.CPU.ClientCores < 0 || e.CPU.ServerMicros < 0 {
			t.Errorf("%s: cpu %+v", e.Path, e.CPU)
		}
		if e.PerSec <= 0 || e.OfBare <= 0 {
			t.Errorf("%s: rate %v, fraction of bare %v", e.Path, e.PerSec, e.OfBare)
		}
	}
	if res.Bare.VerifyPerSec <= 0 || res.Bare.SignPerSec <= 0 {
		t.Errorf("bare rates %+v", res.Bare)
	}
	if m := res.Memory; m == nil || m.PeakMiB < m.EndMiB || m.EndMiB <= 0 {
		t.Errorf("memory %+v", m)
	}
}

func TestRunFailsWhenTokensAreRefused(t *testing.T) {
	// The server's clock jumps an hour once the first /proxy arrives, so
	// that every token has expired when presented.
	var presenting atomic.Bool
	now := func() time.Time {
		if presenting.Load() {
			return time.Now().Add(time.Hour)
		}
		return time.Now()
	}
	api := startServer(t, now)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/proxy" {
			presenting.Store(true)
		}
		proxyTo(t, api, w, r)
	}))
	t.Cleanup(front.Close)
	url := front.URL
	res, err := Run(context.Background(), Config{URL: url, Clients: 1, Count: 20,
		BareTime: 10 * time.Millisecond})
	if err == nil {
		t.Fatal("Run succeeded although every /proxy was refused")
	}
	if res == nil || res.Proxy.Status[http.StatusUnauthorized] != 20 {
		t.Fatalf("result %+v, want 20 answers 401", res)
	}
	if !strings.Contains(err.Error(), "20 of 20 /proxy requests failed (401") {
		t.Errorf("error %q does not say what failed", err)
	}
}

func TestRunRefusesBadConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no url":       {Clients: 1, Count: 1, BareTime: time.Second},
		"not http":     {URL: "ftp://x", Clients: 1, Count: 1, BareTime: time.Second},
		"no clients":   {URL: "http://x", Count: 1, BareTime: time.Second},
		"too long":     {URL: "http://x", Clients: 1, Duration: time.Hour, BareTime: time.Second},
		"too many":     {URL: "http://x", Clients: 1, Count: MaxCount + 1, BareTime: time.Second},
		"no bare time": {URL: "http://x", Clients: 1, Count: 1},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Run(context.Background(), cfg); err == nil {
				t.Error("Run accepted the configuration")
			}
		})
	}
}

func TestSummarizeNearestRank(t *testing.T) {
	ds := make([]time.Duration, 0, 1000)
	for i := 1000; i >= 1; i-- { // 1..1000 ms, unsorted
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	got := summarize(ds)
	want := Latencies{P50: 500, P90: 900, P99: 990, Max: 1000, Mean: 500.5}
	if got != want {
		t.Errorf("summarize = %+v, want %+v", got, want)
	}
	if one := summarize([]time.Duration{time.Millisecond}); one.P50 != 1 || one.P99 != 1 {
		t.Errorf("summarize of one = %+v", one)
	}
}

// proxyTo forwards r to the server at base and copies the answer back.
func proxyTo(t *testing.T, base string, w http.ResponseWriter, r *http.Request) {
	req, err := http.NewRequestWithContext(r.Context(), r.Method, base+r.URL.RequestURI(), r.Body)
	if err != nil {
		t.Error(err)
		return
	}
	req.Header = r.Header.Clone()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	defer res.Body.Close()
	for k, v := range res.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(res.StatusCode)
	io.Copy(w, res.Body)
}
