package httpapi

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/agentmint/agentmint/internal/audit"
	"github.com/agentmint/agentmint/internal/passkey"
	"github.com/agentmint/agentmint/token"
	"github.com/agentmint/agentmint/web"
)

// RegisterStartRequest is the body of POST /webauthn/register/start.
type RegisterStartRequest struct {
	UserID   string `json:"user_id"`
	UserName string `json:"user_name,omitempty"`
}

// PasskeyFinishRequest is the body of POST /webauthn/register/finish and
// /webauthn/auth/finish. Action, for auth/finish only, names the action the
// caller expects the approval to be for.
type PasskeyFinishRequest struct {
	UserID     string          `json:"user_id"`
	Credential json.RawMessage `json:"credential"`
	Action     string          `json:"action,omitempty"`
}

// RegisterFinishResponse is the answer of POST /webauthn/register/finish.
type RegisterFinishResponse struct {
	UserID       string `json:"user_id"`
	CredentialID string `json:"credential_id"`
}

// ApprovalStartRequest is the body of POST /webauthn/auth/start.
type ApprovalStartRequest struct {
	UserID     string          `json:"user_id"`
	Action     string          `json:"action"`
	TTLSeconds *int64          `json:"ttl_seconds,omitempty"`
	Aud        string          `json:"aud,omitempty"`
	Details    json.RawMessage `json:"details,omitempty"`
}

// ApprovalStartResponse is the answer of POST /webauthn/auth/start: the
// options for navigator.credentials.get, and the request the authenticator
// will sign, to show to the approver.
type ApprovalStartResponse struct {
	PublicKey json.RawMessage `json:"publicKey"`
	Approval  ApprovalView    `json:"approval"`
}

// ApprovalView is an approval request as the approver sees it. Display
// holds the same values with every invisible or bidirectional control
// character written as its code point (passkey.Reveal).
type ApprovalView struct {
	Sub        string          `json:"sub"`
	Action     string          `json:"action"`
	Aud        string          `json:"aud,omitempty"`
	Details    json.RawMessage `json:"details,omitempty"`
	TTLSeconds int64           `json:"ttl_seconds"`
	Display    ApprovalDisplay `json:"display"`
}

// ApprovalDisplay is the text of an approval request, made visible.
type ApprovalDisplay struct {
	Sub     string `json:"sub"`
	Action  string `json:"action"`
	Aud     string `json:"aud,omitempty"`
	Details string `json:"details,omitempty"`
}

// pageCSP is the Content-Security-Policy of the passkey page: its own
// script, style and API only.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; " +
	"frame-ancestors 'none'"

// passkeyRoutes adds the WebAuthn endpoints and page when passkeys are
// configured.
func (s *Server) passkeyRoutes() {
	if s.passkeys == nil {
		return
	}
	s.handle("POST", "/webauthn/register/start", s.registerStart)
	s.handle("POST", "/webauthn/register/finish", s.registerFinish)
	s.handle("POST", "/webauthn/auth/start", s.approvalStart)
	s.handle("POST", "/webauthn/auth/finish", s.approvalFinish)
	files := http.StripPrefix("/webauthn/", http.FileServerFS(web.Passkey))
	s.handle("GET", "/webauthn/", func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Security-Policy", pageCSP)
		w.Header().Set("Cross-Origin-Opener-Policy", "same-origin")
		files.ServeHTTP(w, r)
		return nil
	})
}

// clientAddr is the address a request came from, for the passkey rate
// limits: the TCP peer, or the forwarded client of a trusted proxy.
func (s *Server) clientAddr(r *http.Request) string {
	ip, _ := clientIP(r.RemoteAddr, r.Header.Values("X-Forwarded-For"), s.trustedProxies)
	return ip.String()
}

func (s *Server) registerStart(w http.ResponseWriter, r *http.Request) error {
	// 1. Only a minter vouches for who the person is: the guard has
	// checked the caller's role (routeRole).
	var req RegisterStartRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}

	// 2. The options for navigator.credentials.create.
	opts, err := s.passkeys.BeginRegistration(r.Context(), req.UserID, req.UserName, s.clientAddr(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]json.RawMessage{"publicKey": opts})
}

