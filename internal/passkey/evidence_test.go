package passkey

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/agentmint/agentmint/internal/audit"
	"github.com/agentmint/agentmint/internal/passkey/passkeytest"
)

// signedEvidence returns evidence of an assertion over r by a, as the
// service writes it.
func signedEvidence(t testing.TB, a *passkeytest.Authenticator, r Request) Evidence {
	t.Helper()
	var cred struct {
		Response struct {
			ClientDataJSON    string `json:"clientDataJSON"`
			AuthenticatorData string `json:"authenticatorData"`
			Signature         string `json:"signature"`
		} `json:"response"`
	}
	if err := json.Unmarshal(a.AssertChallenge(r.Challenge()), &cred); err != nil {
		t.Fatal(err)
	}
	return Evidence{
		V: EvidenceVersion, RPID: "example.com", Origin: "https://example.com",
		CredentialID: b64.EncodeToString(a.CredentialID), PublicKey: b64.EncodeToString(a.PublicKey()),
		AuthenticatorData: cred.Response.AuthenticatorData,
		ClientDataJSON:    cred.Response.ClientDataJSON,
		Signature:         cred.Response.Signature, Request: string(r.Canonical()),
	}
}

func marshal(t testing.TB, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVerifyEvidence(t *testing.T) {
	a := passkeytest.New("example.com", "https://example.com")
	r, _ := NewRequest("alice", "refund:order:123:amount:50", "", json.RawMessage(`{"amount":50}`), 60, zeroNonce{})
	good := signedEvidence(t, a, r)
	if err := VerifyEvidence(marshal(t, good)); err != nil {
		t.Fatalf("good evidence: %v", err)
	}
	other, _ := NewRequest("alice", "refund:order:123:amount:90", "", json.RawMessage(`{"amount":50}`), 60, zeroNonce{})
	mallory := passkeytest.New("example.com", "https://example.com")
	noUV := passkeytest.New("example.com", "https://example.com")
	noUV.Flags = passkeytest.FlagUP
	for name, mutate := range map[string]func(e *Evidence){
		"another request": func(e *Evidence) { e.Request = string(other.Canonical()) },
		"another rp_id":   func(e *Evidence) { e.RPID = "evil.com" },
		"another origin":  func(e *Evidence) { e.Origin = "https://evil.com" },
		"another key":     func(e *Evidence) { e.PublicKey = b64.EncodeToString(mallory.PublicKey()) },
		"no UV": func(e *Evidence) {
			n := signedEvidence(t, noUV, r)
			n.PublicKey = b64.EncodeToString(noUV.PublicKey())
			*e = n
		},
		"signature changed": func(e *Evidence) {
			sig, _ := b64.DecodeString(e.Signature)
			sig[len(sig)-1] ^= 1
			e.Signature = b64.EncodeToString(sig)
		},
		"version":       func(e *Evidence) { e.V = 2 },
		"not base64url": func(e *Evidence) { e.AuthenticatorData += "=" },
	} {
		e := good
		mutate(&e)
		if err := VerifyEvidence(marshal(t, e)); err == nil {
			t.Errorf("%s: evidence verifies", name)
		}
	}
}

func TestVerifyEntries(t *testing.T) {
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	a := passkeytest.New("example.com", "https://example.com")
	r, _ := NewRequest("alice", "deploy:prod", "", nil, 60, zeroNonce{})
	reg, err := registrationEvidence(Credential{ID: a.CredentialID, PublicKey: a.PublicKey()}, "example.com")
	if err != nil {
		t.Fatal(err)
	}
	entries := []audit.Entry{
		{Index: 0, Time: now, Event: audit.EventPasskeyRegistered, Sub: "alice", Evidence: reg},
		{Index: 1, Time: now, Event: audit.EventPasskeyApproved, Sub: "alice",
			Action: "deploy:prod", Evidence: marshal(t, signedEvidence(t, a, r))},
	}
	if n, err := VerifyEntries(entries); n != 1 || err != nil {
		t.Fatalf("VerifyEntries = %d, %v", n, err)
	}
	// The entry must name what was signed, and the key must have been
	// registered to its sub.
	wrong := append([]audit.Entry{}, entries...)
	wrong[1].Action = "deploy:staging"
	if _, err := VerifyEntries(wrong); err == nil {
		t.Error("an entry naming another action verifies")
	}
	wrong[1].Action, wrong[0].Sub = "deploy:prod", "bob"
	if _, err := VerifyEntries(wrong); err == nil || !strings.Contains(err.Error(), "not registered") {
		t.Errorf("a key registered to another user: %v", err)
	}
	if _, err := VerifyEntries(entries[1:]); err == nil {
		t.Error("an approval without a registration verifies")
	}
}

// FuzzVerifyEvidence checks that VerifyEvidence never panics on any input.
func FuzzVerifyEvidence(f *testing.F) {
	a := passkeytest.New("example.com", "https://example.com")
	r, _ := NewRequest("alice", "a", "", nil, 60, zeroNonce{})
	f.Add([]byte(marshal(f, signedEvidence(f, a, r))))
	f.Add([]byte(`{"v":1}`))
	f.Add([]byte(`{"v":1,"authenticator_data":"AA","client_data_json":"e30","signature":"AA","public_key":"oA","credential_id":"AA","request":"{}"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		VerifyEvidence(b)
	})
}
