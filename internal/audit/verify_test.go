package audit

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/mod/sumdb/tlog"
)

// testLog is a log of 40 entries with its stored tree and checkpoints at
// sizes 10, 25 and 40.
type testLog struct {
	entries     []Entry
	stored      *MemoryHashes
	checkpoints [][]byte
	signer      *Signer
	verifier    *Verifier
}

// newTestLog returns a valid testLog.
func newTestLog(t *testing.T) *testLog {
	t.Helper()
	s, v := testKey(t, testOrigin, 1)
	l := &testLog{entries: testEntries(40), signer: s, verifier: v}
	l.stored = mustBuildTree(t, l.entries)
	for _, size := range []int64{10, 25, 40} {
		l.checkpoints = append(l.checkpoints, l.sign(t, size))
	}
	return l
}

// sign returns a checkpoint of the log's stored tree at size.
func (l *testLog) sign(t *testing.T, size int64) []byte {
	t.Helper()
	root, err := TreeHash(size, l.stored)
	if err != nil {
		t.Fatal(err)
	}
	return mustSign(t, l.signer, size, root)
}

// copyStored returns a copy of the stored tree to tamper with.
func (l *testLog) copyStored() *MemoryHashes {
	return &MemoryHashes{hashes: slices.Clone(l.stored.hashes)}
}

func TestVerifyLogValid(t *testing.T) {
	l := newTestLog(t)
	tests := []struct {
		name        string
		entries     []Entry
		stored      tlog.HashReader
		checkpoints [][]byte
	}{
		{"everything", l.entries, l.stored, l.checkpoints},
		{"no stored tree", l.entries, nil, l.checkpoints},
		{"no checkpoints", l.entries, l.stored, nil},
		{"repeated checkpoint", l.entries, l.stored, [][]byte{
			l.checkpoints[1], l.checkpoints[1], l.checkpoints[2]}},
		{"empty log", nil, &MemoryHashes{}, [][]byte{
			mustSign(t, l.signer, 0, emptyRoot(t))}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifyLog(tc.entries, tc.stored, tc.checkpoints,
				l.verifier)
			if err != nil {
				t.Errorf("VerifyLog: %v", err)
			}
		})
	}
}

// emptyRoot returns the root hash of the empty tree.
func emptyRoot(t *testing.T) tlog.Hash {
	t.Helper()
	root, err := TreeHash(0, &MemoryHashes{})
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// verifyCase is a tampered log and the fault VerifyLog must report.
type verifyCase struct {
	name        string
	entries     []Entry
	stored      tlog.HashReader
	checkpoints [][]byte
	want        *VerifyError // Err is not compared
	wantMsg     string
}

func TestVerifyLogTampered(t *testing.T) {
	l := newTestLog(t)
	var cases []verifyCase
	cases = append(cases, entryTamperCases(t, l)...)
	cases = append(cases, storeTamperCases(t, l)...)
	cases = append(cases, checkpointTamperCases(t, l)...)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifyLog(tc.entries, tc.stored, tc.checkpoints,
				l.verifier)
			var got *VerifyError
			if !errors.As(err, &got) {
				t.Fatalf("VerifyLog error = %v, want a *VerifyError", err)
			}
			opt := cmpopts.IgnoreFields(VerifyError{}, "Err")
			if diff := cmp.Diff(tc.want, got, opt); diff != "" {
				t.Errorf("VerifyError differs (-want +got):\n%s", diff)
			}
			if got.Error() != tc.wantMsg {
				t.Errorf("message = %q, want %q", got.Error(), tc.wantMsg)
			}
		})
	}
}

// atEntry returns the expected VerifyError naming entry i.
func atEntry(k Kind, i int64) *VerifyError {
	return &VerifyError{Kind: k, Entry: i, Checkpoint: -1, Size: -1}
}

// atCheckpoint returns the expected VerifyError naming checkpoint j.
func atCheckpoint(k Kind, j int, size int64) *VerifyError {
	return &VerifyError{Kind: k, Entry: -1, Checkpoint: j, Size: size}
}

// entryTamperCases change, delete and reorder entries.
func entryTamperCases(t *testing.T, l *testLog) []verifyCase {
	changed := slices.Clone(l.entries)
	changed[17].Sub = "mallory@company.com"

	withoutLast := l.entries[:39]
	withoutMiddle := slices.Delete(slices.Clone(l.entries), 20, 21)

	swapped := slices.Clone(l.entries)
	swapped[5], swapped[6] = swapped[6], swapped[5]
	reindexed := slices.Clone(swapped)
	reindexed[5].Index, reindexed[6].Index = 5, 6

	invalid := slices.Clone(l.entries)
	invalid[3].Event = "Not An Event"

	return []verifyCase{
		{"changed field", changed, l.stored, l.checkpoints,
			atEntry(KindLeafHash, 17),
			"entry 17: leaf hash does not match stored tree"},
		{"changed field, no stored tree", changed, nil, l.checkpoints,
			atCheckpoint(KindRoot, 1, 25),
			"checkpoint 1 (size 25): root does not match entries " +
				"(an entry from 10 to 24 differs)"},
		{"last deleted", withoutLast, l.stored, l.checkpoints,
			atEntry(KindMissing, 39), "entry 39: missing from the log, " +
				"but the stored tree has its leaf"},
		{"last deleted, no stored tree", withoutLast, nil, l.checkpoints,
			atCheckpoint(KindRollback, 2, 40),
			"checkpoint 2 (size 40): log has only 39 entries: " +
				"truncated, or rolled back to an older copy"},
		{"middle deleted", withoutMiddle, l.stored, l.checkpoints,
			atEntry(KindIndex, 20),
			"entry 20: out of sequence: found index 21 in its place"},
		{"swapped", swapped, l.stored, l.checkpoints,
			atEntry(KindIndex, 5),
			"entry 5: out of sequence: found index 6 in its place"},
		{"swapped and reindexed", reindexed, l.stored, l.checkpoints,
			atEntry(KindLeafHash, 5),
			"entry 5: leaf hash does not match stored tree"},
		{"swapped and reindexed, no stored tree", reindexed, nil,
			l.checkpoints, atCheckpoint(KindRoot, 0, 10),
			"checkpoint 0 (size 10): root does not match entries " +
				"(an entry from 0 to 9 differs)"},
		{"invalid entry", invalid, l.stored, l.checkpoints,
			atEntry(KindEntry, 3),
			`entry 3: invalid event name "Not An Event"`},
	}
}