// registerFinish needs no role: the challenge it answers, single-use and
// kept server-side, was issued to a minter.
func (s *Server) registerFinish(w http.ResponseWriter, r *http.Request) error {
	var req PasskeyFinishRequest
	if err := decodeFinish(w, r, &req); err != nil {
		return err
	}
	if req.Action != "" {
		return badRequest("request body has an unknown field")
	}
	c, err := s.passkeys.FinishRegistration(r.Context(), req.UserID, req.Credential)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, RegisterFinishResponse{
		UserID: req.UserID, CredentialID: base64.RawURLEncoding.EncodeToString(c.ID),
	})
}

// decodeFinish reads the body of a finish endpoint: a user and a
// credential, both present.
func decodeFinish(w http.ResponseWriter, r *http.Request, req *PasskeyFinishRequest) error {
	if err := decodeBody(w, r, req); err != nil {
		return err
	}
	if req.UserID == "" {
		return badRequest("user_id is required")
	}
	if len(req.Credential) == 0 || bytes.Equal(req.Credential, []byte("null")) {
		return badRequest("credential is required")
	}
	return nil
}

func (s *Server) approvalStart(w http.ResponseWriter, r *http.Request) error {
	// 1. The approval request, checked as /mint checks its fields, with a
	// fresh nonce.
	var req ApprovalStartRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	ttl, err := mintTTL(req.TTLSeconds)
	if err != nil {
		return err
	}
	ar, err := passkey.NewRequest(req.UserID, req.Action, req.Aud, req.Details, ttl, rand.Reader)
	if err != nil {
		return badRequest(err.Error())
	}

	// 2. The options whose challenge is the request's hash.
	b, err := s.passkeys.BeginApproval(r.Context(), ar, s.clientAddr(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, ApprovalStartResponse{
		PublicKey: b.Options, Approval: approvalView(b.Request),
	})
}

func approvalView(r passkey.Request) ApprovalView {
	v := ApprovalView{
		Sub: r.Sub, Action: r.Action, Aud: r.Aud, Details: r.Details, TTLSeconds: r.TTLSeconds,
		Display: ApprovalDisplay{
			Sub: passkey.Reveal(r.Sub), Action: passkey.Reveal(r.Action),
			Aud: passkey.Reveal(r.Aud),
		},
	}
	if len(r.Details) > 0 {
		var pretty bytes.Buffer
		if json.Indent(&pretty, r.Details, "", "  ") == nil {
			v.Display.Details = passkey.Reveal(pretty.String())
		}
	}
	return v
}

func (s *Server) approvalFinish(w http.ResponseWriter, r *http.Request) error {
	// 1. Read the request; garbage is a 400 and counts for nothing.
	var req PasskeyFinishRequest
	if err := decodeFinish(w, r, &req); err != nil {
		return err
	}
	if req.Action != "" && token.ValidateAction(req.Action) != nil {
		return badRequest("action must be 1 to 64 printable ASCII characters")
	}

	// 2. Verify the assertion against the stored request.
	a, err := s.passkeys.FinishApproval(r.Context(), req.UserID, req.Credential, req.Action)
	if err != nil {
		return err
	}

	// 3. Mint the token for exactly the signed request, recording the
	// evidence before anyone sees the token (fail closed).
	return s.issue(w, r, token.Claims{
		Subject: a.Request.Sub, Audience: a.Request.Aud, Action: a.Request.Action,
		Details: a.Request.Details, AMR: []string{"passkey"},
	}, a.Request.TTLSeconds, audit.Entry{
		Event: audit.EventPasskeyApproved, Evidence: a.Evidence,
	})
}

// passkeyProblem maps a refused passkey request to what the client sees.
func passkeyProblem(f *passkey.Failure) Problem {
	switch f.Kind {
	case passkey.Invalid:
		return newProblem(http.StatusBadRequest, CodeInvalidRequest, f.Reason)
	case passkey.Limited:
		return newProblem(http.StatusTooManyRequests, CodeRateLimited, f.Reason)
	}
	return newProblem(http.StatusUnauthorized, CodeUnauthorized, f.Reason)
}

// setRetryAfter adds a Retry-After header, in whole seconds rounded up,
// when err is a passkey request refused for a while.
func setRetryAfter(w http.ResponseWriter, err error) {
	var f *passkey.Failure
	if errors.As(err, &f) && f.Kind == passkey.Limited {
		secs := int64((f.RetryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.FormatInt(max(secs, 1), 10))
	}
}
