// Package client is the Go client of the AgentMint HTTP API.
//
// A backend that has obtained a human's approval calls Mint; a resource
// provider that is handed a token calls Verify, which checks the token and
// consumes it so that it is honoured once, or wraps its handlers in
// Middleware. VerifyOffline checks a token against the published keys
// without asking the service, and cannot tell whether the token has been
// used before.
//
// Every method takes a context and returns errors that match the sentinels
// of this package with errors.Is (ErrTokenUsed, ErrTokenExpired, ...) and,
// for answers of the service, an *APIError with errors.As.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultIssuer is the issuer an AgentMint server names unless configured
// otherwise (agentmint serve --issuer).
const DefaultIssuer = "agentmint"

// maxResponseSize bounds what the client reads of any answer.
const maxResponseSize = 1 << 20

// Client talks to one AgentMint service. It is safe for concurrent use.
type Client struct {
	base    *url.URL
	apiKey  string
	hc      *http.Client
	issuer  string
	now     func() time.Time
	refresh time.Duration
	jwks    jwksCache
}

// Option configures a Client.
type Option func(*Client)

// WithAPIKey sends key as Authorization: Bearer with every request.
func WithAPIKey(key string) Option {
	return func(c *Client) { c.apiKey = key }
}

// WithHTTPClient makes the client send its requests through hc.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) { c.hc = hc }
}

// WithIssuer sets the iss that VerifyOffline requires; the default is
// DefaultIssuer.
func WithIssuer(iss string) Option {
	return func(c *Client) { c.issuer = iss }
}

// WithClock sets the clock VerifyOffline checks times and caches against;
// the default is time.Now.
func WithClock(now func() time.Time) Option {
	return func(c *Client) { c.now = now }
}

// WithKeyRefreshInterval sets the least time between two fetches of the
// key set caused by an unknown kid or a failed fetch; the default is 10
// seconds. It keeps a flood of tokens with made-up kids from turning into
// a flood of requests to the service.
func WithKeyRefreshInterval(d time.Duration) Option {
	return func(c *Client) { c.refresh = d }
}

// New returns a client of the service at baseURL, such as
// "https://agentmint.example.com". It fails only if baseURL is not an
// absolute http or https URL.
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("agentmint: invalid base URL %q: want http(s)://host[:port][/path]", baseURL)
	}
	c := &Client{
		base: u, hc: http.DefaultClient, issuer: DefaultIssuer,
		now: time.Now, refresh: 10 * time.Second,
	}
	for _, o := range opts {
		o(c)
	}
	c.jwks.sem = make(chan struct{}, 1)
	return c, nil
}

// MintRequest is what a token is minted for.
type MintRequest struct {
	// Sub names the human who approved, such as an email address.
	Sub string
	// Action is the exact action approved, such as "refund:order:123".
	Action string
	// TTL is the token's lifetime, in whole seconds from 1s to 300s; zero
	// means the service's default of 60s.
	TTL time.Duration
	// Aud, if not empty, binds the token to one resource provider.
	Aud string
	// Details, if not nil, is a JSON object of parameters of the action,
	// such as an amount; it is signed into the token.
	Details any
}

// MintResponse is a freshly minted token.
type MintResponse struct {
	// Token is the string the agent carries. Treat it as a secret until it
	// is used: never log it.
	Token string
	// JTI is the token's unique id, safe to log.
	JTI string
	// ExpiresAt is the token's exp.
	ExpiresAt time.Time
}

