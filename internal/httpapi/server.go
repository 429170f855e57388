// Package httpapi is AgentMint's HTTP interface: the handlers, the mapping
// of errors to problem details, the access log and the request metrics.
// It depends on the core through small interfaces and does no storage or
// key handling of its own.
package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/agentmint/agentmint/internal/callers"
	"github.com/agentmint/agentmint/internal/ledger"
	"github.com/agentmint/agentmint/internal/passkey"
	"github.com/agentmint/agentmint/token"
)

// MaxBodySize is the largest request body accepted, in bytes.
const MaxBodySize = 16 << 10

// Keyring signs with the current key, finds verification keys by kid and
// publishes the public keys.
type Keyring interface {
	token.Keys
	Sign(c *token.Claims) (string, error)
	MarshalJWKS() ([]byte, error)
}

// Meter records what the service does. Labels are fixed strings chosen by
// the service, never values taken from a request.
type Meter interface {
	Minted()
	Verified()
	Rejected(reason string)
	Replayed()
	// RejectionDropped counts a rejection not logged in the audit log
	// because rejections came faster than the configured rate.
	RejectionDropped(reason string)
	ObserveRequest(route string, status int, d time.Duration)
	Handler() http.Handler
}

// Config is what a Server needs.
type Config struct {
	Store  ledger.Store
	Keys   Keyring
	Meter  Meter
	Log    *slog.Logger
	Issuer string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Audit serves the audit tree, checkpoints and proofs; nil leaves
	// those endpoints out.
	Audit AuditLog
	// RejectRate is how many rejections per second of each class
	// (unsigned garbage, signed tokens) are logged one by one, with
	// bursts of RejectBurst; the rest are counted in a summary entry.
	// Zero rate or burst means the defaults.
	RejectRate  float64
	RejectBurst int
	// Callers authenticates API keys and records who minted what; nil
	// means no callers exist.
	Callers callers.Store
	// MetricsPublic serves /metrics without a key; otherwise it needs an
	// auditor.
	MetricsPublic bool
	// LocalNets are the addresses served without a key while no callers
	// exist; nil means the loopback addresses.
	LocalNets []netip.Prefix
	// TrustedProxies are the peers whose X-Forwarded-For is believed;
	// without them the client is always the TCP peer.
	TrustedProxies []netip.Prefix
	// Limits are the request rate limits; the zero value limits nothing.
	Limits Limits
	// Passkeys, if not nil, serves the WebAuthn endpoints and page.
	Passkeys *passkey.Service
}

// Server serves the API.
type Server struct {
	store   ledger.Store
	keys    Keyring
	meter   Meter
	log     *slog.Logger
	issuer  string
	now     func() time.Time
	mux     *http.ServeMux
	alog    AuditLog
	rejects *rejectLimiter

	callers        callers.Store
	callersSeen    atomic.Bool  // a caller existed once: keys are required
	noCallersUntil atomic.Int64 // unix ns until which "no callers" holds
	metricsPublic  bool
	localNets      []netip.Prefix
	trustedProxies []netip.Prefix
	limits         limits

	passkeys *passkey.Service
}

// New returns a Server for cfg.
func New(cfg Config) *Server {
	s := &Server{
		store: cfg.Store, keys: cfg.Keys, meter: cfg.Meter, log: cfg.Log,
		issuer: cfg.Issuer, now: cfg.Now, mux: http.NewServeMux(),
		alog:    cfg.Audit,
		callers: cfg.Callers, metricsPublic: cfg.MetricsPublic,
		localNets: cfg.LocalNets, trustedProxies: cfg.TrustedProxies,
		limits:   newLimits(cfg.Limits),
		passkeys: cfg.Passkeys,
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.rejects = newRejectLimiter(cfg.RejectRate, cfg.RejectBurst, s.now)
	s.routes()
	return s
}

func (s *Server) routes() {
	s.handle("POST", "/mint", s.mint)
	s.handle("POST", "/proxy", s.proxy)
	s.handle("GET", "/audit", s.audit)
	if s.alog != nil {
		s.auditRoutes()
	}
	s.handle("GET", "/health", s.health)
	s.handle("GET", "/ready", s.ready)
	s.handle("GET", "/.well-known/jwks.json", s.jwks)
	s.passkeyRoutes()
	s.handle("GET", "/metrics", func(w http.ResponseWriter, r *http.Request) error {
		s.meter.Handler().ServeHTTP(w, r)
		return nil
	})
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, newProblem(http.StatusNotFound, CodeNotFound,
			"no such endpoint"))
	})
}

// handle registers h for one method on an exact path. Other methods get a
// 405 problem with an Allow header; HEAD is allowed where GET is.
func (s *Server) handle(method, path string, h func(http.ResponseWriter, *http.Request) error) {
	s.mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method && !(method == "GET" && r.Method == "HEAD") {
			w.Header().Set("Allow", method)
			writeProblem(w, newProblem(http.StatusMethodNotAllowed,
				CodeMethodNotAllowed, "use "+method+" for "+path))
			return
		}
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// ServeHTTP implements http.Handler: security headers, a request id, the
// access log line and the latency metric around the routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := newRequestID()
	h := w.Header()
	h["X-Request-Id"] = []string{id}
	for k, v := range securityHeaders {
		h[k] = v
	}

	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	r = r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id))
	_, route := s.mux.Handler(r)
	if gr, ok := s.guard(sw, r, route); ok {
		r = gr
		s.mux.ServeHTTP(sw, r)
	}

	d := time.Since(start)
	if route == "/" && r.URL.Path != "/" {
		route = "other"
	}
	s.meter.ObserveRequest(route, sw.status, d)
	s.accessLog(r, route, sw.status, d)
}

// securityHeaders go on every answer. Their keys are in canonical form
// and the value slices are shared, so that setting them allocates
// nothing: net/http only reads them, and Header.Set or Add on one
// replaces or grows it without writing into the shared array.
var securityHeaders = http.Header{
	"X-Content-Type-Options":  {"nosniff"},
	"Cache-Control":           {"no-store"},
	"Content-Security-Policy": {"default-src 'none'; frame-ancestors 'none'"},
	"Referrer-Policy":         {"no-referrer"},
	"X-Frame-Options":         {"DENY"},
}

func (s *Server) accessLog(r *http.Request, route string, status int, d time.Duration) {
	level := slog.LevelInfo
	switch {
	case status >= 500:
		level = slog.LevelError
	case status >= 400:
		level = slog.LevelWarn
	}
	if !s.log.Enabled(r.Context(), level) {
		return
	}
	s.log.LogAttrs(r.Context(), level, "request",
		slog.String("request_id", requestID(r.Context())),
		slog.String("method", logSafe(r.Method)),
		slog.String("route", route),
		slog.String("caller", callerName(r.Context())),
		slog.String("user_agent", logSafe(r.UserAgent())),
		slog.Int("status", status),
		slog.Duration("duration", d))
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

type requestIDKey struct{}

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

func newRequestID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
