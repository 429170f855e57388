package passkey

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/agentmint/agentmint/internal/audit"
	"github.com/agentmint/agentmint/token"
)

// handleSize is the size of the random WebAuthn user handle of a user.
// The handle is not the user id, which may be an e-mail address: WebAuthn
// asks that a user handle hold no personal information.
const handleSize = 16

// BeginRegistration begins registering a passkey for userID, named name
// for the authenticator's account chooser (userID when empty), and returns
// the PublicKeyCredentialCreationOptions for navigator.credentials.create
// as JSON. ip is the caller's address, for the rate
// limit.
func (s *Service) BeginRegistration(ctx context.Context, userID, name, ip string) (json.RawMessage, error) {
	// 1. Check the request and the limits.
	if err := token.ValidateSub(userID); err != nil {
		return nil, invalid("user_id: "+err.Error(), nil)
	}
	if name == "" {
		name = userID
	}
	if err := token.ValidateSub(name); err != nil {
		return nil, invalid("user_name must be 1 to 256 characters without control characters", nil)
	}
	if err := s.allow(userID, ip); err != nil {
		return nil, err
	}

	// 2. The user, created on first registration with a random handle.
	handle := make([]byte, handleSize)
	if _, err := io.ReadFull(s.rand, handle); err != nil {
		return nil, fmt.Errorf("failed to draw user handle: %v", err)
	}
	u, err := s.store.CreateUser(ctx, User{ID: userID, Handle: handle, Name: name, Created: s.now()})
	if err != nil {
		return nil, err
	}
	creds, err := s.store.Credentials(ctx, userID)
	if err != nil {
		return nil, err
	}
	acct := account{user: u, creds: creds}

	// 3. The options, with the user's registered credentials in
	// excludeCredentials so that one authenticator is not registered twice.
	exclude := make([]protocol.CredentialDescriptor, 0, len(creds))
	for _, c := range acct.WebAuthnCredentials() {
		exclude = append(exclude, c.Descriptor())
	}
	creation, sd, err := s.wa.BeginRegistration(acct, webauthn.WithExclusions(exclude))
	if err != nil {
		return nil, fmt.Errorf("failed to begin registration: %v", err)
	}

	// 4. The challenge, kept server-side for ChallengeTTL.
	value, err := base64.RawURLEncoding.DecodeString(sd.Challenge)
	if err != nil {
		return nil, fmt.Errorf("failed to decode challenge: %v", err)
	}
	if err := s.putChallenge(ctx, value, userID, KindRegister, sd, nil); err != nil {
		return nil, err
	}
	return json.Marshal(creation.Response)
}

// FinishRegistration verifies the authenticator's response to a begun
// registration of userID and stores the new credential.
//
// go-webauthn performs the steps of WebAuthn Level 3 section 7.1
// (Registering a New Credential): C.type, C.challenge and C.origin,
// C.crossOrigin (refused) and C.topOrigin; the attestation object's
// rpIdHash, the UP and UV flags, BE and BS, and that the key's alg was
// one offered; the "none" attestation format; that the credential id is
// at most 1023 bytes. This function adds: the challenge is taken from the
// store, single-use, unexpired by the service's clock and of this user
// and ceremony; UV is checked again on the result; the credential id is
// not registered yet, for any user (the store's primary key).
// Deliberately not done: attestation trust ("obtain a list of acceptable
// trust anchors", "assess the attestation trustworthiness"): AgentMint
// asks for no attestation, because a minter vouches for the person and the
// make of the authenticator is not part of the proof.
func (s *Service) FinishRegistration(ctx context.Context, userID string, cred json.RawMessage) (Credential, error) {
	// 1. Parse the response; garbage changes nothing.
	parsed, err := protocol.ParseCredentialCreationResponseBytes(cred)
	if err != nil {
		return Credential{}, invalid("credential is not a valid registration response", err)
	}
	acct, err := s.loadAccount(ctx, userID)
	if errors.Is(err, ErrNotFound) {
		return Credential{}, invalid("unknown user", nil)
	}
	if err != nil {
		return Credential{}, err
	}

	// 2. Take the challenge it answers: used once, whatever the outcome.
	_, sd, err := s.takeChallenge(ctx, parsed.Response.CollectedClientData.Challenge,
		userID, KindRegister)
	if err != nil {
		return Credential{}, err
	}

	// 3. go-webauthn's checks of section 7.1, and UV once more.
	wc, err := s.wa.CreateCredential(acct, sd, parsed)
	if err != nil {
		return Credential{}, denied("registration did not verify", err)
	}
	if !wc.Flags.UserVerified {
		return Credential{}, denied("registration did not verify", errors.New("no user verification"))
	}

	// 4. Store it with its audit entry; a credential id registered
	// before is refused.
	c := Credential{
		ID: wc.ID, UserID: userID, PublicKey: wc.PublicKey,
		SignCount: wc.Authenticator.SignCount, BackupEligible: wc.Flags.BackupEligible,
		BackupState: wc.Flags.BackupState, AAGUID: wc.Authenticator.AAGUID,
		AttestationFormat: wc.AttestationFormat, Created: s.now(),
	}
	for _, t := range wc.Transport {
		c.Transports = append(c.Transports, string(t))
	}
	ev, err := registrationEvidence(c, s.rpID)
	if err != nil {
		return Credential{}, err
	}
	err = s.store.AddCredential(ctx, c, audit.Entry{
		Time: s.now(), Event: audit.EventPasskeyRegistered, Sub: userID, Evidence: ev,
	})
	if errors.Is(err, ErrExists) {
		return Credential{}, invalid("this passkey is registered already", nil)
	}
	if err != nil {
		return Credential{}, err
	}
	s.log.InfoContext(ctx, "passkey registered", slog.String("credential", credentialTag(c.ID)))
	return c, nil
}