// Mint asks the service to sign a token for an approved action.
func (c *Client) Mint(ctx context.Context, req MintRequest) (*MintResponse, error) {
	body := struct {
		Sub     string `json:"sub"`
		Action  string `json:"action"`
		TTL     int64  `json:"ttl_seconds,omitempty"`
		Aud     string `json:"aud,omitempty"`
		Details any    `json:"details,omitempty"`
	}{Sub: req.Sub, Action: req.Action, Aud: req.Aud, Details: req.Details}
	if req.TTL%time.Second != 0 || req.TTL < 0 {
		return nil, fmt.Errorf("agentmint: TTL %v is not a whole number of seconds", req.TTL)
	}
	body.TTL = int64(req.TTL / time.Second)
	var res struct {
		Token string `json:"token"`
		JTI   string `json:"jti"`
		Exp   int64  `json:"exp"`
	}
	if err := c.post(ctx, "/mint", body, &res); err != nil {
		return nil, err
	}
	return &MintResponse{Token: res.Token, JTI: res.JTI, ExpiresAt: time.Unix(res.Exp, 0)}, nil
}

// VerifyOption binds a verification to what the caller is about to do.
type VerifyOption func(*binding)

type binding struct {
	action, aud string
}

// ForAction requires the token to have been minted for exactly this
// action. A token minted for another action fails with ErrForbidden and,
// online, is not consumed.
func ForAction(action string) VerifyOption {
	return func(b *binding) { b.action = action }
}

// ForAudience requires the token's aud to be exactly aud. A token minted
// for another audience fails with ErrForbidden and, online, is not
// consumed.
func ForAudience(aud string) VerifyOption {
	return func(b *binding) { b.aud = aud }
}

func bind(opts []VerifyOption) binding {
	var b binding
	for _, o := range opts {
		o(&b)
	}
	return b
}

// Verified is a token the service has verified and consumed: who approved
// what, and where the verification sits in the audit log.
type Verified struct {
	Sub        string          `json:"sub"`
	Action     string          `json:"action"`
	JTI        string          `json:"jti"`
	Aud        string          `json:"aud,omitempty"`
	Details    json.RawMessage `json:"details,omitempty"`
	AMR        []string        `json:"amr,omitempty"`
	IssuedAt   int64           `json:"iat"`
	ExpiresAt  int64           `json:"exp"`
	VerifiedAt time.Time       `json:"verified_at"`
	AuditIndex int64           `json:"audit_index"`
}

// Verify asks the service to verify the token and consume it. A nil error
// means the token was valid and this call is the one presentation that
// will ever succeed: the caller may perform the action. A second
// presentation of the same token fails with ErrTokenUsed.
func (c *Client) Verify(ctx context.Context, tok string, opts ...VerifyOption) (*Verified, error) {
	b := bind(opts)
	body := struct {
		Token  string `json:"token"`
		Action string `json:"action,omitempty"`
		Aud    string `json:"aud,omitempty"`
	}{tok, b.action, b.aud}
	var v Verified
	if err := c.post(ctx, "/proxy", body, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// post sends in as JSON to path and decodes a 200 answer into out.
func (c *Client) post(ctx context.Context, path string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("agentmint: failed to encode request: %v", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url(path), bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("agentmint: failed to build request: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, body, err := c.do(req)
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		return errorFrom(res.StatusCode, res.Header, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("agentmint: failed to decode answer of %s: %v", path, err)
	}
	return nil
}

// do sends req with the API key and reads the whole answer. A request that
// gets no answer is ErrUnavailable, or the context's error if it ended.
func (c *Client) do(req *http.Request) (*http.Response, []byte, error) {
	req.Header.Set("Accept", "application/json, application/problem+json")
	if c.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.apiKey)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		if ctxErr := req.Context().Err(); ctxErr != nil {
			return nil, nil, ctxErr
		}
		return nil, nil, &transportError{err}
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxResponseSize))
	if err != nil {
		return nil, nil, &transportError{err}
	}
	return res, body, nil
}

func (c *Client) url(path string) string {
	return c.base.String() + path
}

// transportError is a request that got no answer.
type transportError struct{ err error }

func (e *transportError) Error() string {
	return "agentmint: service unavailable: " + e.err.Error()
}

func (e *transportError) Unwrap() []error { return []error{ErrUnavailable, e.err} }
