package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentmint/agentmint/internal/httpapi"
	"github.com/agentmint/agentmint/internal/httpapi/apitest"
	"github.com/agentmint/agentmint/internal/keys"
	"github.com/agentmint/agentmint/token"
)

// benchClients is the number of concurrent clients of the parallel
// benchmarks, the concurrency the service's targets are stated for.
const benchClients = 32

// mintBody is the request of every /mint in the benchmarks.
var mintBody = []byte(`{"sub":"alice@example.com","action":"refund:order-123"}`)

// fixture is a Server on a real SQLite file and a real keyring, with
// logging off, as `agentmint serve` wires it.
type fixture struct {
	srv  *httpapi.Server
	ring *keys.Ring
}

func newFixture(b *testing.B) *fixture {
	b.Helper()
	s := apitest.New(b, nil)
	return &fixture{srv: s.API, ring: s.Ring}
}

// proxyBodies signs n fresh tokens and returns the /proxy request bodies
// that present them, so that signing stays outside the timed loop.
func (f *fixture) proxyBodies(b *testing.B, n int) [][]byte {
	b.Helper()
	now := time.Now()
	out := make([][]byte, n)
	for i := range out {
		jti, err := token.NewID(now)
		if err != nil {
			b.Fatal(err)
		}
		tok, err := f.ring.Sign(&token.Claims{
			Issuer: "agentmint", Subject: "alice@example.com",
			Action: "refund:order-123", ID: jti,
			IssuedAt: now.Unix(), Expiry: now.Unix() + 300,
		})
		if err != nil {
			b.Fatal(err)
		}
		out[i], _ = json.Marshal(httpapi.ProxyRequest{Token: &tok})
	}
	return out
}

// serve runs f's handler on a loopback port for the benchmark's duration
// and returns its URL and a keep-alive client.
func (f *fixture) serve(b *testing.B) (string, *http.Client) {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	hs := &http.Server{Handler: f.srv}
	go hs.Serve(ln)
	b.Cleanup(func() { hs.Close() })
	tr := &http.Transport{MaxIdleConnsPerHost: benchClients}
	b.Cleanup(tr.CloseIdleConnections)
	return "http://" + ln.Addr().String(), &http.Client{Transport: tr}
}

// parallel runs fn for i in [0, b.N) on workers goroutines and times it.
func parallel(b *testing.B, workers int, fn func(i int)) {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range workers {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(b.N); i = next.Add(1) - 1 {
				fn(int(i))
			}
		})
	}
	wg.Wait()
	b.StopTimer()
}

// post sends body to url and fails the benchmark unless the answer is 200.
func post(b *testing.B, c *http.Client, url string, body []byte) {
	res, err := c.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		b.Error(err)
		return
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b.Errorf("POST %s: status %d", url, res.StatusCode)
	}
}

// direct calls ServeHTTP with a recorder: the handler's cost without the
// HTTP transport.
func direct(b *testing.B, h http.Handler, path string, body []byte) {
	req := httptest.NewRequest("POST", path, bytes.NewReader(body))
	// A loopback client, served without a key while no callers exist.
	req.RemoteAddr = "127.0.0.1:40000"
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Errorf("POST %s: status %d: %s", path, rec.Code, rec.Body)
	}
}

// BenchmarkProxy verifies and consumes one fresh token per iteration:
// through a real HTTP server with one and with benchClients keep-alive
// clients, and through ServeHTTP directly.
func BenchmarkProxy(b *testing.B) {
	b.Run("http/clients-1", func(b *testing.B) { benchProxyHTTP(b, 1) })
	b.Run("http/clients-32", func(b *testing.B) { benchProxyHTTP(b, benchClients) })
	b.Run("handler/sequential", func(b *testing.B) { benchProxyHandler(b, 1) })
	b.Run("handler/parallel-32", func(b *testing.B) {
		benchProxyHandler(b, benchClients)
	})
}

func benchProxyHTTP(b *testing.B, clients int) {
	f := newFixture(b)
	bodies := f.proxyBodies(b, b.N)
	url, c := f.serve(b)
	b.ReportAllocs()
	parallel(b, clients, func(i int) { post(b, c, url+"/proxy", bodies[i]) })
}

func benchProxyHandler(b *testing.B, workers int) {
	f := newFixture(b)
	bodies := f.proxyBodies(b, b.N)
	b.ReportAllocs()
	parallel(b, workers, func(i int) { direct(b, f.srv, "/proxy", bodies[i]) })
}

// BenchmarkMint signs one token per iteration, through a real HTTP server
// with benchClients keep-alive clients and through ServeHTTP directly.
func BenchmarkMint(b *testing.B) {
	b.Run("http/clients-32", func(b *testing.B) {
		f := newFixture(b)
		url, c := f.serve(b)
		b.ReportAllocs()
		parallel(b, benchClients, func(int) { post(b, c, url+"/mint", mintBody) })
	})
	b.Run("handler/sequential", func(b *testing.B) {
		f := newFixture(b)
		b.ReportAllocs()
		parallel(b, 1, func(int) { direct(b, f.srv, "/mint", mintBody) })
	})
}
