package audit

import (
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"
)

// Kind says what VerifyLog found wrong.
type Kind int

// The kinds of VerifyError.
const (
	// KindIndex: an entry is missing, repeated or out of order.
	KindIndex Kind = iota + 1
	// KindEntry: an entry has a value no leaf can hold.
	KindEntry
	// KindLeafHash: an entry's leaf hash differs from the stored tree's,
	// or the stored tree has no leaf for it.
	KindLeafHash
	// KindStoredTree: an interior hash of the stored tree is wrong.
	KindStoredTree
	// KindMissing: the stored tree has a leaf after the last entry.
	KindMissing
	// KindCheckpoint: a checkpoint is malformed or its signature fails.
	KindCheckpoint
	// KindOrder: a checkpoint is smaller than the one before it.
	KindOrder
	// KindRollback: a checkpoint covers more entries than the log has.
	KindRollback
	// KindRoot: a checkpoint's root differs from the entries' tree.
	KindRoot
	// KindConsistency: a checkpoint does not extend the one before it.
	KindConsistency
)

// kindNames are the names String gives the kinds.
var kindNames = map[Kind]string{
	KindIndex: "index", KindEntry: "entry", KindLeafHash: "leaf hash",
	KindStoredTree: "stored tree", KindMissing: "missing entry",
	KindCheckpoint: "checkpoint", KindOrder: "checkpoint order",
	KindRollback: "rollback", KindRoot: "root",
	KindConsistency: "consistency",
}

// String returns a short lower-case name of k.
func (k Kind) String() string {
	if name, ok := kindNames[k]; ok {
		return name
	}
	return fmt.Sprintf("kind %d", int(k))
}

// VerifyError is the first fault VerifyLog found. It names an entry (by
// index), a checkpoint (by its position in the list, from 0), or a part
// of the stored tree.
type VerifyError struct {
	// Kind says what is wrong.
	Kind Kind
	// Entry is the index of the entry at fault, or -1.
	Entry int64
	// Checkpoint is the position of the checkpoint at fault, or -1.
	Checkpoint int
	// Size is the size of that checkpoint, or -1 if it is unknown.
	Size int64
	// Err describes the fault.
	Err error
}

// Error names the place of the fault and describes it.
func (e *VerifyError) Error() string {
	switch {
	case e.Checkpoint >= 0 && e.Size >= 0:
		return fmt.Sprintf("checkpoint %d (size %d): %v",
			e.Checkpoint, e.Size, e.Err)
	case e.Checkpoint >= 0:
		return fmt.Sprintf("checkpoint %d: %v", e.Checkpoint, e.Err)
	case e.Entry >= 0:
		return fmt.Sprintf("entry %d: %v", e.Entry, e.Err)
	}
	return fmt.Sprintf("stored tree: %v", e.Err)
}

// Unwrap returns the underlying fault.
func (e *VerifyError) Unwrap() error {
	return e.Err
}

// entryError returns a VerifyError that names entry i.
func entryError(k Kind, i int64, err error) *VerifyError {
	return &VerifyError{Kind: k, Entry: i, Checkpoint: -1, Size: -1, Err: err}
}

// checkpointError returns a VerifyError that names checkpoint j.
func checkpointError(k Kind, j int, size int64, err error) *VerifyError {
	return &VerifyError{Kind: k, Entry: -1, Checkpoint: j, Size: size,
		Err: err}
}

// storedBatch is how many stored hashes VerifyLog reads at once.
const storedBatch = 1024

// VerifyLog checks a whole audit log offline and returns nil, or a
// *VerifyError naming the first entry or checkpoint at fault.
//
// entries must be the whole log, in order. stored, if not nil, reads the
// tree hashes the log's store keeps. checkpoints are signed checkpoints
// in the order they were published, including any the caller kept from
// earlier (a store rolled back to an older copy then has fewer entries
// than such a checkpoint). v verifies their signatures and may be nil if
// there are none.
func VerifyLog(entries []Entry, stored tlog.HashReader,
	checkpoints [][]byte, v *Verifier) error {
	// 1. Indexes run from 0 without a gap, and every entry encodes.
	if err := checkEntries(entries); err != nil {
		return err
	}

	// 2. Rebuild the tree from the entries alone.
	tree, err := BuildTree(entries)
	if err != nil {
		return fmt.Errorf("failed to verify log: %v", err)
	}
	n := int64(len(entries))

	// 3. The store's tree is the same tree, and no longer.
	if stored != nil {
		if err := compareStored(tree, n, stored); err != nil {
			return err
		}
	}

	// 4. Each checkpoint is signed, fits the log and extends the last.
	if len(checkpoints) > 0 && v == nil {
		return errors.New("failed to verify log: no checkpoint key")
	}
	return checkCheckpoints(tree, n, checkpoints, v)
}

// checkEntries checks that entries[i].Index == i and that each entry is
// valid.
func checkEntries(entries []Entry) error {
	for i, e := range entries {
		if e.Index != int64(i) {
			return entryError(KindIndex, int64(i), fmt.Errorf(
				"out of sequence: found index %d in its place", e.Index))
		}
		if err := e.validate(); err != nil {
			return entryError(KindEntry, int64(i), err)
		}
	}
	return nil
}

