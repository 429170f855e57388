// Package apitest wires the HTTP API as `agentmint serve` does, on a real
// SQLite file and keyring in a temporary directory, for the tests and
// benchmarks of other packages.
package apitest

import (
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/agentmint/agentmint/internal/httpapi"
	"github.com/agentmint/agentmint/internal/keys"
	"github.com/agentmint/agentmint/internal/metrics"
	"github.com/agentmint/agentmint/internal/sqlite"
)

// Issuer is the iss of the tokens the service mints.
const Issuer = "agentmint"

// Service is the API with its store and keyring.
type Service struct {
	Dir    string // the data directory
	KeyDir string // the signing keys, in Dir
	Store  *sqlite.Store
	Ring   *keys.Ring
	API    *httpapi.Server

	srv  *http.Server
	once sync.Once
}

// New wires the API; now is the clock of the keyring and the API (nil
// means time.Now), and options adjust the configuration, for example to set
// limits. The store is closed when the test ends.
func New(t testing.TB, now func() time.Time, options ...func(*httpapi.Config)) *Service {
	t.Helper()
	if now == nil {
		now = time.Now
	}
	s := &Service{Dir: t.TempDir()}
	s.KeyDir = filepath.Join(s.Dir, "keys")
	var err error
	if s.Ring, err = keys.Open(s.KeyDir, now); err != nil {
		t.Fatal(err)
	}
	s.Store, err = sqlite.Open(filepath.Join(s.Dir, "agentmint.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := httpapi.Config{
		Store: s.Store, Keys: s.Ring, Meter: metrics.New(),
		Log: slog.New(slog.DiscardHandler), Issuer: Issuer, Now: now,
		Callers: s.Store,
	}
	for _, o := range options {
		o(&cfg)
	}
	s.API = httpapi.New(cfg)
	t.Cleanup(s.Close)
	return s
}

// Serve serves h, or the API if h is nil, on a random loopback port until
// Close, and returns its URL.
func (s *Service) Serve(t testing.TB, h http.Handler) string {
	t.Helper()
	if h == nil {
		h = s.API
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.srv = &http.Server{Handler: h}
	go s.srv.Serve(ln)
	return "http://" + ln.Addr().String()
}

// Close stops serving and closes the store; later requests find nobody
// listening.
func (s *Service) Close() {
	s.once.Do(func() {
		if s.srv != nil {
			s.srv.Close()
		}
		s.Store.Close()
	})
}
