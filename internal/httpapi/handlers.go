package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/agentmint/agentmint/internal/audit"
	"github.com/agentmint/agentmint/internal/ledger"
	"github.com/agentmint/agentmint/token"
)

// MintRequest is the body of POST /mint.
type MintRequest struct {
	Sub        string          `json:"sub"`
	Action     string          `json:"action"`
	TTLSeconds *int64          `json:"ttl_seconds,omitempty"`
	Aud        string          `json:"aud,omitempty"`
	Details    json.RawMessage `json:"details,omitempty"`
}

// MintResponse is the answer of POST /mint.
type MintResponse struct {
	Token string `json:"token"`
	JTI   string `json:"jti"`
	Exp   int64  `json:"exp"`
}

// ProxyRequest is the body of POST /proxy.
type ProxyRequest struct {
	Token  *string `json:"token"`
	Action string  `json:"action,omitempty"`
	Aud    string  `json:"aud,omitempty"`
}

// ProxyResponse is the answer of POST /proxy: who approved what.
type ProxyResponse struct {
	Sub        string          `json:"sub"`
	Action     string          `json:"action"`
	JTI        string          `json:"jti"`
	Aud        string          `json:"aud,omitempty"`
	Details    json.RawMessage `json:"details,omitempty"`
	AMR        []string        `json:"amr,omitempty"`
	IssuedAt   int64           `json:"iat"`
	Exp        int64           `json:"exp"`
	VerifiedAt string          `json:"verified_at"`
	AuditIndex int64           `json:"audit_index"`
	// MintedBy names the caller that minted the token, when it was minted
	// with a key.
	MintedBy string `json:"minted_by,omitempty"`
}

// AuditRecord is one line of GET /audit.
type AuditRecord struct {
	JTI        string `json:"jti"`
	Sub        string `json:"sub"`
	Action     string `json:"action"`
	VerifiedAt string `json:"verified_at"`
}

// timeFormat is how times are written in responses: RFC 3339, UTC,
// milliseconds.
const timeFormat = "2006-01-02T15:04:05.000Z07:00"

func (s *Server) mint(w http.ResponseWriter, r *http.Request) error {
	// 1. Read and check the request.
	var req MintRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	ttl, err := mintTTL(req.TTLSeconds)
	if err != nil {
		return err
	}
	if err := validateMint(&req); err != nil {
		return err
	}
	if err := check(w, s.limits.sub, req.Sub, s.now()); err != nil {
		s.recordRejection(r.Context(), audit.ReasonThrottled,
			&token.Claims{Subject: req.Sub, Action: req.Action})
		return err
	}

	// 2. Sign and record it, then answer.
	return s.issue(w, r, token.Claims{
		Subject: req.Sub, Audience: req.Aud, Action: req.Action, Details: req.Details,
	}, ttl, audit.Entry{Event: audit.EventMinted, Caller: callerName(r.Context())})
}

// issue mints a token of c, living ttl seconds, and answers with it. The
// issuer, jti and times are filled in here, and so are the entry's time,
// jti, sub, action and aud: the entry is recorded durably before the token
// leaves, so that no token exists without its audit entry. The token
// itself is never logged.
func (s *Server) issue(w http.ResponseWriter, r *http.Request, c token.Claims,
	ttl int64, e audit.Entry) error {
	// 1. Sign the claims with the current key.
	now := s.now()
	jti, err := token.NewID(now)
	if err != nil {
		return err
	}
	c.Issuer, c.ID = s.issuer, jti
	c.IssuedAt, c.Expiry = now.Unix(), now.Unix()+ttl
	tok, err := s.sign(&c)
	if err != nil {
		return err
	}

	// 2. Record it before the token leaves.
	e.Time, e.JTI, e.Sub, e.Action, e.Aud = now, jti, c.Subject, c.Action, c.Audience
	if _, err := s.store.Append(r.Context(), e); err != nil {
		return err
	}

	// 3. Answer.
	s.meter.Minted()
	s.log.DebugContext(r.Context(), "token issued",
		slog.String("jti", jti), slog.String("event", string(e.Event)))
	return writeJSON(w, http.StatusOK, MintResponse{Token: tok, JTI: jti, Exp: c.Expiry})
}

// sign signs c with the current key.
func (s *Server) sign(c *token.Claims) (string, error) {
	tok, err := s.keys.Sign(c)
	if errors.Is(err, token.ErrTooLarge) {
		return "", badRequest("the token would exceed 2048 bytes: shorten sub or details")
	}
	if err != nil {
		return "", fmt.Errorf("failed to sign token: %v", err)
	}
	return tok, nil
}

func mintTTL(p *int64) (int64, error) {
	if p == nil {
		return int64(token.DefaultTTL / time.Second), nil
	}
	min, max := int64(token.MinTTL/time.Second), int64(token.MaxTTL/time.Second)
	if *p < min || *p > max {
		return 0, badRequest(fmt.Sprintf("ttl_seconds must be an integer from %d to %d", min, max))
	}
	return *p, nil
}

