package passkey

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/agentmint/agentmint/token"
)

// RequestVersion is the value of the "v" member of every canonical
// approval request. It separates these hashes from any other use of
// SHA-256 and names the encoding, so that a later one can differ.
const RequestVersion = "agentmint-approval-v1"

// NonceSize is the size of an approval request's nonce in bytes (256 bits).
const NonceSize = 32

// Request is one approval request: user Sub approves Action, with the
// optional Aud and Details, for a token that lives TTLSeconds. Its
// canonical encoding (Canonical) is what the approver's authenticator
// signs, through its SHA-256 hash used as the WebAuthn challenge.
type Request struct {
	Sub        string
	Action     string
	Aud        string
	Details    json.RawMessage // canonical, as token.CanonicalDetails makes it
	TTLSeconds int64
	Nonce      [NonceSize]byte
}

// NewRequest checks the fields of an approval request as /mint checks them,
// canonicalizes details and draws a fresh nonce from rand.
func NewRequest(sub, action, aud string, details json.RawMessage, ttl int64,
	rand io.Reader) (Request, error) {
	r := Request{Sub: sub, Action: action, Aud: aud, TTLSeconds: ttl}
	if len(details) > 0 {
		d, err := token.CanonicalDetails(details)
		if err != nil {
			return Request{}, err
		}
		r.Details = d
	}
	if err := r.validate(); err != nil {
		return Request{}, err
	}
	if _, err := io.ReadFull(rand, r.Nonce[:]); err != nil {
		return Request{}, fmt.Errorf("failed to draw nonce: %v", err)
	}
	return r, nil
}

// validate checks every field but the nonce.
func (r Request) validate() error {
	if err := token.ValidateSub(r.Sub); err != nil {
		return err
	}
	if err := token.ValidateAction(r.Action); err != nil {
		return err
	}
	if r.Aud != "" {
		if err := token.ValidateAud(r.Aud); err != nil {
			return err
		}
	}
	if r.Details != nil {
		d, err := token.CanonicalDetails(r.Details)
		if err != nil {
			return err
		}
		if !bytes.Equal(d, r.Details) {
			return errors.New("details is not canonical")
		}
	}
	min, max := int64(token.MinTTL/time.Second), int64(token.MaxTTL/time.Second)
	if r.TTLSeconds < min || r.TTLSeconds > max {
		return fmt.Errorf("ttl_seconds must be an integer from %d to %d", min, max)
	}
	return nil
}

// Canonical returns the one encoding of r that is hashed into the
// challenge, described in FORMAT.md: a compact JSON object whose members
// are, in this order, action, aud (left out when empty), details (left out
// when empty), nonce, sub, ttl_seconds and v.
func (r Request) Canonical() []byte {
	b := make([]byte, 0, 256+len(r.Details))
	b = append(b, `{"action":`...)
	b = appendString(b, r.Action)
	if r.Aud != "" {
		b = append(b, `,"aud":`...)
		b = appendString(b, r.Aud)
	}
	if len(r.Details) > 0 {
		b = append(b, `,"details":`...)
		b = append(b, r.Details...)
	}
	b = append(b, `,"nonce":`...)
	b = appendString(b, base64.RawURLEncoding.EncodeToString(r.Nonce[:]))
	b = append(b, `,"sub":`...)
	b = appendString(b, r.Sub)
	b = append(b, `,"ttl_seconds":`...)
	b = strconv.AppendInt(b, r.TTLSeconds, 10)
	b = append(b, `,"v":`...)
	b = appendString(b, RequestVersion)
	return append(b, '}')
}

// Challenge returns SHA-256 of the canonical encoding: the WebAuthn
// challenge the approver's authenticator signs.
func (r Request) Challenge() []byte {
	h := sha256.Sum256(r.Canonical())
	return h[:]
}

// appendString appends s as a JSON string with '"' and '\' escaped by a
// backslash and every other character as itself. The fields written this
// way are validated to hold no control characters, so no other escape is
// ever needed.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' {
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}

// wireRequest is the shape of a canonical request for decoding.
type wireRequest struct {
	Action     *string         `json:"action"`
	Aud        *string         `json:"aud"`
	Details    json.RawMessage `json:"details"`
	Nonce      *string         `json:"nonce"`
	Sub        *string         `json:"sub"`
	TTLSeconds *int64          `json:"ttl_seconds"`
	V          *string         `json:"v"`
}

// ParseRequest decodes a canonical approval request. It accepts only the
// canonical encoding, so that Canonical of the result gives back b.
func ParseRequest(b []byte) (Request, error) {
	var w wireRequest
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&w); err != nil {
		return Request{}, fmt.Errorf("failed to parse approval request: %v", err)
	}
	if _, err := d.Token(); err != io.EOF {
		return Request{}, errors.New("failed to parse approval request: data after it")
	}
	switch {
	case w.V == nil || *w.V != RequestVersion:
		return Request{}, errors.New("failed to parse approval request: unknown version")
	case w.Action == nil || w.Sub == nil || w.Nonce == nil || w.TTLSeconds == nil:
		return Request{}, errors.New("failed to parse approval request: member missing")
	}
	r := Request{Sub: *w.Sub, Action: *w.Action, TTLSeconds: *w.TTLSeconds}
	if w.Aud != nil {
		r.Aud = *w.Aud
	}
	if len(w.Details) > 0 {
		r.Details = w.Details
	}
	nonce, err := base64.RawURLEncoding.Strict().DecodeString(*w.Nonce)
	if err != nil || len(nonce) != NonceSize {
		return Request{}, errors.New("failed to parse approval request: bad nonce")
	}
	copy(r.Nonce[:], nonce)
	if err := r.validate(); err != nil {
		return Request{}, fmt.Errorf("failed to parse approval request: %v", err)
	}
	if !bytes.Equal(r.Canonical(), b) {
		return Request{}, errors.New("failed to parse approval request: not canonical")
	}
	return r, nil
}
