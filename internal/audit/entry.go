package audit

import (
	"encoding/json"
	"time"
)

// Event names what happened in one audit entry. It is an open set: the
// constants below are the events AgentMint records today, and later
// features (passkeys, approvals) add their own. An event name is 1 to 64
// characters from a-z, 0-9 and '_'.
type Event string

// The events AgentMint records.
const (
	// EventMinted records that a token was signed.
	EventMinted Event = "minted"
	// EventVerified records that a token was verified and its jti consumed.
	EventVerified Event = "verified"
	// EventRejected records that a presented token was refused; the entry's
	// Reason says why.
	EventRejected Event = "rejected"
	// EventKeyRotated records that a new token signing key became current.
	EventKeyRotated Event = "key_rotated"
	// EventCallerAdded records that an API caller was registered.
	EventCallerAdded Event = "caller_added"
	// EventCallerRevoked records that an API caller lost its access.
	EventCallerRevoked Event = "caller_revoked"
	// EventRejectionsDropped records how many rejections were not logged
	// one by one because they came faster than the configured rate; its
	// Evidence counts them by reason, e.g. {"malformed":120}.
	EventRejectionsDropped Event = "rejections_dropped"
	// EventPasskeyRegistered records that a user registered a passkey; the
	// evidence names the credential and its public key.
	EventPasskeyRegistered Event = "passkey_registered"
	// EventPasskeyApproved records that a user's passkey signed an approval
	// request and a token was minted for it; the evidence lets anyone
	// re-check the signature (passkey.VerifyEvidence).
	EventPasskeyApproved Event = "passkey_approved"
	// EventPasskeyFailed records a failed approval on a real, unexpired
	// challenge of the user; the entry's Reason says why.
	EventPasskeyFailed Event = "passkey_failed"
	// EventPasskeyLockout records that a user was locked out of approving
	// after too many failures.
	EventPasskeyLockout Event = "passkey_lockout"
	// EventPasskeyUnlocked records that an operator lifted a lockout.
	EventPasskeyUnlocked Event = "passkey_unlocked"
)

// The reasons a token is rejected, recorded in Entry.Reason of an
// EventRejected entry.
const (
	// ReasonExpired means the token's exp had passed.
	ReasonExpired = "expired"
	// ReasonReplay means the token's jti had already been consumed.
	ReasonReplay = "replay"
	// ReasonBadSignature means the signature did not verify.
	ReasonBadSignature = "bad_signature"
	// ReasonMalformed means the token failed the format checks.
	ReasonMalformed = "malformed"
	// ReasonUnknownKey means no current or unretired key has the token's kid.
	ReasonUnknownKey = "unknown_key"
	// ReasonBindingMismatch means the token's action or audience differs
	// from the one the resource provider named.
	ReasonBindingMismatch = "binding_mismatch"
	// ReasonThrottled means the request was refused by a rate limit.
	ReasonThrottled = "throttled"
	// ReasonBadAssertion means a passkey assertion failed a WebAuthn check.
	ReasonBadAssertion = "bad_assertion"
	// ReasonCounterRegression means a passkey's signature counter did not
	// advance: the authenticator may have been cloned.
	ReasonCounterRegression = "counter_regression"
)

// TimePrecision is the precision of Entry.Time. Microseconds are what both
// store backends keep exactly (PostgreSQL timestamps have no finer unit).
const TimePrecision = time.Microsecond

// Entry is one event of the audit log and one leaf of its Merkle tree.
//
// Its canonical encoding, which the tree hashes, is described in FORMAT.md
// and produced by MarshalLeaf. Its JSON encoding (MarshalJSON) is the same
// bytes.
type Entry struct {
	// Index is the entry's position in the log, contiguous from 0.
	Index int64
	// Time is when the event happened, in UTC and truncated to
	// TimePrecision; Timestamp makes such a value.
	Time time.Time
	// Event is what happened.
	Event Event
	// JTI is the token's jti, when the event concerns a token.
	JTI string
	// Sub is the approver named by the token.
	Sub string
	// Action is the approved action.
	Action string
	// Aud is the token's audience, when it has one.
	Aud string
	// Caller names the API caller that made the request.
	Caller string
	// Reason is why a token was rejected (one of the Reason constants).
	Reason string
	// Evidence is optional opaque JSON, an object such as the record of a
	// passkey assertion. It is hashed byte for byte and must be compact
	// (no whitespace outside strings).
	Evidence json.RawMessage
}

// Timestamp returns t in the form Entry.Time must have: UTC, truncated to
// TimePrecision, without a monotonic clock reading.
func Timestamp(t time.Time) time.Time {
	return t.UTC().Truncate(TimePrecision)
}
