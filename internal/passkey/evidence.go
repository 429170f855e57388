package passkey

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/go-webauthn/webauthn/protocol/webauthncose"

	"github.com/agentmint/agentmint/internal/audit"
)

// EvidenceVersion is the "v" member of the evidence this package writes.
const EvidenceVersion = 1

// Evidence is the record of one approval kept in the audit log: enough to
// check, without AgentMint, that the credential signed the request.
// FORMAT.md describes it. Byte strings are base64url without padding.
type Evidence struct {
	V                 int    `json:"v"`
	RPID              string `json:"rp_id"`
	Origin            string `json:"origin"`
	CredentialID      string `json:"credential_id"`
	PublicKey         string `json:"public_key"` // COSE_Key
	AuthenticatorData string `json:"authenticator_data"`
	ClientDataJSON    string `json:"client_data_json"`
	Signature         string `json:"signature"`
	// Request is the canonical approval request, as text.
	Request string `json:"request"`
}

// Registration is the evidence of a passkey_registered entry.
type Registration struct {
	V              int    `json:"v"`
	RPID           string `json:"rp_id"`
	CredentialID   string `json:"credential_id"`
	PublicKey      string `json:"public_key"`
	BackupEligible bool   `json:"backup_eligible"`
	AAGUID         string `json:"aaguid,omitempty"`
}

var b64 = base64.RawURLEncoding.Strict()

func registrationEvidence(c Credential, rpID string) (json.RawMessage, error) {
	return json.Marshal(Registration{
		V: EvidenceVersion, RPID: rpID,
		CredentialID: b64.EncodeToString(c.ID), PublicKey: b64.EncodeToString(c.PublicKey),
		BackupEligible: c.BackupEligible, AAGUID: b64.EncodeToString(c.AAGUID),
	})
}

// credentialTag names a credential in logs without writing its id: the
// first 8 bytes of SHA-256 of the id, in hex.
func credentialTag(id []byte) string {
	h := sha256.Sum256(id)
	return fmt.Sprintf("%x", h[:8])
}

// The authenticator data flags checked offline (WebAuthn L3 section 6.1).
const (
	flagUP = 0x01
	flagUV = 0x04
)

// VerifyEvidence checks, offline, that the evidence of a passkey_approved
// entry is a valid WebAuthn assertion by its public key over its approval
// request. It repeats the steps of WebAuthn Level 3 section 7.2
// (Verifying an Authentication Assertion) that need nothing but the
// evidence, named here by what they verify:
//
//   - C.type is "webauthn.get";
//   - C.challenge is base64url of options.challenge, which for AgentMint
//     is SHA-256 of the request, itself a canonical approval request
//     (ParseRequest);
//   - C.origin is the evidence's origin, and C.crossOrigin is not true;
//   - the rpIdHash of authData is SHA-256 of rp_id;
//   - the UP and UV flags of authData are set;
//   - sig verifies with the credential's COSE public key over authData
//     followed by SHA-256 of cData.
//
// It cannot do the steps that need the relying party's state at the time:
// allowCredentials and the credential's owner, that the challenge was
// issued and unused, the sign counter, the backup flags against the
// record. VerifyEntries checks the key and owner against the
// registration entries of the same log.
func VerifyEvidence(evidence json.RawMessage) error {
	_, _, err := verifyEvidence(evidence)
	return err
}

