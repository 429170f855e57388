// Package passkey is AgentMint's WebAuthn relying party: it registers
// passkeys and turns an assertion into an approval of one exact action.
//
// The challenge of an approval is not random: it is SHA-256 of the
// canonical approval request (Request.Canonical: user, action, audience,
// details, lifetime and a fresh 256-bit nonce kept server-side), so the
// approver's authenticator signs the action itself, and the audit log can
// keep evidence that anyone can re-check (VerifyEvidence).
//
// The ceremonies are checked by go-webauthn; this package adds what the
// library leaves to the relying party. Storage is behind Store; the
// package does no I/O of its own.
package passkey

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/agentmint/agentmint/internal/audit"
)

// ChallengeTTL is how long a begun ceremony may take to finish.
const ChallengeTTL = 5 * time.Minute

// Auditor appends entries to the audit log; ledger.Store is one.
type Auditor interface {
	Append(ctx context.Context, e audit.Entry) (audit.Entry, error)
}

// Config is what a Service needs.
type Config struct {
	// RPID is the relying party id, a domain such as "example.com".
	RPID string
	// RPOrigin is the one origin pages may use, e.g. "https://example.com".
	RPOrigin string
	// RPName is shown by authenticators; "AgentMint" when empty.
	RPName string
	Store  Store
	Audit  Auditor
	Log    *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// UserLimit and IPLimit limit the start endpoints; zero means the
	// defaults.
	UserLimit, IPLimit Limit
}

// Service runs the registration and approval ceremonies.
type Service struct {
	wa     *webauthn.WebAuthn
	rpID   string
	origin string
	store  Store
	audit  Auditor
	log    *slog.Logger
	now    func() time.Time
	rand   io.Reader
	users  *limiter
	ips    *limiter
}

// New returns a Service for cfg, or an error if the relying party is
// misconfigured.
func New(cfg Config) (*Service, error) {
	if cfg.RPName == "" {
		cfg.RPName = "AgentMint"
	}
	timeout := webauthn.TimeoutConfig{
		Enforce: true, Timeout: ChallengeTTL, TimeoutUVD: ChallengeTTL,
	}
	wa, err := webauthn.New(&webauthn.Config{
		RPID:                  cfg.RPID,
		RPDisplayName:         cfg.RPName,
		RPOrigins:             []string{cfg.RPOrigin},
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementPreferred,
			UserVerification: protocol.VerificationRequired,
		},
		Timeouts: webauthn.TimeoutsConfig{Login: timeout, Registration: timeout},
	})
	if err != nil {
		return nil, fmt.Errorf("invalid WebAuthn relying party: %v", err)
	}
	s := &Service{
		wa: wa, rpID: cfg.RPID, origin: cfg.RPOrigin,
		store: cfg.Store, audit: cfg.Audit, log: cfg.Log, now: cfg.Now,
		rand: rand.Reader,
	}
	if s.now == nil {
		s.now = time.Now
	}
	if cfg.UserLimit == (Limit{}) {
		cfg.UserLimit = DefaultUserLimit
	}
	if cfg.IPLimit == (Limit{}) {
		cfg.IPLimit = DefaultIPLimit
	}
	s.users, s.ips = newLimiter(cfg.UserLimit), newLimiter(cfg.IPLimit)
	return s, nil
}

// FailureKind says how a refused request should be answered.
type FailureKind int

// The kinds of failure.
const (
	// Invalid is a malformed request: nothing was counted or consumed
	// unless the reason says so.
	Invalid FailureKind = iota + 1
	// Denied is a ceremony that did not verify.
	Denied
	// Limited is a request refused by a rate limit or a lockout; RetryAfter
	// says when to try again.
	Limited
)

// Failure is a refused request. Reason is a fixed phrase that a client may
// see; the cause, for the log, is reached with errors.Unwrap.
type Failure struct {
	Kind       FailureKind
	Reason     string
	RetryAfter time.Duration
	cause      error
}

func (f *Failure) Error() string {
	if f.cause != nil {
		return f.Reason + ": " + f.cause.Error()
	}
	return f.Reason
}

func (f *Failure) Unwrap() error { return f.cause }

func invalid(reason string, cause error) error {
	return &Failure{Kind: Invalid, Reason: reason, cause: cause}
}

func denied(reason string, cause error) error {
	return &Failure{Kind: Denied, Reason: reason, cause: cause}
}

// allow applies the per-user and per-IP limits of the start endpoints.
func (s *Service) allow(userID, ip string) error {
	now := s.now()
	if ok, wait := s.ips.allow(ip, now); !ok {
		return &Failure{Kind: Limited, Reason: "too many requests from this address",
			RetryAfter: wait}
	}
	if ok, wait := s.users.allow(userID, now); !ok {
		return &Failure{Kind: Limited, Reason: "too many requests for this user",
			RetryAfter: wait}
	}
	return nil
}

