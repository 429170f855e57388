// Package passkeytest is a software WebAuthn authenticator and client for
// tests: it answers registration and approval options as a browser with a
// platform authenticator would, and lets a test break each part of the
// answer (origin, RP id, flags, counter, challenge) on purpose.
package passkeytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
)

// The authenticator data flags (WebAuthn Level 3 section 6.1).
const (
	FlagUP = 0x01 // user present
	FlagUV = 0x04 // user verified
	FlagBE = 0x08 // backup eligible
	FlagBS = 0x10 // backed up
	FlagAT = 0x40 // attested credential data included
)

var b64 = base64.RawURLEncoding

// Authenticator holds one ES256 credential. Its exported fields say what
// the next answer claims; tests change them to make it wrong.
type Authenticator struct {
	// RPID is hashed into the authenticator data.
	RPID string
	// Origin is written into the client data.
	Origin string
	// Flags are the authenticator data flags; New sets UP and UV.
	Flags byte
	// Counter is the signature counter of the last answer.
	Counter uint32
	// Step is added to Counter before each assertion; 0 keeps it at zero,
	// as many passkeys do.
	Step uint32

	CredentialID []byte
	UserHandle   []byte
	key          *ecdsa.PrivateKey
}

// New returns an authenticator for the relying party rpID, used from
// origin, with a fresh key and credential id.
func New(rpID, origin string) *Authenticator {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	id := make([]byte, 32)
	rand.Read(id)
	return &Authenticator{
		RPID: rpID, Origin: origin, Flags: FlagUP | FlagUV, Step: 1,
		CredentialID: id, key: key,
	}
}

// Options are the parts of PublicKeyCredentialCreationOptions or
// PublicKeyCredentialRequestOptions the authenticator reads.
type Options struct {
	Challenge string `json:"challenge"`
	User      struct {
		ID string `json:"id"`
	} `json:"user"`
}

// ParseOptions reads the options from a start endpoint's answer
// {"publicKey": {...}, ...}.
func ParseOptions(answer []byte) (Options, error) {
	var a struct {
		PublicKey Options `json:"publicKey"`
	}
	if err := json.Unmarshal(answer, &a); err != nil {
		return Options{}, err
	}
	return a.PublicKey, nil
}

// ChallengeBytes returns the options' challenge as bytes.
func (o Options) ChallengeBytes() []byte {
	b, err := b64.DecodeString(o.Challenge)
	if err != nil {
		panic(fmt.Sprintf("passkeytest: bad challenge %q", o.Challenge))
	}
	return b
}

// Register answers creation options with a registration response (a
// PublicKeyCredential with attestation "none") as JSON.
func (a *Authenticator) Register(o Options) json.RawMessage {
	handle, err := b64.DecodeString(o.User.ID)
	if err != nil {
		panic(fmt.Sprintf("passkeytest: bad user id %q", o.User.ID))
	}
	a.UserHandle = handle
	cd := a.clientData("webauthn.create", o.ChallengeBytes())

	// The authenticator data with the attested credential: AAGUID (zero),
	// the credential id's length and the id, then the COSE key.
	ad := a.authData(a.Flags | FlagAT)
	ad = append(ad, make([]byte, 16)...)
	ad = binary.BigEndian.AppendUint16(ad, uint16(len(a.CredentialID)))
	ad = append(ad, a.CredentialID...)
	ad = append(ad, a.PublicKey()...)

	att, err := webauthncbor.Marshal(map[string]any{
		"fmt": "none", "attStmt": map[string]any{}, "authData": ad,
	})
	if err != nil {
		panic(err)
	}
	return mustJSON(map[string]any{
		"id": b64.EncodeToString(a.CredentialID), "rawId": b64.EncodeToString(a.CredentialID),
		"type": "public-key", "clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(cd),
			"attestationObject": b64.EncodeToString(att),
			"transports":        []string{"internal"},
		},
	})
}

// Assert answers request options with an assertion as JSON, signing the
// options' challenge.
func (a *Authenticator) Assert(o Options) json.RawMessage {
	return a.AssertChallenge(o.ChallengeBytes())
}

// AssertChallenge returns an assertion over any challenge. The counter
// advances by Step first.
func (a *Authenticator) AssertChallenge(challenge []byte) json.RawMessage {
	a.Counter += a.Step
	cd := a.clientData("webauthn.get", challenge)
	ad := a.authData(a.Flags)
	h := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, ad...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, a.key, digest[:])
	if err != nil {
		panic(err)
	}
	return mustJSON(map[string]any{
		"id": b64.EncodeToString(a.CredentialID), "rawId": b64.EncodeToString(a.CredentialID),
		"type": "public-key", "clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(cd),
			"authenticatorData": b64.EncodeToString(ad),
			"signature":         b64.EncodeToString(sig),
			"userHandle":        b64.EncodeToString(a.UserHandle),
		},
	})
}

// PublicKey returns the credential's public key as a COSE_Key.
func (a *Authenticator) PublicKey() []byte {
	pub := a.key.PublicKey
	x, y := make([]byte, 32), make([]byte, 32)
	pub.X.FillBytes(x)
	pub.Y.FillBytes(y)
	k, err := webauthncbor.Marshal(webauthncose.EC2PublicKeyData{
		PublicKeyData: webauthncose.PublicKeyData{
			KeyType:   int64(webauthncose.EllipticKey),
			Algorithm: int64(webauthncose.AlgES256),
		},
		Curve: int64(webauthncose.P256), XCoord: x, YCoord: y,
	})
	if err != nil {
		panic(err)
	}
	return k
}

func (a *Authenticator) clientData(typ string, challenge []byte) []byte {
	return mustJSON(map[string]any{
		"type": typ, "challenge": b64.EncodeToString(challenge),
		"origin": a.Origin, "crossOrigin": false,
	})
}

// authData returns the rpIdHash, the flags and the counter.
func (a *Authenticator) authData(flags byte) []byte {
	h := sha256.Sum256([]byte(a.RPID))
	b := append(h[:], flags)
	return binary.BigEndian.AppendUint32(b, a.Counter)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
