package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/agentmint/agentmint/internal/audit"
	"github.com/agentmint/agentmint/internal/callers"
)

// public marks a route that needs no key.
const public callers.Role = ""

// routeRole returns the role a caller needs for a route pattern. Routes
// not listed (the 404 handler) need none.
func (s *Server) routeRole(route string) callers.Role {
	switch {
	case strings.HasPrefix(route, "/audit"):
		return callers.RoleAuditor
	}
	switch route {
	case "/mint", "/webauthn/register/start", "/webauthn/auth/start":
		// A minter vouches for who the person is, and asks for the
		// approval of one action; the person's browser then finishes
		// with their passkey.
		return callers.RoleMinter
	case "/proxy":
		return callers.RoleVerifier
	case "/metrics":
		if s.metricsPublic {
			return public
		}
		return callers.RoleAuditor
	}
	return public
}

type callerKey struct{}

// callerName returns the name of the authenticated caller of the request,
// or "" when it was served without a key (a public route, or from a local
// address while no callers exist).
func callerName(ctx context.Context) string {
	name, _ := ctx.Value(callerKey{}).(string)
	return name
}

var (
	errNoKey = &clientError{http.StatusUnauthorized, CodeUnauthorized,
		"an API key is required: send Authorization: Bearer am_..."}
	errBadKey = &clientError{http.StatusUnauthorized, CodeUnauthorized,
		"the API key is not valid"}
	errRemote = &clientError{http.StatusUnauthorized, CodeUnauthorized,
		"no callers are configured, so only local requests are served; " +
			"create a caller with `agentmint callers add` and send its key"}
)

func errRole(role callers.Role) error {
	return &clientError{http.StatusForbidden, CodeForbidden,
		"this endpoint needs a caller of role " + string(role)}
}

// authenticate decides whether the request may reach a route that needs
// role, and returns the caller's name ("" for an anonymous local request).
//
// 1. A request with a key is served only if the key belongs to an active
// caller of the role: an unknown, malformed or revoked key is a 401, a
// wrong role a 403. The lookup runs on every request, so a revocation
// applies to the next one.
// 2. A request without a key is a 401 once any caller exists; before that
// it is served only from a local address, so that a fresh install works on
// a laptop and nowhere else.
func (s *Server) authenticate(r *http.Request, role callers.Role, ip netip.Addr) (string, error) {
	ctx := r.Context()
	if v := r.Header.Get("Authorization"); v != "" {
		key, ok := callers.ParseBearer(v)
		if !ok || !callers.WellFormedKey(key) || s.callers == nil {
			return "", errBadKey
		}
		c, err := s.callers.CallerByKey(ctx, callers.HashKey(key))
		switch {
		case errors.Is(err, callers.ErrNotFound):
			return "", errBadKey
		case err != nil:
			return "", err
		case !c.Active():
			s.log.InfoContext(ctx, "revoked key refused", slog.String("caller", c.Name))
			return "", errBadKey
		case c.Role != role:
			return c.Name, errRole(role)
		}
		return c.Name, nil
	}
	has, err := s.hasCallers(ctx)
	if err != nil {
		return "", err
	}
	if has {
		return "", errNoKey
	}
	if !s.isLocal(ip) {
		return "", errRemote
	}
	return "", nil
}

// noCallersFor is how long the answer "no callers exist" is kept before
// the store is asked again.
const noCallersFor = time.Second

// hasCallers reports whether any caller exists. Callers are never deleted,
// so once true the answer is kept. "None" is kept for noCallersFor: asking
// the store on every request cost a tenth of /proxy's CPU in the profile.
// NOTE: so a first caller added by the CLI closes anonymous access within
// a second; revocation, checked per key, takes effect at once.
func (s *Server) hasCallers(ctx context.Context) (bool, error) {
	if s.callersSeen.Load() {
		return true, nil
	}
	if s.callers == nil {
		return false, nil
	}
	now := time.Now().UnixNano()
	if now < s.noCallersUntil.Load() {
		return false, nil
	}
	has, err := s.callers.HasCallers(ctx)
	if err != nil {
		return false, err
	}
	if has {
		s.callersSeen.Store(true)
	} else {
		s.noCallersUntil.Store(now + int64(noCallersFor))
	}
	return has, nil
}

// isLocal reports whether ip may call without a key while no callers
// exist: a loopback address, or one of the configured local networks.
func (s *Server) isLocal(ip netip.Addr) bool {
	return isLocal(ip, s.localNets)
}

func isLocal(ip netip.Addr, nets []netip.Prefix) bool {
	if !ip.IsValid() {
		return false
	}
	ip = ip.Unmap()
	if nets == nil {
		return ip.IsLoopback()
	}
	for _, n := range nets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// guard runs before every route: the per-IP limit, authentication and the
// per-caller limit. It answers refused requests itself and returns the
// request, carrying the caller's name, and whether to serve it. /health and
// /ready pass unchecked, so that probes are never throttled.
func (s *Server) guard(w http.ResponseWriter, r *http.Request, route string) (*http.Request, bool) {
	if route == "/health" || route == "/ready" {
		return r, true
	}
	now := s.now()

	// 1. The client's own limit, before anything else, so that guessing
	// keys is throttled too.
	ip, _ := clientIP(r.RemoteAddr, r.Header.Values("X-Forwarded-For"), s.trustedProxies)
	// NOTE: refusals by this limit are counted in metrics but not audited:
	// anyone who can reach the port can provoke them.
	if err := check(w, s.limits.ip, ip.String(), now); err != nil {
		s.writeError(w, r, err)
		return r, false
	}

	// 2. The caller, if the route needs one.
	role := s.routeRole(route)
	if role == public {
		return r, true
	}
	name, err := s.authenticate(r, role, ip)
	if err != nil {
		var ce *clientError
		if errors.As(err, &ce) && ce.status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="agentmint"`)
		}
		s.writeError(w, r, err)
		return r, false
	}
	r = r.WithContext(context.WithValue(r.Context(), callerKey{}, name))

	// 3. The caller's limit.
	if name != "" {
		if err := check(w, s.limits.caller, name, now); err != nil {
			s.throttled(w, r, route, err)
			return r, false
		}
	}
	return r, true
}

// throttled answers a request that an authenticated caller's limit
// refused and, for the token routes, records the refusal in the audit log
// (at the bounded rate of unsigned rejections).
func (s *Server) throttled(w http.ResponseWriter, r *http.Request, route string, err error) {
	if route == "/proxy" || route == "/mint" {
		s.recordRejection(r.Context(), audit.ReasonThrottled, nil)
	}
	s.writeError(w, r, err)
}
