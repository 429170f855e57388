// Package callers is the vocabulary of API callers: who may call which
// endpoint, their API keys and the store interface that keeps them. It does
// no I/O of its own; internal/sqlite implements Store.
package callers

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Role is what a caller may do.
type Role string

// The roles.
const (
	// RoleMinter may mint tokens (POST /mint).
	RoleMinter Role = "minter"
	// RoleVerifier may verify and consume tokens (POST /proxy).
	RoleVerifier Role = "verifier"
	// RoleAuditor may read the audit log (GET /audit), and the metrics
	// when they are not public.
	RoleAuditor Role = "auditor"
)

// ParseRole returns the role named s.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleMinter, RoleVerifier, RoleAuditor:
		return r, nil
	}
	return "", fmt.Errorf("unknown role %q: want minter, verifier or auditor", s)
}

// KeyPrefix starts every API key, so that a key that leaks into a log, a
// paste or a repository is recognisable (and can be found by secret
// scanners).
const KeyPrefix = "am_"

// keyBytes is the random part of a key: 256 bits.
const keyBytes = 32

// KeyLen is the length of an API key: the prefix and 43 base64url
// characters.
const KeyLen = len(KeyPrefix) + 43

// Hash is the SHA-256 of an API key, the only form in which keys are
// stored.
//
// NOTE: a fast unsalted hash is right here because keys are 256 random
// bits: nobody can guess a preimage, so a slow password hash (bcrypt,
// argon2) would cost every request milliseconds and protect nothing more.
// It would be wrong for keys a human chooses, which these never are.
type Hash [sha256.Size]byte

// HashKey returns the stored form of key.
func HashKey(key string) Hash {
	return sha256.Sum256([]byte(key))
}

// Equal compares two hashes in constant time.
func (h Hash) Equal(o Hash) bool {
	return subtle.ConstantTimeCompare(h[:], o[:]) == 1
}

// NewKey returns a new random API key and its hash.
func NewKey() (string, Hash, error) {
	var b [keyBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", Hash{}, fmt.Errorf("failed to generate key: %v", err)
	}
	key := KeyPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return key, HashKey(key), nil
}

// WellFormedKey reports whether key has the shape of an API key: the
// prefix and 43 base64url characters. It says nothing about whether the key
// is known.
func WellFormedKey(key string) bool {
	if len(key) != KeyLen || !strings.HasPrefix(key, KeyPrefix) {
		return false
	}
	for i := len(KeyPrefix); i < len(key); i++ {
		c := key[i]
		ok := c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' ||
			c >= '0' && c <= '9' || c == '-' || c == '_'
		if !ok {
			return false
		}
	}
	return true
}

// ParseBearer returns the credential of an Authorization header value of
// the Bearer scheme (RFC 6750 section 2.1: the scheme name is matched
// without regard to case, then one or more spaces, then a token68). It
// reports false for any other value.
func ParseBearer(v string) (string, bool) {
	const scheme = "bearer"
	if len(v) <= len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) {
		return "", false
	}
	rest := v[len(scheme):]
	cred := strings.TrimLeft(rest, " ")
	if len(cred) == len(rest) || cred == "" {
		return "", false
	}
	// token68: ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/", then "="s.
	i := 0
	for i < len(cred) && isToken68(cred[i]) {
		i++
	}
	for i < len(cred) && cred[i] == '=' {
		i++
	}
	if i != len(cred) || cred[0] == '=' {
		return "", false
	}
	return cred, true
}

func isToken68(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/'
}

// MaxNameLen is the longest caller name.
const MaxNameLen = 64

// ValidateName checks a caller name: 1 to 64 characters from letters,
// digits and ".-_@". Names reach logs and audit entries, so they are kept
// to characters that need no escaping anywhere.
func ValidateName(name string) error {
	if name == "" || len(name) > MaxNameLen {
		return fmt.Errorf("caller name must be 1 to %d characters", MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' ||
			c >= '0' && c <= '9' || strings.IndexByte(".-_@", c) >= 0
		if !ok {
			return errors.New("caller name may only use letters, digits and .-_@")
		}
	}
	return nil
}

// Caller is one API client.
type Caller struct {
	Name    string
	Role    Role
	KeyHash Hash
	Created time.Time
	// Revoked is when the caller lost its access; zero while it has it.
	Revoked time.Time
}

// Active reports whether the caller may still authenticate.
func (c *Caller) Active() bool { return c.Revoked.IsZero() }

// ErrExists is returned by Store.Add when the name is taken. Choose another
// name; a revoked caller's name is not reused, so that old audit entries
// stay unambiguous.
var ErrExists = errors.New("a caller of that name exists")

// ErrNotFound is returned when no caller matches. An unknown key must be
// refused with 401.
var ErrNotFound = errors.New("no such caller")

// ErrRevoked is returned by Store.Revoke when the caller was revoked
// before; nothing changed.
var ErrRevoked = errors.New("caller already revoked")

// Store keeps callers and which caller minted each token.
//
// Reads must see every committed write at once, including writes by another
// process on the same database, so that a revocation takes effect without a
// restart: implementations look callers up per request and cache nothing a
// revocation could make stale.
type Store interface {
	// AddCaller records c and an audit entry of its creation, in one
	// transaction. It returns ErrExists if the name is taken.
	AddCaller(ctx context.Context, c Caller) error
	// RevokeCaller revokes the named caller at the given time and records
	// an audit entry. It returns ErrNotFound or ErrRevoked.
	RevokeCaller(ctx context.Context, name string, at time.Time) error
	// Callers returns every caller, revoked ones included, by name.
	Callers(ctx context.Context) ([]Caller, error)
	// CallerByKey returns the caller whose key hashes to h, revoked or
	// not, or ErrNotFound.
	CallerByKey(ctx context.Context, h Hash) (Caller, error)
	// HasCallers reports whether any caller was ever added. Revoked
	// callers count: revoking the last caller must not reopen the service
	// to unauthenticated requests.
	HasCallers(ctx context.Context) (bool, error)
	// Minter returns the caller that minted jti, as the token's minted
	// audit entry names it, or "" if no caller did (the token was minted
	// without a key).
	Minter(ctx context.Context, jti string) (string, error)
}