// verifyEvidence is VerifyEvidence, returning what it decoded.
func verifyEvidence(evidence json.RawMessage) (Evidence, Request, error) {
	// 1. Decode strictly.
	var ev Evidence
	d := json.NewDecoder(bytes.NewReader(evidence))
	d.DisallowUnknownFields()
	if err := d.Decode(&ev); err != nil {
		return ev, Request{}, fmt.Errorf("bad passkey evidence: %v", err)
	}
	if _, err := d.Token(); err != io.EOF {
		return ev, Request{}, errors.New("bad passkey evidence: data after it")
	}
	if ev.V != EvidenceVersion {
		return ev, Request{}, fmt.Errorf("bad passkey evidence: unknown version %d", ev.V)
	}
	var authData, clientData, sig, pub, credID []byte
	for _, f := range []struct {
		name string
		in   string
		out  *[]byte
	}{
		{"authenticator_data", ev.AuthenticatorData, &authData},
		{"client_data_json", ev.ClientDataJSON, &clientData},
		{"signature", ev.Signature, &sig},
		{"public_key", ev.PublicKey, &pub},
		{"credential_id", ev.CredentialID, &credID},
	} {
		b, err := b64.DecodeString(f.in)
		if err != nil || len(b) == 0 {
			return ev, Request{}, fmt.Errorf("bad passkey evidence: %s is not base64url", f.name)
		}
		*f.out = b
	}
	req, err := ParseRequest([]byte(ev.Request))
	if err != nil {
		return ev, Request{}, fmt.Errorf("bad passkey evidence: %v", err)
	}

	// 2. The client data: type, challenge, origin.
	if err := checkClientData(clientData, req.Challenge(), ev.Origin); err != nil {
		return ev, req, err
	}

	// 3. The authenticator data: rpIdHash, UP, UV.
	if len(authData) < 37 {
		return ev, req, errors.New("passkey evidence: authenticator data too short")
	}
	rpIDHash := sha256.Sum256([]byte(ev.RPID))
	if subtle.ConstantTimeCompare(authData[:32], rpIDHash[:]) != 1 {
		return ev, req, errors.New("passkey evidence: rpIdHash is not that of rp_id")
	}
	if flags := authData[32]; flags&flagUP == 0 || flags&flagUV == 0 {
		return ev, req, errors.New("passkey evidence: user presence or verification flag missing")
	}

	// 4. The signature over authData and the hash of cData.
	key, err := webauthncose.ParsePublicKey(pub)
	if err != nil {
		return ev, req, fmt.Errorf("passkey evidence: bad public key: %v", err)
	}
	cdHash := sha256.Sum256(clientData)
	signed := append(append([]byte{}, authData...), cdHash[:]...)
	ok, err := webauthncose.VerifySignature(key, signed, sig)
	if err != nil || !ok {
		return ev, req, errors.New("passkey evidence: signature does not verify")
	}
	return ev, req, nil
}

// checkClientData checks the collected client data of an assertion: its
// type, that its challenge is challenge, and its origin.
func checkClientData(clientData, challenge []byte, origin string) error {
	var cd struct {
		Type        string `json:"type"`
		Challenge   string `json:"challenge"`
		Origin      string `json:"origin"`
		CrossOrigin bool   `json:"crossOrigin"`
	}
	if err := json.Unmarshal(clientData, &cd); err != nil {
		return fmt.Errorf("passkey evidence: bad client data: %v", err)
	}
	got, err := b64.DecodeString(cd.Challenge)
	switch {
	case cd.Type != "webauthn.get":
		return errors.New("passkey evidence: client data is not of an assertion")
	case err != nil || subtle.ConstantTimeCompare(got, challenge) != 1:
		return errors.New("passkey evidence: signed challenge is not the hash of the request")
	case cd.Origin != origin:
		return errors.New("passkey evidence: client data origin differs")
	case cd.CrossOrigin:
		return errors.New("passkey evidence: assertion made in a cross-origin frame")
	}
	return nil
}

// VerifyEntry checks a passkey_approved entry: its evidence verifies
// (VerifyEvidence) and names the entry's sub, action and aud.
func VerifyEntry(e audit.Entry) error {
	if e.Event != audit.EventPasskeyApproved {
		return fmt.Errorf("entry %d is not a passkey approval", e.Index)
	}
	_, req, err := verifyEvidence(e.Evidence)
	if err != nil {
		return fmt.Errorf("entry %d: %v", e.Index, err)
	}
	if req.Sub != e.Sub || req.Action != e.Action || req.Aud != e.Aud {
		return fmt.Errorf("entry %d: the signed request is not the entry's sub, action and aud", e.Index)
	}
	return nil
}

// VerifyEntries checks every passkey entry of a log given oldest first:
// each approval verifies (VerifyEntry), and its credential and public key
// were registered for the same user and relying party by an earlier
// passkey_registered entry. It returns how many approvals it checked and
// the first failure.
func VerifyEntries(entries []audit.Entry) (int, error) {
	type reg struct{ sub, key, rpID string }
	regs := map[string]reg{}
	n := 0
	for _, e := range entries {
		switch e.Event {
		case audit.EventPasskeyRegistered:
			var r Registration
			if err := json.Unmarshal(e.Evidence, &r); err != nil || r.CredentialID == "" {
				return n, fmt.Errorf("entry %d: bad registration evidence", e.Index)
			}
			regs[r.CredentialID] = reg{e.Sub, r.PublicKey, r.RPID}
		case audit.EventPasskeyApproved:
			if err := VerifyEntry(e); err != nil {
				return n, err
			}
			ev, _, _ := verifyEvidence(e.Evidence)
			r, ok := regs[ev.CredentialID]
			if !ok || r.sub != e.Sub || r.key != ev.PublicKey || r.rpID != ev.RPID {
				return n, fmt.Errorf("entry %d: credential was not registered for %q with this key",
					e.Index, e.Sub)
			}
			n++
		}
	}
	return n, nil
}
