package ledger

import (
	"context"
	"errors"
	"time"

	"github.com/agentmint/agentmint/internal/audit"
	"golang.org/x/mod/sumdb/tlog"
)

// ErrTreeMoved is returned by ExtendTree when the stored tree no longer
// has the size the caller built on: another process extended it first.
// The caller should read the tree size again and carry on from there.
var ErrTreeMoved = errors.New("audit tree was extended concurrently")

// ErrNotFound is returned when an audit entry or checkpoint asked for
// does not exist (yet). The caller should report it as not found.
var ErrNotFound = errors.New("not found")

// StoredCheckpoint is a signed checkpoint as a store keeps it.
type StoredCheckpoint struct {
	// Size is the tree size the checkpoint signs.
	Size int64
	// Time is when it was stored.
	Time time.Time
	// Note is the signed note, as audit.SignCheckpoint made it.
	Note []byte
}

// AuditTree is the part of a store that keeps the audit log's Merkle tree
// and its signed checkpoints next to the entries. Entries are committed by
// Consume and Append; the tree is brought up to date after the commit by
// one tree builder at a time (see internal/auditlog), so it may trail the
// entries but never runs ahead of them. All methods are safe for
// concurrent use.
type AuditTree interface {
	// AuditSize returns the number of committed entries.
	AuditSize(ctx context.Context) (int64, error)
	// EntryRange returns the entries with from <= index < to, in index
	// order. Missing entries are left out, not reported.
	EntryRange(ctx context.Context, from, to int64) ([]audit.Entry, error)

	// TreeSize returns the number of entries the stored tree covers.
	TreeSize(ctx context.Context) (int64, error)
	// ReadHashes returns the stored hashes at the given tlog stored-hash
	// indexes, in the same order; it fails if one is not stored.
	ReadHashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error)
	// ExtendTree stores the hashes of entries from to to-1, which start at
	// stored-hash index tlog.StoredHashIndex(0, from), and sets the tree
	// size to to, in one transaction, provided the tree size is still
	// from. Otherwise it returns ErrTreeMoved and writes nothing.
	ExtendTree(ctx context.Context, from, to int64, hashes []tlog.Hash) error

	// AddCheckpoint stores a signed checkpoint of the tree at size. A
	// second checkpoint of the same size is ignored.
	AddCheckpoint(ctx context.Context, c StoredCheckpoint) error
	// Checkpoints returns up to limit stored checkpoints with a size
	// greater than after (use -1 for all), smallest first.
	Checkpoints(ctx context.Context, after int64, limit int) (
		[]StoredCheckpoint, error)
	// LatestCheckpoint returns the checkpoint of the largest size, or
	// ErrNotFound if there is none.
	LatestCheckpoint(ctx context.Context) (StoredCheckpoint, error)
}
