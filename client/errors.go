package client

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Sentinel errors. Match them with errors.Is; errors.As with an *APIError
// gives the service's code, reason and detail.
var (
	// ErrTokenUsed: the token has already been consumed. Refuse the
	// action: someone presented this token before.
	ErrTokenUsed = sentinel("token already used")
	// ErrTokenExpired: the token's lifetime has passed. Ask the approver
	// again.
	ErrTokenExpired = sentinel("token expired")
	// ErrInvalidToken: the token failed verification (malformed, unknown
	// key, bad signature, bad claims, wrong issuer). Refuse the action.
	ErrInvalidToken = sentinel("invalid token")
	// ErrForbidden: the token was minted for another action or audience,
	// and was not consumed; or the API key may not call this endpoint.
	// Refuse the action.
	ErrForbidden = sentinel("forbidden")
	// ErrUnauthorized: the service did not accept the API key. Fix the
	// client's configuration.
	ErrUnauthorized = sentinel("unauthorized")
	// ErrInvalidRequest: the service refused the request itself, such as a
	// mint with an empty action. The *APIError's Detail says why.
	ErrInvalidRequest = sentinel("invalid request")
	// ErrRateLimited: too many requests. Wait for the *APIError's
	// RetryAfter, then try again.
	ErrRateLimited = sentinel("rate limited")
	// ErrUnavailable: the service could not be reached or could not
	// accept the request. Nothing is known to have been accepted: refuse
	// the action (fail closed) and try again later.
	ErrUnavailable = sentinel("service unavailable")
)

type sentinelError string

func sentinel(s string) error { return sentinelError("agentmint: " + s) }

func (e sentinelError) Error() string { return string(e) }

// APIError is an error answer of the service: an RFC 9457 problem details
// object. It never contains the token.
type APIError struct {
	// Status is the HTTP status.
	Status int
	// Code is the service's stable code, such as "token_used"; empty if
	// the answer was not a problem details object (a proxy's error page).
	Code string
	// Reason is why a token was refused, such as "unknown_key" (see the
	// token package's Reason values); empty otherwise.
	Reason string
	// Detail is the service's explanation for a human.
	Detail string
	// RetryAfter is how long the service asked the client to wait; zero
	// if it did not say.
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("agentmint: ")
	b.WriteString(strconv.Itoa(e.Status))
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Reason != "" {
		b.WriteString(" (" + e.Reason + ")")
	}
	if e.Detail != "" {
		b.WriteString(": " + e.Detail)
	}
	return b.String()
}

// Is matches the sentinel of the error's class.
func (e *APIError) Is(target error) bool {
	return target == e.class()
}

func (e *APIError) class() error {
	switch e.Code {
	case "token_used":
		return ErrTokenUsed
	case "token_expired":
		return ErrTokenExpired
	case "invalid_token":
		return ErrInvalidToken
	case "forbidden":
		return ErrForbidden
	case "unauthorized":
		return ErrUnauthorized
	case "invalid_request", "too_large":
		return ErrInvalidRequest
	case "rate_limited":
		return ErrRateLimited
	case "unavailable":
		return ErrUnavailable
	}
	switch s := e.Status; {
	case s == http.StatusTooManyRequests:
		return ErrRateLimited
	case s == http.StatusUnauthorized:
		return ErrUnauthorized
	case s == http.StatusForbidden:
		return ErrForbidden
	case s == http.StatusConflict:
		return ErrTokenUsed
	case s >= 500:
		return ErrUnavailable
	}
	return nil
}

// errorFrom turns an answer other than 200 into an *APIError. The body
// comes from the network: it is parsed leniently and only its short
// string members are kept.
func errorFrom(status int, h http.Header, body []byte) *APIError {
	e := &APIError{Status: status, RetryAfter: retryAfter(h.Get("Retry-After"))}
	ct := h.Get("Content-Type")
	if !strings.HasPrefix(ct, "application/problem+json") &&
		!strings.HasPrefix(ct, "application/json") {
		return e
	}
	var p struct {
		Code   string `json:"code"`
		Reason string `json:"reason"`
		Detail string `json:"detail"`
	}
	if json.Unmarshal(body, &p) != nil {
		return e
	}
	e.Code, e.Reason, e.Detail = clip(p.Code, 64), clip(p.Reason, 64), clip(p.Detail, 512)
	return e
}

// retryAfter parses a Retry-After header: delay-seconds or an HTTP date
// (RFC 9110 section 10.2.3).
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 32); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d.Round(time.Second)
		}
	}
	return 0
}

// clip keeps at most n bytes of s, without control characters, so that an
// answer cannot inject lines into a caller's log.
func clip(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, s)
}
