package audit

import (
	"fmt"
	"sync"

	"golang.org/x/mod/sumdb/tlog"
)

// HashStore holds the hashes of a log's Merkle tree, addressed by tlog's
// stored-hash index (tlog.StoredHashIndex). A store backend implements it
// over the table it keeps them in, and writes the hashes of a new entry in
// the same transaction as the entry itself.
type HashStore interface {
	tlog.HashReader

	// WriteHashes stores hashes at the stored-hash indexes start,
	// start+1, and so on. The log is append-only: start is always the
	// number of hashes stored so far.
	WriteHashes(start int64, hashes []tlog.Hash) error
}

// StoredHashes returns the hashes to store when e is appended to a log
// whose earlier hashes r reads, and the stored-hash index of the first of
// them. It wraps tlog.StoredHashesForRecordHash.
func StoredHashes(e Entry, r tlog.HashReader) (int64, []tlog.Hash, error) {
	leaf, err := LeafHash(e)
	if err != nil {
		return 0, nil, err
	}
	hashes, err := tlog.StoredHashesForRecordHash(e.Index, leaf, r)
	if err != nil {
		return 0, nil, fmt.Errorf(
			"failed to compute stored hashes of entry %d: %w", e.Index, err)
	}
	return tlog.StoredHashIndex(0, e.Index), hashes, nil
}

// Append computes the hashes for e, which must be the next entry of the
// log in s, and writes them to s. It returns e's leaf hash.
func Append(s HashStore, e Entry) (tlog.Hash, error) {
	start, hashes, err := StoredHashes(e, s)
	if err != nil {
		return tlog.Hash{}, err
	}
	if err := s.WriteHashes(start, hashes); err != nil {
		return tlog.Hash{}, fmt.Errorf(
			"failed to store hashes of entry %d: %w", e.Index, err)
	}
	return hashes[0], nil
}

// TreeHash returns the root hash of the first n entries of the log whose
// hashes r reads.
func TreeHash(n int64, r tlog.HashReader) (tlog.Hash, error) {
	h, err := tlog.TreeHash(n, r)
	if err != nil {
		return tlog.Hash{}, fmt.Errorf(
			"failed to compute tree hash at size %d: %w", n, err)
	}
	return h, nil
}

// InclusionProof returns the proof that entry index is in the tree of
// size treeSize.
func InclusionProof(index, treeSize int64, r tlog.HashReader) (
	tlog.RecordProof, error) {
	if index < 0 || index >= treeSize {
		return nil, fmt.Errorf("failed to prove inclusion of entry %d "+
			"in tree of size %d: index out of range", index, treeSize)
	}
	p, err := tlog.ProveRecord(treeSize, index, r)
	if err != nil {
		return nil, fmt.Errorf("failed to prove inclusion of entry %d "+
			"in tree of size %d: %w", index, treeSize, err)
	}
	return p, nil
}

// ConsistencyProof returns the proof that the tree of size from is a
// prefix of the tree of size to.
func ConsistencyProof(from, to int64, r tlog.HashReader) (
	tlog.TreeProof, error) {
	if from < 1 || from > to {
		return nil, fmt.Errorf("failed to prove consistency of sizes "+
			"%d and %d: sizes out of range", from, to)
	}
	p, err := tlog.ProveTree(to, from, r)
	if err != nil {
		return nil, fmt.Errorf("failed to prove consistency of sizes "+
			"%d and %d: %w", from, to, err)
	}
	return p, nil
}

// CheckInclusion verifies that p proves that the tree of size treeSize
// with root hash root has leaf hash leaf at position index.
func CheckInclusion(p tlog.RecordProof, index, treeSize int64,
	root, leaf tlog.Hash) error {
	if err := tlog.CheckRecord(p, treeSize, root, index, leaf); err != nil {
		return fmt.Errorf("failed to verify inclusion of entry %d "+
			"in tree of size %d: %v", index, treeSize, err)
	}
	return nil
}

// CheckConsistency verifies that p proves that the tree of size from with
// root fromRoot is a prefix of the tree of size to with root toRoot. Both
// sizes must be at least 1: a proof from the empty tree proves nothing.
func CheckConsistency(p tlog.TreeProof, from int64, fromRoot tlog.Hash,
	to int64, toRoot tlog.Hash) error {
	if err := tlog.CheckTree(p, to, toRoot, from, fromRoot); err != nil {
		return fmt.Errorf("failed to verify consistency of sizes "+
			"%d and %d: %v", from, to, err)
	}
	return nil
}

// MemoryHashes is a HashStore in memory, for tests and for checking an
// exported log offline. It is safe for concurrent use. The zero value is
// an empty tree.
type MemoryHashes struct {
	mu     sync.RWMutex
	hashes []tlog.Hash
}

// BuildTree returns the tree of entries, which must be a whole log:
// entries[i].Index == i.
func BuildTree(entries []Entry) (*MemoryHashes, error) {
	m := &MemoryHashes{}
	for i, e := range entries {
		if e.Index != int64(i) {
			return nil, fmt.Errorf("failed to build tree: "+
				"entry at position %d has index %d", i, e.Index)
		}
		if _, err := Append(m, e); err != nil {
			return nil, fmt.Errorf("failed to build tree: %v", err)
		}
	}
	return m, nil
}

// ReadHashes returns the hashes at the given stored-hash indexes.
func (m *MemoryHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(m.hashes)) {
			return nil, fmt.Errorf("failed to read hash %d: "+
				"only %d hashes stored", x, len(m.hashes))
		}
		out[i] = m.hashes[x]
	}
	return out, nil
}

// WriteHashes appends hashes, which must start at the next free index.
func (m *MemoryHashes) WriteHashes(start int64, hashes []tlog.Hash) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if start != int64(len(m.hashes)) {
		return fmt.Errorf("failed to write hashes at %d: next index is %d",
			start, len(m.hashes))
	}
	m.hashes = append(m.hashes, hashes...)
	return nil
}

// Len returns the number of hashes stored.
func (m *MemoryHashes) Len() int64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return int64(len(m.hashes))
}