func validateMint(req *MintRequest) error {
	if err := token.ValidateSub(req.Sub); err != nil {
		return badRequest(err.Error())
	}
	if err := token.ValidateAction(req.Action); err != nil {
		return badRequest(err.Error())
	}
	if req.Aud != "" {
		if err := token.ValidateAud(req.Aud); err != nil {
			return badRequest(err.Error())
		}
	}
	if req.Details != nil {
		d, err := token.CanonicalDetails(req.Details)
		if err != nil {
			return badRequest(err.Error())
		}
		req.Details = d
	}
	return nil
}

func (s *Server) proxy(w http.ResponseWriter, r *http.Request) error {
	// 1. Read the request; a missing token is a bad request, a bad one is
	// a 401.
	var req ProxyRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	if req.Token == nil || *req.Token == "" {
		return badRequest("token is required")
	}
	if req.Action != "" && token.ValidateAction(req.Action) != nil {
		return badRequest("action must be 1 to 64 printable ASCII characters")
	}
	if req.Aud != "" && token.ValidateAud(req.Aud) != nil {
		return badRequest("aud must be 1 to 256 printable ASCII characters")
	}

	// 2. Verify it; a rejected token consumes nothing.
	now := s.now()
	c, err := token.Verify(*req.Token, s.keys, token.Expect{
		Issuer: s.issuer, Action: req.Action, Audience: req.Aud, Now: now,
	})
	if err != nil {
		var te *token.Error
		if errors.As(err, &te) {
			s.meter.Rejected(string(te.Reason))
			s.recordRejection(r.Context(), auditReason(te.Reason), te.Claims)
		}
		return err
	}

	// 3. Find who minted it, before anything is consumed.
	minter, err := s.minter(r.Context(), c.ID)
	if err != nil {
		return err
	}

	// 4. Consume the jti and record the verification in one transaction.
	e, err := s.store.Consume(r.Context(), ledger.Consumption{
		JTI: c.ID, Until: c.ExpiresAt(),
		Entry: audit.Entry{
			Time: now, Event: audit.EventVerified, JTI: c.ID,
			Sub: c.Subject, Action: c.Action, Aud: c.Audience,
			Caller: callerName(r.Context()),
		},
	})
	if errors.Is(err, ledger.ErrAlreadyUsed) {
		s.meter.Replayed()
		s.meter.Rejected(string(audit.ReasonReplay))
		s.recordRejection(r.Context(), audit.ReasonReplay, c)
		s.log.WarnContext(r.Context(), "replay refused", slog.String("jti", c.ID))
		return err
	}
	if err != nil {
		return err
	}

	// 5. Answer who approved what.
	s.meter.Verified()
	return writeJSON(w, http.StatusOK, ProxyResponse{
		Sub: c.Subject, Action: c.Action, JTI: c.ID, Aud: c.Audience,
		Details: c.Details, AMR: c.AMR, IssuedAt: c.IssuedAt, Exp: c.Expiry,
		VerifiedAt: e.Time.Format(timeFormat), AuditIndex: e.Index,
		MintedBy: minter,
	})
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) error {
	if err := s.store.Ping(r.Context()); err != nil {
		s.log.WarnContext(r.Context(), "not ready", slog.String("error", err.Error()))
		writeProblem(w, newProblem(http.StatusServiceUnavailable, CodeUnavailable,
			"the ledger is unavailable"))
		return nil
	}
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (s *Server) jwks(w http.ResponseWriter, r *http.Request) error {
	b, err := s.keys.MarshalJWKS()
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", jwksCacheControl)
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, err = w.Write(b)
	return err
}

// jwksCacheControl is the caching of the JWKS. NOTE: a rotated-in key signs
// as soon as a server notices it, so verifiers must refresh on an unknown
// kid whatever the cache says; a minute of freshness bounds how long a
// retired key lingers in caches, and it can only verify tokens that have
// expired anyway. stale-if-error (RFC 5861) lets a verifier that cannot
// reach the service keep the last set for as long as a token minted just
// before the outage lives.
var jwksCacheControl = "public, max-age=60, stale-if-error=" +
	strconv.Itoa(int((token.MaxTTL+token.Leeway)/time.Second))

// decodeBody reads a JSON object of at most MaxBodySize bytes into v,
// refusing unknown members, mistyped values and trailing data.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodySize))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return badRequest("failed to read request body")
	}
	return decodeJSON(body, v)
}

// decodeJSON is decodeBody's parser, apart so that it can be fuzzed.
func decodeJSON(body []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te) && te.Field != "":
			return badRequest("field " + te.Field + " has the wrong type")
		case errors.As(err, &te):
			return badRequest("request body must be a JSON object")
		case bytes.HasPrefix([]byte(err.Error()), []byte("json: unknown field")):
			return badRequest("request body has an unknown field")
		}
		return badRequest("request body is not valid JSON")
	}
	if _, err := d.Token(); err != io.EOF {
		return badRequest("request body has data after the JSON object")
	}
	return nil
}

var jsonContentType = []string{"application/json"}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("failed to encode response: %v", err)
	}
	h := w.Header()
	h["Content-Type"] = jsonContentType // shared, as securityHeaders
	h["Content-Length"] = []string{strconv.Itoa(len(b) + 1)}
	w.WriteHeader(status)
	_, err = w.Write(append(b, '\n'))
	return err
}
