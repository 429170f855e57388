package passkey

import (
	"context"
	"errors"
	"time"

	"github.com/agentmint/agentmint/internal/audit"
)

// ErrNotFound is returned by a Store when the user, credential or
// challenge asked for does not exist. For a challenge it also means it
// was taken before: the caller must refuse the finish.
var ErrNotFound = errors.New("not found")

// ErrExists is returned by Store.AddCredential when a credential with the
// same id is registered already. The caller must refuse the registration.
var ErrExists = errors.New("already exists")

// ErrConflict is returned by Store.UpdateCredential when the stored sign
// counter is no longer the one the caller read: another assertion of the
// same credential finished in between. The caller must refuse this one.
var ErrConflict = errors.New("conflicting update")

// User is a person who can hold passkeys. ID is AgentMint's name for them,
// the sub of the tokens they approve; Handle is the random WebAuthn user
// handle given to authenticators in its place.
type User struct {
	ID      string
	Handle  []byte
	Name    string
	Created time.Time
}

// Credential is one registered passkey.
type Credential struct {
	ID                []byte
	UserID            string
	PublicKey         []byte // COSE_Key, as the authenticator sent it
	SignCount         uint32
	BackupEligible    bool
	BackupState       bool
	AAGUID            []byte
	AttestationFormat string
	Transports        []string
	Created           time.Time
	LastUsed          time.Time // zero until the first approval
}

// ChallengeKind says which ceremony a challenge belongs to.
type ChallengeKind string

// The ceremonies.
const (
	KindRegister ChallengeKind = "register"
	KindApprove  ChallengeKind = "approve"
)

// Challenge is a ceremony begun and not yet finished, kept server-side.
type Challenge struct {
	// Value is the challenge the authenticator signs: random for a
	// registration, the hash of Request for an approval.
	Value  []byte
	UserID string
	Kind   ChallengeKind
	// Session is go-webauthn's SessionData for the ceremony, as JSON.
	Session []byte
	// Request is the canonical approval request; empty for a registration.
	Request []byte
	Expires time.Time
}

// Lockout is a user's record of failed approvals.
type Lockout struct {
	// Failures counts failed finishes since WindowStart.
	Failures    int
	WindowStart time.Time
	// LockedUntil is when a lockout ends; zero or past when not locked.
	LockedUntil time.Time
}

// Store keeps users, credentials, challenges and lockouts. Every method is
// safe for concurrent use, and every write is durable when it returns.
// internal/sqlite implements it.
type Store interface {
	// User returns the user with id, or ErrNotFound.
	User(ctx context.Context, id string) (User, error)
	// CreateUser stores u unless a user with u.ID exists, and returns the
	// stored user in either case.
	CreateUser(ctx context.Context, u User) (User, error)
	// Credentials returns the credentials of a user, oldest first.
	Credentials(ctx context.Context, userID string) ([]Credential, error)
	// AddCredential stores a new credential and appends e to the audit
	// log in one transaction, or returns ErrExists and writes nothing.
	AddCredential(ctx context.Context, c Credential, e audit.Entry) error
	// UpdateCredential stores c's SignCount, BackupState and LastUsed if
	// the stored sign counter is still prevCount, else returns ErrConflict.
	UpdateCredential(ctx context.Context, c Credential, prevCount uint32) error
	// PutChallenge stores a challenge.
	PutChallenge(ctx context.Context, c Challenge) error
	// TakeChallenge deletes the challenge with value and returns it, or
	// returns ErrNotFound. Of concurrent calls for one value, at most one
	// returns it.
	TakeChallenge(ctx context.Context, value []byte) (Challenge, error)
	// Lockout returns the lockout record of a user, zero if none.
	Lockout(ctx context.Context, userID string) (Lockout, error)
	// UpdateLockout replaces the lockout record of a user with f of it, in
	// one transaction, and returns the new record. A zero record is
	// deleted.
	UpdateLockout(ctx context.Context, userID string, f func(Lockout) Lockout) (Lockout, error)
	// PruneChallenges deletes challenges that expired before now, and
	// lockout records with nothing left to count, and returns how many
	// rows it deleted.
	PruneChallenges(ctx context.Context, now time.Time) (int64, error)
}
