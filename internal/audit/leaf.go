package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/tlog"
)

// leafTimeLayout formats Entry.Time: RFC 3339 in UTC with exactly six
// fractional digits.
const leafTimeLayout = "2006-01-02T15:04:05.000000Z"

// MaxIndex is the largest entry index a leaf can hold: 2^53-1, the largest
// integer every JSON implementation reads exactly.
const MaxIndex = 1<<53 - 1

// maxEventLen is the longest event name.
const maxEventLen = 64

// NOTE: the leaf encoder is written by hand instead of with encoding/json.
// The leaf bytes are hashed into the log, so they must never change with
// the Go version; encoding/json's escaping rules have changed before and
// differ from RFC 8785, which this format follows.

// MarshalLeaf returns the canonical encoding of e that the Merkle tree
// hashes, described in FORMAT.md. It fails if e is not valid: see Entry for
// the rules on each field.
func (e Entry) MarshalLeaf() ([]byte, error) {
	if err := e.validate(); err != nil {
		return nil, fmt.Errorf("failed to encode entry %d: %v", e.Index, err)
	}

	// Members in ascending order of their names (RFC 8785, section 3.2.3).
	o := object{b: make([]byte, 0, 256)}
	o.b = append(o.b, '{')
	o.str("action", e.Action)
	o.str("aud", e.Aud)
	o.str("caller", e.Caller)
	o.str("event", string(e.Event))
	o.raw("evidence", e.Evidence)
	o.raw("index", strconv.AppendInt(nil, e.Index, 10))
	o.str("jti", e.JTI)
	o.str("reason", e.Reason)
	o.str("sub", e.Sub)
	o.str("time", e.Time.Format(leafTimeLayout))
	return append(o.b, '}'), nil
}

// ParseLeaf decodes a leaf made by MarshalLeaf. It accepts only the
// canonical encoding, so that MarshalLeaf of the result gives back b.
func ParseLeaf(b []byte) (Entry, error) {
	e, err := decodeEntry(b)
	if err != nil {
		return Entry{}, fmt.Errorf("failed to parse leaf: %v", err)
	}
	canon, err := e.MarshalLeaf()
	if err != nil {
		return Entry{}, fmt.Errorf("failed to parse leaf: %v", err)
	}
	if !bytes.Equal(canon, b) {
		return Entry{}, errors.New("failed to parse leaf: not canonical")
	}
	return e, nil
}

// LeafHash returns the RFC 6962 leaf hash of e: SHA-256 of a zero byte
// followed by e's leaf encoding.
func LeafHash(e Entry) (tlog.Hash, error) {
	leaf, err := e.MarshalLeaf()
	if err != nil {
		return tlog.Hash{}, err
	}
	return tlog.RecordHash(leaf), nil
}

// MarshalJSON returns the leaf encoding of e.
func (e Entry) MarshalJSON() ([]byte, error) {
	return e.MarshalLeaf()
}

// UnmarshalJSON decodes an entry from JSON with the members of the leaf
// encoding. Unlike ParseLeaf it accepts any spelling of the same JSON
// (member order, escapes, white space), but the same values only.
func (e *Entry) UnmarshalJSON(b []byte) error {
	d, err := decodeEntry(b)
	if err != nil {
		return fmt.Errorf("failed to decode entry: %v", err)
	}
	if err := d.validate(); err != nil {
		return fmt.Errorf("failed to decode entry %d: %v", d.Index, err)
	}
	*e = d
	return nil
}

// validate reports the first field of e that a leaf cannot hold.
func (e Entry) validate() error {
	if e.Index < 0 || e.Index > MaxIndex {
		return fmt.Errorf("index %d out of range", e.Index)
	}
	if err := validateTime(e.Time); err != nil {
		return err
	}
	if !validEvent(e.Event) {
		return fmt.Errorf("invalid event name %q", e.Event)
	}
	fields := []struct{ name, value string }{
		{"jti", e.JTI}, {"sub", e.Sub}, {"action", e.Action},
		{"aud", e.Aud}, {"caller", e.Caller}, {"reason", e.Reason},
	}
	for _, f := range fields {
		if !utf8.ValidString(f.value) {
			return fmt.Errorf("%s is not valid UTF-8", f.name)
		}
	}
	return validateEvidence(e.Evidence)
}

