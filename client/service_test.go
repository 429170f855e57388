package client_test

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentmint/agentmint/internal/httpapi"
	"github.com/agentmint/agentmint/internal/keys"
	"github.com/agentmint/agentmint/internal/metrics"
	"github.com/agentmint/agentmint/internal/sqlite"
)

// service is the real AgentMint API on a random loopback port, with a real
// SQLite file and keyring in a temporary directory.
type service struct {
	URL      string
	KeyDir   string
	Store    *sqlite.Store
	Ring     *keys.Ring
	Clock    *clock
	jwksHits atomic.Int64
	srv      *http.Server
	stop     sync.Once
}

// clock is a settable clock shared by the service and the client.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

const issuer = "agentmint"

// startService starts the service; options adjust its configuration, for
// example to require callers or set limits.
func startService(t testing.TB, options ...func(*httpapi.Config)) *service {
	t.Helper()
	dir := t.TempDir()
	s := &service{KeyDir: filepath.Join(dir, "keys"),
		Clock: &clock{t: time.Now().Truncate(time.Second)}}
	ring, err := keys.Open(s.KeyDir, s.Clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	s.Ring = ring
	s.Store, err = sqlite.Open(filepath.Join(dir, "agentmint.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := httpapi.Config{
		Store: s.Store, Keys: ring, Meter: metrics.New(),
		Log:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		Issuer: issuer, Now: s.Clock.Now, Callers: s.Store,
	}
	for _, o := range options {
		o(&cfg)
	}
	api := httpapi.New(cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.URL = "http://" + ln.Addr().String()
	s.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/.well-known/jwks.json" {
			s.jwksHits.Add(1)
		}
		api.ServeHTTP(w, r)
	})}
	go s.srv.Serve(ln)
	t.Cleanup(s.Stop)
	return s
}

// Stop shuts the service down; later requests find nobody listening.
func (s *service) Stop() {
	s.stop.Do(func() {
		s.srv.Close()
		s.Store.Close()
	})
}
