package client_test

import (
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentmint/agentmint/internal/httpapi"
	"github.com/agentmint/agentmint/internal/httpapi/apitest"
	"github.com/agentmint/agentmint/internal/keys"
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
	api      *apitest.Service
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

const issuer = apitest.Issuer

// startService starts the service; options adjust its configuration, for
// example to require callers or set limits.
func startService(t testing.TB, options ...func(*httpapi.Config)) *service {
	t.Helper()
	s := &service{Clock: &clock{t: time.Now().Truncate(time.Second)}}
	s.api = apitest.New(t, s.Clock.Now, options...)
	s.KeyDir, s.Store, s.Ring = s.api.KeyDir, s.api.Store, s.api.Ring
	s.URL = s.api.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/.well-known/jwks.json" {
			s.jwksHits.Add(1)
		}
		s.api.API.ServeHTTP(w, r)
	}))
	return s
}

// Stop shuts the service down; later requests find nobody listening.
func (s *service) Stop() { s.api.Close() }
