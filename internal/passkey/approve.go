package passkey

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/agentmint/agentmint/internal/audit"
)

// Begun is a begun approval: the options for navigator.credentials.get and
// the request the authenticator will sign, to show to the approver.
type Begun struct {
	Options json.RawMessage // PublicKeyCredentialRequestOptions, as JSON
	Request Request
}

// Approval is a verified approval: the request the approver's passkey
// signed, the credential that signed it, and the evidence for the audit
// log.
type Approval struct {
	Request    Request
	Credential Credential
	Evidence   json.RawMessage
}

// BeginApproval begins the approval of r, whose Sub is the approver and
// whose Nonce NewRequest drew. The challenge is SHA-256 of r's canonical
// encoding. ip is the caller's address, for the rate limit.
func (s *Service) BeginApproval(ctx context.Context, r Request, ip string) (Begun, error) {
	// 1. Check the request and the limits; a locked-out user gets nothing.
	if err := r.validate(); err != nil {
		return Begun{}, invalid(err.Error(), nil)
	}
	if err := s.allow(r.Sub, ip); err != nil {
		return Begun{}, err
	}
	if err := s.locked(ctx, r.Sub); err != nil {
		return Begun{}, err
	}

	// 2. The user's credentials, all allowed.
	acct, err := s.loadAccount(ctx, r.Sub)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Begun{}, err
	}
	if len(acct.creds) == 0 {
		return Begun{}, invalid("no passkey is registered for this user", nil)
	}

	// 3. The options, with the hash of the request as the challenge and
	// user verification required.
	canon := r.Canonical()
	challenge := sha256.Sum256(canon)
	assertion, sd, err := s.wa.BeginLogin(acct,
		webauthn.WithChallenge(challenge[:]),
		webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return Begun{}, fmt.Errorf("failed to begin approval: %v", err)
	}

	// 4. The challenge, kept server-side with the request and its nonce.
	if err := s.putChallenge(ctx, challenge[:], r.Sub, KindApprove, sd, canon); err != nil {
		return Begun{}, err
	}
	opts, err := json.Marshal(assertion.Response)
	if err != nil {
		return Begun{}, fmt.Errorf("failed to encode options: %v", err)
	}
	return Begun{Options: opts, Request: r}, nil
}

// FinishApproval verifies an assertion answering a begun approval of
// userID and returns the approved request. If wantAction is not empty the
// request must be for that action.
//
// go-webauthn performs these steps of WebAuthn Level 3 section 7.2
// (Verifying an Authentication Assertion): the credential is in
// allowCredentials and owned by the user, whose handle matches
// userHandle when present; C.type, C.challenge (against the session),
// C.origin, C.crossOrigin (refused) and C.topOrigin; the rpIdHash; the UP
// flag, and the UV flag since verification is required; BE and BS against
// the record; the client extension outputs (none are asked for, so any is
// refused); the signature over authData and the hash of cData; the sign
// counter, which only raises a clone warning. The session's expiry is also
// checked against the wall clock.
//
// This function adds: the challenge is looked up in the store by the
// value the authenticator signed and deleted there, so it is used once
// whatever the outcome; it must be unexpired by the service's clock, of
// this user and of an approval; it must be SHA-256 of the stored canonical
// request, recomputed here rather than trusted from the session; the UV
// flag is checked again; a clone warning (a counter that did not advance
// when either value is non-zero) is refused and logged; the new counter is
// stored only if no other assertion stored one meanwhile; failures on a
// real, unexpired challenge of the user count toward the lockout.
//
// Deliberately not done: attestation of the authenticator (none is asked
// for at registration), and the "remember backup state for business
// logic" step: the backup flags are stored but not acted on.
func (s *Service) FinishApproval(ctx context.Context, userID string, cred json.RawMessage,
	wantAction string) (Approval, error) {
	// 1. Parse the assertion and find the user; garbage counts for nothing.
	parsed, err := protocol.ParseCredentialRequestResponseBytes(cred)
	if err != nil {
		return Approval{}, invalid("credential is not a valid assertion", err)
	}
	acct, err := s.loadAccount(ctx, userID)
	if errors.Is(err, ErrNotFound) {
		return Approval{}, invalid("unknown user", nil)
	}
	if err != nil {
		return Approval{}, err
	}

	// 2. Take the challenge it answers: used once, whatever the outcome.
	// One that is unknown, expired or another user's counts for nothing.
	ch, sd, err := s.takeChallenge(ctx, parsed.Response.CollectedClientData.Challenge,
		userID, KindApprove)
	if err != nil {
		return Approval{}, err
	}
	if err := s.locked(ctx, userID); err != nil {
		return Approval{}, err
	}

	// 3. From here every failure is on a real challenge of this user.
	a, reason, err := s.verifyApproval(acct, ch, sd, parsed, wantAction)
	if err != nil {
		return Approval{}, s.fail(ctx, ch, reason, err)
	}

	// 4. Store the new counter, unless another assertion of the same
	// credential stored one meanwhile.
	prev := a.Credential.SignCount
	a.Credential.SignCount = parsed.Response.AuthenticatorData.Counter
	a.Credential.BackupState = parsed.Response.AuthenticatorData.Flags.HasBackupState()
	a.Credential.LastUsed = s.now()
	err = s.store.UpdateCredential(ctx, a.Credential, prev)
	if errors.Is(err, ErrConflict) {
		return Approval{}, s.fail(ctx, ch, audit.ReasonCounterRegression, err)
	}
	if err != nil {
		return Approval{}, err
	}

	// 5. Success clears the failures.
	if _, err := s.store.UpdateLockout(ctx, userID, func(Lockout) Lockout {
		return Lockout{}
	}); err != nil {
		return Approval{}, err
	}
	return a, nil
}

