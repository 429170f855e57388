package audit

import (
	"crypto/sha256"
	"errors"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

// referenceRoot computes the RFC 6962 Merkle tree hash of leaves
// straight from its definition (section 2.1), independently of tlog.
func referenceRoot(leaves []tlog.Hash) tlog.Hash {
	switch len(leaves) {
	case 0:
		return sha256.Sum256(nil)
	case 1:
		return leaves[0]
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	l, r := referenceRoot(leaves[:k]), referenceRoot(leaves[k:])
	return sha256.Sum256(append(append([]byte{1}, l[:]...), r[:]...))
}

// mustBuildTree returns the tree of entries.
func mustBuildTree(t *testing.T, entries []Entry) *MemoryHashes {
	t.Helper()
	tree, err := BuildTree(entries)
	if err != nil {
		t.Fatalf("BuildTree: %v", err)
	}
	return tree
}

func TestTreeProofs(t *testing.T) {
	const n = 300
	entries := testEntries(n)
	tree := mustBuildTree(t, entries)

	leaves := make([]tlog.Hash, n)
	roots := make([]tlog.Hash, n+1)
	for i, e := range entries {
		leaf, err := LeafHash(e)
		if err != nil {
			t.Fatal(err)
		}
		leaves[i] = leaf
	}
	for size := int64(0); size <= n; size++ {
		root, err := TreeHash(size, tree)
		if err != nil {
			t.Fatalf("TreeHash(%d): %v", size, err)
		}
		if want := referenceRoot(leaves[:size]); root != want {
			t.Fatalf("TreeHash(%d) = %v, want %v", size, root, want)
		}
		roots[size] = root
	}

	for size := int64(1); size <= n; size++ {
		checkInclusionAt(t, tree, size, roots[size], leaves)
	}
	for to := int64(1); to <= n; to++ {
		for from := int64(1); from <= to; from += 1 + from/7 {
			checkConsistencyAt(t, tree, from, to, roots)
		}
	}
}

// checkInclusionAt proves and checks every leaf in the tree of size, and
// that each proof fails for the neighbouring leaf.
func checkInclusionAt(t *testing.T, tree *MemoryHashes, size int64,
	root tlog.Hash, leaves []tlog.Hash) {
	t.Helper()
	for i := int64(0); i < size; i++ {
		p, err := InclusionProof(i, size, tree)
		if err != nil {
			t.Fatalf("InclusionProof(%d, %d): %v", i, size, err)
		}
		if err := CheckInclusion(p, i, size, root, leaves[i]); err != nil {
			t.Fatalf("CheckInclusion(%d, %d): %v", i, size, err)
		}
		other := (i + 1) % size
		if other == i {
			continue
		}
		if CheckInclusion(p, i, size, root, leaves[other]) == nil {
			t.Fatalf("proof of %d in %d accepts leaf %d", i, size, other)
		}
	}
}

// checkConsistencyAt proves and checks that size from is a prefix of size
// to, and that the proof fails against a wrong older root.
func checkConsistencyAt(t *testing.T, tree *MemoryHashes, from, to int64,
	roots []tlog.Hash) {
	t.Helper()
	p, err := ConsistencyProof(from, to, tree)
	if err != nil {
		t.Fatalf("ConsistencyProof(%d, %d): %v", from, to, err)
	}
	err = CheckConsistency(p, from, roots[from], to, roots[to])
	if err != nil {
		t.Fatalf("CheckConsistency(%d, %d): %v", from, to, err)
	}
	if from == to {
		return
	}
	if CheckConsistency(p, from, roots[from-1], to, roots[to]) == nil {
		t.Fatalf("CheckConsistency(%d, %d) accepts the root of %d",
			from, to, from-1)
	}
}

func TestProofArgumentErrors(t *testing.T) {
	tree := mustBuildTree(t, testEntries(10))
	tests := []struct {
		name string
		err  error
	}{
		{"inclusion index past size", errOf(InclusionProof(5, 5, tree))},
		{"inclusion negative", errOf(InclusionProof(-1, 5, tree))},
		{"inclusion past tree", errOf(InclusionProof(3, 11, tree))},
		{"consistency from 0", errOf(ConsistencyProof(0, 5, tree))},
		{"consistency backwards", errOf(ConsistencyProof(6, 5, tree))},
		{"consistency past tree", errOf(ConsistencyProof(3, 11, tree))},
		{"tree hash past tree", errOf(TreeHash(11, tree))},
	}
	for _, tc := range tests {
		if tc.err == nil {
			t.Errorf("%s: no error", tc.name)
		} else if !strings.HasPrefix(tc.err.Error(), "failed to ") {
			t.Errorf("%s: error %q lacks context", tc.name, tc.err)
		}
	}
}

// errOf returns the error of a two-result call.
func errOf[T any](_ T, err error) error {
	return err
}

func TestAppend(t *testing.T) {
	m := &MemoryHashes{}
	for i := range int64(5) {
		leaf, err := Append(m, testEntry(i))
		if err != nil {
			t.Fatalf("Append(%d): %v", i, err)
		}
		want, _ := LeafHash(testEntry(i))
		if leaf != want {
			t.Errorf("Append(%d) = %v, want leaf hash %v", i, leaf, want)
		}
		if got, want := m.Len(), tlog.StoredHashCount(i+1); got != want {
			t.Errorf("after %d entries Len() = %d, want %d", i+1, got, want)
		}
	}

	// An entry that is not the next one, or cannot be encoded.
	if _, err := Append(m, testEntry(7)); err == nil {
		t.Error("Append of entry 7 after 5 entries succeeded")
	}
	bad := testEntry(5)
	bad.Event = ""
	if _, err := Append(m, bad); err == nil {
		t.Error("Append of an invalid entry succeeded")
	}
	if err := m.WriteHashes(0, []tlog.Hash{{}}); err == nil {
		t.Error("WriteHashes over stored hashes succeeded")
	}
}

func TestStoredHashesReaderError(t *testing.T) {
	failing := tlog.HashReaderFunc(func([]int64) ([]tlog.Hash, error) {
		return nil, errors.New("disk on fire")
	})
	_, _, err := StoredHashes(testEntry(1), failing)
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("StoredHashes error = %v, want the reader's", err)
	}
}

func TestBuildTreeRejectsGap(t *testing.T) {
	entries := testEntries(3)
	entries[2].Index = 3
	if _, err := BuildTree(entries); err == nil {
		t.Error("BuildTree accepted indexes 0, 1, 3")
	}
}
