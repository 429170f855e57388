package passkey

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
)

// zeroNonce is a reader of zero bytes, for known answers.
type zeroNonce struct{}

func (zeroNonce) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestCanonicalKnownAnswer pins the encoding documented in FORMAT.md.
func TestCanonicalKnownAnswer(t *testing.T) {
	r, err := NewRequest(`alice "A" \ B`, "refund:order:123:amount:50", "https://api.example.com",
		json.RawMessage(`{ "amount": 50, "currency": "USD" }`), 60, zeroNonce{})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"action":"refund:order:123:amount:50","aud":"https://api.example.com",` +
		`"details":{"amount":50,"currency":"USD"},` +
		`"nonce":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",` +
		`"sub":"alice \"A\" \\ B","ttl_seconds":60,"v":"agentmint-approval-v1"}`
	if got := string(r.Canonical()); got != want {
		t.Fatalf("canonical\n got %s\nwant %s", got, want)
	}
	sum := sha256.Sum256([]byte(want))
	if !bytes.Equal(r.Challenge(), sum[:]) {
		t.Error("challenge is not SHA-256 of the canonical encoding")
	}
	if got := hex.EncodeToString(r.Challenge()); got != hex.EncodeToString(sum[:]) {
		t.Error(got)
	}

	// Without aud and details those members are left out.
	r, _ = NewRequest("bob", "export:users:csv", "", nil, 5, zeroNonce{})
	if got := string(r.Canonical()); !strings.HasPrefix(got, `{"action":"export:users:csv","nonce":`) {
		t.Errorf("canonical %s", got)
	}
}

func TestParseRequest(t *testing.T) {
	r, err := NewRequest("alice\u202e", "a", "", json.RawMessage(`{"x":[1,{"y":"<"}]}`), 300, zeroNonce{})
	if err != nil {
		t.Fatal(err)
	}
	canon := r.Canonical()
	got, err := ParseRequest(canon)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Canonical(), canon) {
		t.Errorf("round trip changed %s", canon)
	}
	bad := []string{
		``, `{}`, `[]`, string(canon) + ` `, ` ` + string(canon),
		strings.Replace(string(canon), `"ttl_seconds":300`, `"ttl_seconds":301`, 1),
		strings.Replace(string(canon), `"ttl_seconds":300`, `"ttl_seconds":3e2`, 1),
		strings.Replace(string(canon), `agentmint-approval-v1`, `agentmint-approval-v2`, 1),
		strings.Replace(string(canon), `"action":"a",`, `"action":"a","aud":"",`, 1),
		strings.Replace(string(canon), `"action":"a",`, `"action":"\u0061",`, 1),
		strings.Replace(string(canon), `"action":"a",`, `"action":"a","action":"b",`, 1),
		strings.Replace(string(canon), `"nonce":"AAAA`, `"nonce":"AAA`, 1),
		strings.Replace(string(canon), `"x":[1,`, `"x":[1 ,`, 1),
	}
	for _, b := range bad {
		if _, err := ParseRequest([]byte(b)); err == nil {
			t.Errorf("ParseRequest(%q) accepted it", b)
		}
	}
}

func TestNewRequestChecksFields(t *testing.T) {
	for _, tt := range []struct {
		sub, action, aud, details string
		ttl                       int64
	}{
		{"", "a", "", "", 60},
		{"a\nb", "a", "", "", 60},
		{"a", "has space", "", "", 60},
		{"a", "a", "bad aud", "", 60},
		{"a", "a", "", `[1]`, 60},
		{"a", "a", "", `{"a":1,"a":2}`, 60},
		{"a", "a", "", "", 0},
		{"a", "a", "", "", 301},
	} {
		if _, err := NewRequest(tt.sub, tt.action, tt.aud, json.RawMessage(tt.details),
			tt.ttl, zeroNonce{}); err == nil {
			t.Errorf("NewRequest(%+v) accepted it", tt)
		}
	}
}

// FuzzParseRequest checks that ParseRequest never panics and accepts only
// what Canonical gives back byte for byte.
func FuzzParseRequest(f *testing.F) {
	r, _ := NewRequest("alice", "deploy:prod", "aud", json.RawMessage(`{"a":[1,"\u202e"]}`), 60, zeroNonce{})
	f.Add(r.Canonical())
	r, _ = NewRequest(`"\`, "x", "", nil, 1, zeroNonce{})
	f.Add(r.Canonical())
	f.Add([]byte(`{"action":"a"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRequest(b)
		if err != nil {
			return
		}
		if !bytes.Equal(r.Canonical(), b) {
			t.Fatalf("accepted a non-canonical request %q", b)
		}
	})
}
