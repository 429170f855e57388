package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
)

// AuthScheme is the Authorization scheme the middleware reads by default:
// "Authorization: AgentMint <token>".
const AuthScheme = "AgentMint"

// MiddlewareOption configures Middleware.
type MiddlewareOption func(*middleware)

// TokenHeader makes the middleware read the token from the whole value of
// the named header, such as "X-AgentMint-Token", instead of from
// Authorization with the AgentMint scheme.
func TokenHeader(name string) MiddlewareOption {
	return func(m *middleware) { m.header = http.CanonicalHeaderKey(name) }
}

// Audience makes the middleware require tokens minted for aud.
func Audience(aud string) MiddlewareOption {
	return func(m *middleware) { m.aud = aud }
}

type middleware struct {
	c      *Client
	action string
	aud    string
	header string
}

// Middleware returns net/http middleware for a route that performs action.
// It takes the token from the request, verifies and consumes it through
// the service (Verify with ForAction(action)), and calls next with the
// approval in the request's context, where Approval finds it. The token's
// header is removed before next runs, so that next cannot log it.
//
// A request whose token is missing, invalid or expired gets 401; one for
// another action or audience 403 (the token is not consumed); one whose
// token was already used 409; and any failure to reach the service 503.
// next runs at most once per token, however many requests carry it.
// Error answers are RFC 9457 problem details and never contain the token.
func (c *Client) Middleware(action string, opts ...MiddlewareOption) func(http.Handler) http.Handler {
	m := &middleware{c: c, action: action, header: "Authorization"}
	for _, o := range opts {
		o(m)
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			m.serve(w, r, next)
		})
	}
}

func (m *middleware) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	// 1. The token, from the configured header.
	tok, ok := m.token(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", AuthScheme)
		writeProblem(w, http.StatusUnauthorized, "invalid_token",
			"an AgentMint token is required", "")
		return
	}

	// 2. Verify and consume it for this route's action.
	opts := []VerifyOption{ForAction(m.action)}
	if m.aud != "" {
		opts = append(opts, ForAudience(m.aud))
	}
	v, err := m.c.Verify(r.Context(), tok, opts...)
	if err != nil {
		writeVerifyError(w, err)
		return
	}

	// 3. Run the handler with the approval and without the token.
	r = r.Clone(context.WithValue(r.Context(), approvalKey{}, v))
	r.Header.Del(m.header)
	next.ServeHTTP(w, r)
}

// token returns the token the request carries.
func (m *middleware) token(r *http.Request) (string, bool) {
	v := strings.TrimSpace(r.Header.Get(m.header))
	if m.header == "Authorization" {
		scheme, rest, ok := strings.Cut(v, " ")
		if !ok || !strings.EqualFold(scheme, AuthScheme) {
			return "", false
		}
		v = strings.TrimSpace(rest)
	}
	return v, v != ""
}

type approvalKey struct{}

// Approval returns the verified approval the middleware put in ctx, or
// false if there is none.
func Approval(ctx context.Context) (*Verified, bool) {
	v, ok := ctx.Value(approvalKey{}).(*Verified)
	return v, ok
}

// writeVerifyError maps a failed verification to the status a resource
// provider answers with.
func writeVerifyError(w http.ResponseWriter, err error) {
	var ae *APIError
	reason := ""
	if errors.As(err, &ae) {
		reason = ae.Reason
	}
	switch {
	case errors.Is(err, ErrTokenUsed):
		writeProblem(w, http.StatusConflict, "token_used", "token already used", reason)
	case errors.Is(err, ErrTokenExpired):
		w.Header().Set("WWW-Authenticate", AuthScheme)
		writeProblem(w, http.StatusUnauthorized, "token_expired", "token expired", reason)
	case errors.Is(err, ErrInvalidToken):
		w.Header().Set("WWW-Authenticate", AuthScheme)
		writeProblem(w, http.StatusUnauthorized, "invalid_token", "invalid token", reason)
	case errors.Is(err, ErrForbidden) && ae != nil && ae.Reason != "":
		writeProblem(w, http.StatusForbidden, "forbidden",
			"the token was not minted for this request; it was not consumed", reason)
	default:
		// The service refused us (API key, rate limit) or is down: not the
		// caller's fault, and nothing was accepted.
		if ae != nil && ae.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(ae.RetryAfter.Seconds())))
		}
		writeProblem(w, http.StatusServiceUnavailable, "unavailable",
			"approval could not be verified; try again later", "")
	}
}

func writeProblem(w http.ResponseWriter, status int, code, detail, reason string) {
	b, _ := json.Marshal(struct {
		Type   string `json:"type"`
		Title  string `json:"title"`
		Status int    `json:"status"`
		Code   string `json:"code"`
		Detail string `json:"detail"`
		Reason string `json:"reason,omitempty"`
	}{"about:blank", http.StatusText(status), status, code, detail, reason})
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
