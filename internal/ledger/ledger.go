// Package ledger defines the single-use contract at the heart of AgentMint:
// a token's jti is consumed at most once, and the consume and its audit
// entry are committed together. Backends (SQLite, PostgreSQL) implement
// Store and prove it with the conformance suite in ledgertest.
package ledger

import (
	"context"
	"errors"
	"time"

	"github.com/agentmint/agentmint/internal/audit"
)

// ErrAlreadyUsed is returned by Consume when the jti was consumed before.
// The caller must refuse the token: it is a replay.
var ErrAlreadyUsed = errors.New("token already used")

// ErrUnavailable wraps failures of the store itself. The caller must fail
// closed: answer "unavailable" and honour nothing, and may retry later.
var ErrUnavailable = errors.New("store unavailable")

// ErrClosed is returned by a store after Close.
var ErrClosed = errors.New("store closed")

// PruneMargin is how long a consumed jti is kept after its token stopped
// verifying, so that replicas whose clocks differ, or a clock that steps,
// still refuse it: as long as a token can live.
const PruneMargin = 5 * time.Minute

// Consumption is the consume of one jti with the audit entry that records
// it.
type Consumption struct {
	// JTI is the token's signed jti.
	JTI string
	// Until is when the token stops verifying (exp plus leeway); the jti is
	// kept at least until then plus PruneMargin. It must follow from the
	// signed token alone, so that every presentation of a token carries
	// the same Until: a store may key consumes by the pair (the SQLite
	// store does, to prune along its key).
	Until time.Time
	// Entry is the audit entry to append; its Index is assigned by the
	// store.
	Entry audit.Entry
}

// Filter selects audit entries, newest first.
type Filter struct {
	Event  string    // only entries of this event, if not empty
	Sub    string    // only entries with this sub, if not empty
	Action string    // only entries with this action, if not empty
	Since  time.Time // only entries at or after Since, if not zero
	Until  time.Time // only entries before Until, if not zero
	// Before, if positive, returns only entries with a smaller index: the
	// cursor for the next page.
	Before int64
	Limit  int // at most this many entries; must be positive
}

// Store is a ledger backend. All methods are safe for concurrent use.
type Store interface {
	// Consume marks c.JTI as used and appends c.Entry in one transaction,
	// committed durably before it returns nil. It returns the entry with
	// its index. If the token was consumed before (its jti, with the same
	// Until) it returns ErrAlreadyUsed and writes nothing.
	Consume(ctx context.Context, c Consumption) (audit.Entry, error)
	// Append appends one entry to the audit log durably and returns it
	// with its index.
	Append(ctx context.Context, e audit.Entry) (audit.Entry, error)
	// AppendAfter reads the newest entry of event (nil if there is none)
	// and appends the entry next makes of it, or nothing if next returns
	// false; it reports whether it appended. The read and the append are
	// one transaction, serialized with every other append, so callers that
	// race, such as replicas starting at once, each see the others' entry.
	AppendAfter(ctx context.Context, event audit.Event,
		next func(last *audit.Entry) (audit.Entry, bool)) (bool, error)
	// Entries returns the entries that match f, newest first.
	Entries(ctx context.Context, f Filter) ([]audit.Entry, error)
	// Prune deletes consumed jtis whose Until is before now minus
	// PruneMargin and returns how many it deleted.
	Prune(ctx context.Context, now time.Time) (int64, error)
	// Ping reports whether the store is usable.
	Ping(ctx context.Context) error
	// Close waits for pending writes and releases the store.
	Close() error
}