// verifyApproval runs the checks of FinishApproval that the assertion
// itself must pass. On failure it returns the audit reason.
func (s *Service) verifyApproval(acct account, ch Challenge, sd webauthn.SessionData,
	parsed *protocol.ParsedCredentialAssertionData, wantAction string) (Approval, string, error) {
	// 1. The signed challenge must be the hash of the stored request.
	req, err := ParseRequest(ch.Request)
	if err != nil {
		return Approval{}, audit.ReasonBadAssertion, fmt.Errorf("stored request: %v", err)
	}
	hash := sha256.Sum256(ch.Request)
	signed, err := b64.DecodeString(parsed.Response.CollectedClientData.Challenge)
	if err != nil || !bytes.Equal(signed, hash[:]) || !bytes.Equal(ch.Value, hash[:]) ||
		req.Sub != acct.user.ID {
		return Approval{}, audit.ReasonBadAssertion,
			errors.New("signed challenge is not the hash of the approval request")
	}
	if wantAction != "" && wantAction != req.Action {
		return Approval{}, audit.ReasonBindingMismatch,
			errors.New("approval is for another action")
	}

	// 2. go-webauthn's checks of section 7.2.
	wc, err := s.wa.ValidateLogin(acct, sd, parsed)
	if err != nil {
		return Approval{}, audit.ReasonBadAssertion, err
	}
	if !parsed.Response.AuthenticatorData.Flags.HasUserVerified() {
		return Approval{}, audit.ReasonBadAssertion, errors.New("user not verified")
	}
	var c Credential
	for _, k := range acct.creds {
		if bytes.Equal(k.ID, wc.ID) {
			c = k
		}
	}
	if c.ID == nil {
		return Approval{}, audit.ReasonBadAssertion, errors.New("credential not found")
	}

	// 3. The sign counter: refused, not only flagged, if it did not advance.
	if wc.Authenticator.CloneWarning {
		s.log.Warn("passkey sign counter did not advance: possible cloned authenticator",
			slog.String("sub", stripCRLF(acct.user.ID)),
			slog.String("credential", credentialTag(c.ID)),
			slog.Uint64("stored", uint64(c.SignCount)),
			slog.Uint64("presented", uint64(parsed.Response.AuthenticatorData.Counter)))
		return Approval{}, audit.ReasonCounterRegression, errors.New("sign counter did not advance")
	}

	// 4. The evidence for the audit log.
	ev, err := json.Marshal(Evidence{
		V: EvidenceVersion, RPID: s.rpID, Origin: parsed.Response.CollectedClientData.Origin,
		CredentialID:      b64.EncodeToString(c.ID),
		PublicKey:         b64.EncodeToString(c.PublicKey),
		AuthenticatorData: b64.EncodeToString(parsed.Raw.AssertionResponse.AuthenticatorData),
		ClientDataJSON:    b64.EncodeToString(parsed.Raw.AssertionResponse.ClientDataJSON),
		Signature:         b64.EncodeToString(parsed.Response.Signature),
		Request:           string(ch.Request),
	})
	if err != nil {
		return Approval{}, audit.ReasonBadAssertion, err
	}
	return Approval{Request: req, Credential: c, Evidence: ev}, "", nil
}

// fail counts a failed approval on challenge ch toward its user's
// lockout, records it in the audit log, and returns the failure to answer
// with. A store error is returned instead, so that the caller fails
// closed.
func (s *Service) fail(ctx context.Context, ch Challenge, reason string, cause error) error {
	// 1. Count it; the MaxFailures-th failure in the window locks.
	now, userID := s.now(), ch.UserID
	lockedNow := false
	l, err := s.store.UpdateLockout(ctx, userID, func(l Lockout) Lockout {
		next := l.afterFailure(now)
		lockedNow = !l.Locked(now) && next.Locked(now)
		return next
	})
	if err != nil {
		return err
	}
	s.log.WarnContext(ctx, "passkey approval failed", slog.String("sub", stripCRLF(userID)),
		slog.String("reason", reason), slog.String("error", stripCRLF(describe(cause))),
		slog.Int("failures", l.Failures))

	// 2. Record it, and the lockout if this failure began one.
	var action string
	if req, err := ParseRequest(ch.Request); err == nil {
		action = req.Action
	}
	if _, err := s.audit.Append(ctx, audit.Entry{
		Time: now, Event: audit.EventPasskeyFailed, Sub: userID, Action: action, Reason: reason,
	}); err != nil {
		return err
	}
	if lockedNow {
		s.log.WarnContext(ctx, "passkey approvals locked", slog.String("sub", stripCRLF(userID)),
			slog.Time("until", l.LockedUntil))
		if _, err := s.audit.Append(ctx, audit.Entry{
			Time: now, Event: audit.EventPasskeyLockout, Sub: userID,
		}); err != nil {
			return err
		}
	}
	return denied("passkey approval did not verify", cause)
}

// describe returns an error's message with go-webauthn's debugging
// information, which names the check that failed.
func describe(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.DevInfo != "" {
		return err.Error() + ": " + pe.DevInfo
	}
	return err.Error()
}

// stripCRLF removes CR and LF from a client-supplied string bound for a
// log line.
func stripCRLF(s string) string {
	return strings.NewReplacer("\r", "", "\n", "").Replace(s)
}
