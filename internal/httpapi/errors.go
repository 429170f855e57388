package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/agentmint/agentmint/internal/ledger"
	"github.com/agentmint/agentmint/internal/passkey"
	"github.com/agentmint/agentmint/token"
)

// Stable codes of problem details. Clients match on these, so they never
// change meaning.
const (
	CodeInvalidRequest   = "invalid_request"
	CodeInvalidToken     = "invalid_token"
	CodeTokenExpired     = "token_expired"
	CodeTokenUsed        = "token_used"
	CodeUnauthorized     = "unauthorized"
	CodeForbidden        = "forbidden"
	CodeRateLimited      = "rate_limited"
	CodeUnavailable      = "unavailable"
	CodeInternal         = "internal"
	CodeNotFound         = "not_found"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeTooLarge         = "too_large"
)

// Problem is an RFC 9457 problem details object with AgentMint's stable
// code. Detail is written for the client and never holds a token, a key or
// an internal error.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Code   string `json:"code"`
	Detail string `json:"detail,omitempty"`
	// Reason is the typed reason a token was refused, when it was.
	Reason string `json:"reason,omitempty"`
}

// clientError is an error whose message the client may see.
type clientError struct {
	status int
	code   string
	detail string
}

func (e *clientError) Error() string { return e.detail }

func badRequest(detail string) error {
	return &clientError{http.StatusBadRequest, CodeInvalidRequest, detail}
}

// problemFor maps any error to what the client sees. It is the only place
// that chooses a status for an error; an error it does not know becomes a
// plain internal error.
func problemFor(err error) Problem {
	var ce *clientError
	var te *token.Error
	var mbe *http.MaxBytesError
	var le *limitError
	var pf *passkey.Failure
	switch {
	case errors.As(err, &le):
		return newProblem(http.StatusTooManyRequests, CodeRateLimited,
			"too many requests: retry after the number of seconds in Retry-After")
	case errors.As(err, &ce):
		return newProblem(ce.status, ce.code, ce.detail)
	case errors.As(err, &mbe):
		return newProblem(http.StatusRequestEntityTooLarge, CodeTooLarge,
			"request body larger than "+strconv.FormatInt(mbe.Limit, 10)+" bytes")
	case errors.As(err, &te):
		return tokenProblem(te)
	case errors.Is(err, ledger.ErrNotFound):
		return newProblem(http.StatusNotFound, CodeNotFound, "not found")
	case errors.As(err, &pf):
		return passkeyProblem(pf)
	case errors.Is(err, ledger.ErrAlreadyUsed):
		return newProblem(http.StatusConflict, CodeTokenUsed, "token already used")
	case errors.Is(err, ledger.ErrUnavailable), errors.Is(err, ledger.ErrClosed),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return newProblem(http.StatusServiceUnavailable, CodeUnavailable,
			"the ledger is unavailable; nothing was accepted, try again later")
	}
	return newProblem(http.StatusInternalServerError, CodeInternal, "internal error")
}

func tokenProblem(te *token.Error) Problem {
	var p Problem
	switch te.Reason {
	case token.ReasonExpired:
		p = newProblem(http.StatusUnauthorized, CodeTokenExpired, "token expired")
	case token.ReasonActionMismatch:
		p = newProblem(http.StatusForbidden, CodeForbidden,
			"token was not minted for this action; it was not consumed")
	case token.ReasonAudienceMismatch:
		p = newProblem(http.StatusForbidden, CodeForbidden,
			"token was not minted for this audience; it was not consumed")
	default:
		p = newProblem(http.StatusUnauthorized, CodeInvalidToken, "invalid token")
	}
	p.Reason = string(te.Reason)
	return p
}

func newProblem(status int, code, detail string) Problem {
	return Problem{
		Type:   "about:blank",
		Title:  http.StatusText(status),
		Status: status,
		Code:   code,
		Detail: detail,
	}
}

// writeProblem answers with p. Server errors are logged with their cause,
// which the client never sees.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	p := problemFor(err)
	if p.Status >= 500 {
		s.log.ErrorContext(r.Context(), "request failed",
			slog.String("request_id", requestID(r.Context())),
			slog.String("error", err.Error()))
	}
	setRetryAfter(w, err)
	writeProblem(w, p)
}

func writeProblem(w http.ResponseWriter, p Problem) {
	b, _ := json.Marshal(p)
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(p.Status)
	w.Write(append(b, '\n'))
}