// locked refuses a user who is locked out.
func (s *Service) locked(ctx context.Context, userID string) error {
	l, err := s.store.Lockout(ctx, userID)
	if err != nil {
		return err
	}
	if now := s.now(); l.Locked(now) {
		return &Failure{Kind: Limited, RetryAfter: l.LockedUntil.Sub(now),
			Reason: "too many failed passkey approvals; try again later"}
	}
	return nil
}

// account is a user with credentials, as go-webauthn sees one.
type account struct {
	user  User
	creds []Credential
}

func (a account) WebAuthnID() []byte          { return a.user.Handle }
func (a account) WebAuthnName() string        { return a.user.Name }
func (a account) WebAuthnDisplayName() string { return a.user.Name }

func (a account) WebAuthnCredentials() []webauthn.Credential {
	out := make([]webauthn.Credential, len(a.creds))
	for i, c := range a.creds {
		ts := make([]protocol.AuthenticatorTransport, len(c.Transports))
		for j, t := range c.Transports {
			ts[j] = protocol.AuthenticatorTransport(t)
		}
		out[i] = webauthn.Credential{
			ID: c.ID, PublicKey: c.PublicKey, AttestationFormat: c.AttestationFormat,
			Transport: ts,
			Flags: webauthn.CredentialFlags{
				UserPresent: true, UserVerified: true,
				BackupEligible: c.BackupEligible, BackupState: c.BackupState,
			},
			Authenticator: webauthn.Authenticator{AAGUID: c.AAGUID, SignCount: c.SignCount},
		}
	}
	return out
}

// loadAccount returns a user and their credentials, or ErrNotFound.
func (s *Service) loadAccount(ctx context.Context, userID string) (account, error) {
	u, err := s.store.User(ctx, userID)
	if err != nil {
		return account{}, err
	}
	creds, err := s.store.Credentials(ctx, userID)
	if err != nil {
		return account{}, err
	}
	return account{user: u, creds: creds}, nil
}

// takeChallenge removes the challenge an authenticator signed, so that it
// is used by this finish attempt and no other whatever the outcome, and
// checks that it is unexpired and of this user and ceremony. It returns
// the challenge and its go-webauthn session.
func (s *Service) takeChallenge(ctx context.Context, signed, userID string,
	kind ChallengeKind) (Challenge, webauthn.SessionData, error) {
	var sd webauthn.SessionData
	value, err := base64.RawURLEncoding.Strict().DecodeString(signed)
	if err != nil || len(value) == 0 {
		return Challenge{}, sd, invalid("credential has no valid challenge", err)
	}
	c, err := s.store.TakeChallenge(ctx, value)
	if errors.Is(err, ErrNotFound) {
		return c, sd, denied("unknown, used or expired challenge", nil)
	}
	if err != nil {
		return c, sd, err
	}
	switch {
	case c.UserID != userID || c.Kind != kind:
		return c, sd, denied("unknown, used or expired challenge",
			errors.New("challenge of another user or ceremony"))
	case !s.now().Before(c.Expires):
		return c, sd, denied("unknown, used or expired challenge",
			errors.New("challenge expired"))
	}
	if err := json.Unmarshal(c.Session, &sd); err != nil {
		return c, sd, fmt.Errorf("failed to decode stored session: %v", err)
	}
	return c, sd, nil
}

// putChallenge stores the challenge of a begun ceremony.
func (s *Service) putChallenge(ctx context.Context, value []byte, userID string,
	kind ChallengeKind, sd *webauthn.SessionData, req []byte) error {
	session, err := json.Marshal(sd)
	if err != nil {
		return fmt.Errorf("failed to encode session: %v", err)
	}
	return s.store.PutChallenge(ctx, Challenge{
		Value: value, UserID: userID, Kind: kind, Session: session,
		Request: req, Expires: s.now().Add(ChallengeTTL),
	})
}

// Prune deletes expired challenges and stale lockout records.
func (s *Service) Prune(ctx context.Context) (int64, error) {
	return s.store.PruneChallenges(ctx, s.now())
}

// Unlock lifts the lockout of a user, records it in the audit log if there
// was a record to lift, and reports whether the user was locked out.
func Unlock(ctx context.Context, st Store, a Auditor, userID string, now time.Time) (bool, error) {
	var prev Lockout
	if _, err := st.UpdateLockout(ctx, userID, func(l Lockout) Lockout {
		prev = l
		return Lockout{}
	}); err != nil {
		return false, err
	}
	if prev == (Lockout{}) {
		return false, nil
	}
	_, err := a.Append(ctx, audit.Entry{
		Time: now, Event: audit.EventPasskeyUnlocked, Sub: userID,
	})
	return prev.Locked(now), err
}