// compareStored compares every hash of the tree of n entries with the
// stored one, in stored-hash order, so that the first difference is the
// earliest entry (or subtree) that differs. It then checks that the store
// has no leaf after the last entry.
func compareStored(tree *MemoryHashes, n int64, stored tlog.HashReader) error {
	total := tlog.StoredHashCount(n)
	for start := int64(0); start < total; start += storedBatch {
		indexes := make([]int64, 0, storedBatch)
		for x := start; x < total && x < start+storedBatch; x++ {
			indexes = append(indexes, x)
		}
		want, err := tree.ReadHashes(indexes)
		if err != nil {
			return fmt.Errorf("failed to verify log: %v", err)
		}
		got, err := stored.ReadHashes(indexes)
		if err != nil || len(got) != len(indexes) {
			return unreadableStored(indexes, stored)
		}
		for i, x := range indexes {
			if got[i] != want[i] {
				return storedMismatch(x)
			}
		}
	}

	extra := []int64{tlog.StoredHashIndex(0, n)}
	if h, err := stored.ReadHashes(extra); err == nil && len(h) == 1 {
		return entryError(KindMissing, n, errors.New(
			"missing from the log, but the stored tree has its leaf"))
	}
	return nil
}

// storedMismatch returns the VerifyError for a difference at stored-hash
// index x.
func storedMismatch(x int64) *VerifyError {
	level, k := tlog.SplitStoredHashIndex(x)
	if level == 0 {
		return entryError(KindLeafHash, k,
			errors.New("leaf hash does not match stored tree"))
	}
	lo := k << level
	hi := lo + 1<<level - 1
	return &VerifyError{Kind: KindStoredTree, Entry: -1, Checkpoint: -1,
		Size: -1, Err: fmt.Errorf(
			"hash of entries %d to %d does not match", lo, hi)}
}

// unreadableStored finds the first of indexes that stored cannot read and
// returns the VerifyError that names it.
func unreadableStored(indexes []int64, stored tlog.HashReader) error {
	for _, x := range indexes {
		h, err := stored.ReadHashes([]int64{x})
		if err == nil && len(h) == 1 {
			continue
		}
		if err == nil {
			err = fmt.Errorf("read %d hashes, want 1", len(h))
		}
		level, k := tlog.SplitStoredHashIndex(x)
		if level == 0 {
			return entryError(KindLeafHash, k, fmt.Errorf(
				"failed to read leaf hash from stored tree: %v", err))
		}
		return &VerifyError{Kind: KindStoredTree, Entry: -1,
			Checkpoint: -1, Size: -1, Err: fmt.Errorf(
				"failed to read hash %d: %v", x, err)}
	}
	return &VerifyError{Kind: KindStoredTree, Entry: -1, Checkpoint: -1,
		Size: -1, Err: fmt.Errorf("failed to read hashes %d to %d",
			indexes[0], indexes[len(indexes)-1])}
}

// checkCheckpoints verifies each checkpoint against the tree of the n
// entries and against the checkpoint before it.
func checkCheckpoints(tree *MemoryHashes, n int64, checkpoints [][]byte,
	v *Verifier) error {
	var prev Checkpoint
	for j, msg := range checkpoints {
		c, err := ParseCheckpoint(msg, v)
		if err != nil {
			return checkpointError(KindCheckpoint, j, -1, err)
		}
		if j > 0 && c.Size < prev.Size {
			return checkpointError(KindOrder, j, c.Size, fmt.Errorf(
				"smaller than checkpoint %d (size %d)", j-1, prev.Size))
		}
		if err := checkCheckpoint(tree, n, c, prev); err != nil {
			err.Checkpoint = j
			return err
		}
		prev = c
	}
	return nil
}

// checkCheckpoint verifies c against the tree of n entries and against
// prev, the verified checkpoint before it (the zero Checkpoint if none).
// The VerifyError it returns has no checkpoint position yet.
func checkCheckpoint(tree *MemoryHashes, n int64,
	c, prev Checkpoint) *VerifyError {
	fail := func(k Kind, err error) *VerifyError {
		return checkpointError(k, -1, c.Size, err)
	}

	// 1. The log still has every entry the checkpoint covers.
	if c.Size > n {
		return fail(KindRollback, fmt.Errorf("log has only %d entries: "+
			"truncated, or rolled back to an older copy", n))
	}

	// 2. Its root is the root of the first c.Size entries.
	root, err := TreeHash(c.Size, tree)
	if err != nil {
		return fail(KindRoot, err)
	}
	if root != c.Root {
		return fail(KindRoot, rootMismatch(prev.Size, c.Size))
	}

	// 3. It extends the previous checkpoint. An empty tree is a prefix of
	// every tree, so a checkpoint of size 0 needs no proof.
	if prev.Size == 0 {
		return nil
	}
	p, err := ConsistencyProof(prev.Size, c.Size, tree)
	if err == nil {
		err = CheckConsistency(p, prev.Size, prev.Root, c.Size, c.Root)
	}
	if err != nil {
		return fail(KindConsistency, err)
	}
	return nil
}

// rootMismatch describes a checkpoint of the given size whose root
// differs, when an earlier checkpoint of size verified matched: the
// entries changed since that checkpoint was signed lie between the two.
func rootMismatch(verified, size int64) error {
	if verified >= size {
		return errors.New("root does not match entries")
	}
	return fmt.Errorf("root does not match entries "+
		"(an entry from %d to %d differs)", verified, size-1)
}