// storeTamperCases damage the stored tree.
func storeTamperCases(t *testing.T, l *testLog) []verifyCase {
	interior := l.copyStored()
	x := tlog.StoredHashIndex(2, 3) // entries 12 to 15
	interior.hashes[x][0] ^= 1

	leaf := l.copyStored()
	leaf.hashes[tlog.StoredHashIndex(0, 33)][31] ^= 1

	short := mustBuildTree(t, l.entries[:30])

	return []verifyCase{
		{"interior hash", l.entries, interior, l.checkpoints,
			&VerifyError{Kind: KindStoredTree, Entry: -1, Checkpoint: -1,
				Size: -1},
			"stored tree: hash of entries 12 to 15 does not match"},
		{"leaf hash", l.entries, leaf, l.checkpoints,
			atEntry(KindLeafHash, 33),
			"entry 33: leaf hash does not match stored tree"},
		{"stored tree too short", l.entries, short, l.checkpoints,
			atEntry(KindLeafHash, 30), fmt.Sprintf("entry 30: failed "+
				"to read leaf hash from stored tree: failed to read "+
				"hash %d: only %[1]d hashes stored",
				tlog.StoredHashIndex(0, 30))},
	}
}

// checkpointTamperCases present checkpoints that do not fit the log.
func checkpointTamperCases(t *testing.T, l *testLog) []verifyCase {
	// An older copy of the whole store, and a published checkpoint the
	// auditor kept from before the rollback.
	old := l.entries[:30]
	oldStored := mustBuildTree(t, old)
	rolledBack := [][]byte{l.checkpoints[0], l.checkpoints[1],
		l.checkpoints[2]}

	other, _ := testKey(t, testOrigin, 7)
	foreign := mustSign(t, other, 10, tlog.Hash{})
	fork := mustSign(t, l.signer, 25, tlog.RecordHash([]byte("fork")))
	empty := mustSign(t, l.signer, 0, emptyRoot(t))

	return []verifyCase{
		{"rollback", old, oldStored, rolledBack,
			atCheckpoint(KindRollback, 2, 40),
			"checkpoint 2 (size 40): log has only 30 entries: " +
				"truncated, or rolled back to an older copy"},
		{"out of order", l.entries, l.stored,
			[][]byte{l.checkpoints[1], l.checkpoints[0]},
			atCheckpoint(KindOrder, 1, 10),
			"checkpoint 1 (size 10): smaller than checkpoint 0 (size 25)"},
		{"other key", l.entries, l.stored,
			[][]byte{l.checkpoints[0], foreign},
			atCheckpoint(KindCheckpoint, 1, -1),
			"checkpoint 1: failed to verify checkpoint: " +
				"note has no verifiable signatures"},
		{"fork", l.entries, l.stored,
			[][]byte{l.checkpoints[0], fork, l.checkpoints[2]},
			atCheckpoint(KindRoot, 1, 25),
			"checkpoint 1 (size 25): root does not match entries " +
				"(an entry from 10 to 24 differs)"},
		{"not a note", l.entries, l.stored, [][]byte{[]byte("x")},
			atCheckpoint(KindCheckpoint, 0, -1),
			"checkpoint 0: failed to verify checkpoint: malformed note"},
		{"empty log, checkpoint of one", nil, nil,
			[][]byte{empty, l.checkpoints[0]},
			atCheckpoint(KindRollback, 1, 10),
			"checkpoint 1 (size 10): log has only 0 entries: " +
				"truncated, or rolled back to an older copy"},
	}
}

func TestVerifyLogNeedsVerifier(t *testing.T) {
	l := newTestLog(t)
	err := VerifyLog(l.entries, l.stored, l.checkpoints, nil)
	var vErr *VerifyError
	if err == nil || errors.As(err, &vErr) {
		t.Errorf("VerifyLog without key = %v, want a plain error", err)
	}
}

func TestCheckCheckpointConsistency(t *testing.T) {
	l := newTestLog(t)
	root25, err := TreeHash(25, l.stored)
	if err != nil {
		t.Fatal(err)
	}
	c := Checkpoint{Origin: testOrigin, Size: 25, Root: root25}
	// A previous checkpoint whose root is not that of the first 10
	// entries: VerifyLog never gets here, as it checks each root first.
	prev := Checkpoint{Origin: testOrigin, Size: 10, Root: tlog.Hash{1}}
	got := checkCheckpoint(l.stored, 40, c, prev)
	if got == nil || got.Kind != KindConsistency {
		t.Fatalf("checkCheckpoint = %v, want a consistency error", got)
	}
	prev.Root, err = TreeHash(10, l.stored)
	if err != nil {
		t.Fatal(err)
	}
	if got := checkCheckpoint(l.stored, 40, c, prev); got != nil {
		t.Errorf("checkCheckpoint of consistent checkpoints = %v", got)
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{
		KindLeafHash: "leaf hash", KindRollback: "rollback",
		Kind(99): "kind 99",
	} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", int(k), got, want)
		}
	}
}