// validateTime checks that t is a UTC time of TimePrecision between the
// years 1 and 9999.
func validateTime(t time.Time) error {
	switch {
	case t.IsZero():
		return errors.New("time is missing")
	case t.Location() != time.UTC:
		return fmt.Errorf("time %v is not in UTC", t)
	case t.Nanosecond()%int(TimePrecision) != 0:
		return fmt.Errorf("time %v is finer than %v", t, TimePrecision)
	case t.Year() < 1 || t.Year() > 9999:
		return fmt.Errorf("time %v out of range", t)
	}
	return nil
}

// validEvent reports whether ev is 1 to 64 characters of a-z, 0-9, '_'.
func validEvent(ev Event) bool {
	if len(ev) == 0 || len(ev) > maxEventLen {
		return false
	}
	for _, c := range []byte(ev) {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// validateEvidence checks that ev is empty or a compact JSON object in
// UTF-8.
func validateEvidence(ev json.RawMessage) error {
	if len(ev) == 0 {
		return nil
	}
	if !utf8.Valid(ev) || !json.Valid(ev) || ev[0] != '{' {
		return errors.New("evidence is not a JSON object")
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, ev); err != nil {
		return fmt.Errorf("evidence is not a JSON object: %v", err)
	}
	if !bytes.Equal(compact.Bytes(), ev) {
		return errors.New("evidence is not compact JSON")
	}
	return nil
}

// wireEntry is the shape of a leaf for decoding.
type wireEntry struct {
	Action   string          `json:"action"`
	Aud      string          `json:"aud"`
	Caller   string          `json:"caller"`
	Event    Event           `json:"event"`
	Evidence json.RawMessage `json:"evidence"`
	Index    *int64          `json:"index"`
	JTI      string          `json:"jti"`
	Reason   string          `json:"reason"`
	Sub      string          `json:"sub"`
	Time     *string         `json:"time"`
}

// decodeEntry reads one JSON object into an Entry without checking that
// its spelling is canonical or its values valid.
func decodeEntry(b []byte) (Entry, error) {
	var w wireEntry
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return Entry{}, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return Entry{}, errors.New("data after the entry")
	}
	if w.Index == nil {
		return Entry{}, errors.New("index is missing")
	}
	if w.Time == nil {
		return Entry{}, errors.New("time is missing")
	}
	t, err := time.Parse(leafTimeLayout, *w.Time)
	if err != nil {
		return Entry{}, fmt.Errorf("bad time %q", *w.Time)
	}
	return Entry{
		Index: *w.Index, Time: t, Event: w.Event,
		JTI: w.JTI, Sub: w.Sub, Action: w.Action, Aud: w.Aud,
		Caller: w.Caller, Reason: w.Reason, Evidence: w.Evidence,
	}, nil
}

// object appends the members of a JSON object, leaving out empty values.
type object struct {
	b []byte
}

// str appends the member name:"value" unless value is empty.
func (o *object) str(name, value string) {
	if value != "" {
		o.raw(name, appendString(nil, value))
	}
}

// raw appends the member name:value, where value is JSON already, unless
// it is empty.
func (o *object) raw(name string, value []byte) {
	if len(value) == 0 {
		return
	}
	if len(o.b) > 1 {
		o.b = append(o.b, ',')
	}
	o.b = appendString(o.b, name)
	o.b = append(o.b, ':')
	o.b = append(o.b, value...)
}

// appendString appends s as a JSON string, escaped as RFC 8785 section
// 3.2.2.2 says: '"' and '\' with a backslash, the five control characters
// that have one as \b \t \n \f \r, other control characters as \u00xx in
// lower-case hex, and everything else as it is. s must be valid UTF-8.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c >= 0x20:
			b = append(b, c)
		case c == '\b':
			b = append(b, '\\', 'b')
		case c == '\t':
			b = append(b, '\\', 't')
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\f':
			b = append(b, '\\', 'f')
		case c == '\r':
			b = append(b, '\\', 'r')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
	}
	return append(b, '"')
}
