package ledgertest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/agentmint/agentmint/internal/audit"
	"github.com/agentmint/agentmint/internal/ledger"
	"golang.org/x/mod/sumdb/tlog"
)

// mustTree returns s as a ledger.AuditTree: every backend keeps the tree.
func mustTree(t *testing.T, s ledger.Store) ledger.AuditTree {
	t.Helper()
	tr, ok := s.(ledger.AuditTree)
	if !ok {
		t.Fatalf("%T does not implement ledger.AuditTree", s)
	}
	return tr
}

// appendN appends n minted entries and returns them with their indexes.
func appendN(t *testing.T, s ledger.Store, n int) []audit.Entry {
	t.Helper()
	var out []audit.Entry
	for i := range n {
		e, err := s.Append(context.Background(), audit.Entry{
			Time:  t0.Add(time.Duration(i) * time.Millisecond),
			Event: audit.EventMinted, JTI: fmt.Sprintf("jti-%d", i),
			Sub: "alice@company.com", Action: "deploy:prod",
		})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// hashesFor returns the stored hashes of entries from to to-1 of the
// whole log es.
func hashesFor(t *testing.T, es []audit.Entry, from, to int64) []tlog.Hash {
	t.Helper()
	m, err := audit.BuildTree(es[:to])
	if err != nil {
		t.Fatal(err)
	}
	var idx []int64
	for x := tlog.StoredHashCount(from); x < tlog.StoredHashCount(to); x++ {
		idx = append(idx, x)
	}
	h, err := m.ReadHashes(idx)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func testTreeExtend(t *testing.T, open Opener) {
	s := open(t)
	tr := mustTree(t, s)
	ctx := context.Background()
	es := appendN(t, s, 5)

	// 1. Entries are counted and read in index order.
	if n, err := tr.AuditSize(ctx); err != nil || n != 5 {
		t.Fatalf("AuditSize = %d, %v; want 5", n, err)
	}
	got, err := tr.EntryRange(ctx, 1, 3)
	if err != nil || len(got) != 2 || !sameEntry(got[0], es[1]) ||
		!sameEntry(got[1], es[2]) {
		t.Fatalf("EntryRange(1, 3) = %+v, %v; want entries 1 and 2", got, err)
	}

	// 2. The tree starts empty and grows only from its own size.
	if n, err := tr.TreeSize(ctx); err != nil || n != 0 {
		t.Fatalf("TreeSize = %d, %v; want 0", n, err)
	}
	h3 := hashesFor(t, es, 0, 3)
	if err := tr.ExtendTree(ctx, 0, 3, h3); err != nil {
		t.Fatalf("ExtendTree(0, 3) = %v", err)
	}
	err = tr.ExtendTree(ctx, 0, 3, h3)
	if !errors.Is(err, ledger.ErrTreeMoved) {
		t.Errorf("ExtendTree(0, 3) again = %v, want ErrTreeMoved", err)
	}

	// 3. It never covers more entries than are committed.
	all := append(es, audit.Entry{Index: 5, Time: t0,
		Event: audit.EventMinted})
	if err := tr.ExtendTree(ctx, 3, 6, hashesFor(t, all, 3, 6)); err == nil {
		t.Error("ExtendTree beyond the entries succeeded")
	}
	if err := tr.ExtendTree(ctx, 3, 5, hashesFor(t, es, 3, 5)); err != nil {
		t.Fatalf("ExtendTree(3, 5) = %v", err)
	}
	if n, err := tr.TreeSize(ctx); err != nil || n != 5 {
		t.Fatalf("TreeSize = %d, %v; want 5", n, err)
	}

	// 4. The stored hashes are the tree of the entries.
	want := hashesFor(t, es, 0, 5)
	idx := make([]int64, len(want))
	for i := range idx {
		idx[i] = int64(i)
	}
	stored, err := tr.ReadHashes(ctx, idx)
	if err != nil || fmt.Sprint(stored) != fmt.Sprint(want) {
		t.Errorf("ReadHashes = %v, %v; want %v", stored, err, want)
	}
	if _, err := tr.ReadHashes(ctx, []int64{int64(len(want))}); err == nil {
		t.Error("ReadHashes of a hash not stored succeeded")
	}
}

func testTreeCheckpoints(t *testing.T, open Opener) {
	s := open(t)
	tr := mustTree(t, s)
	ctx := context.Background()
	if _, err := tr.LatestCheckpoint(ctx); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("LatestCheckpoint of a new store = %v, want ErrNotFound", err)
	}
	for _, size := range []int64{0, 3, 3, 5} {
		c := ledger.StoredCheckpoint{Size: size, Time: t0,
			Note: fmt.Appendf(nil, "note %d", size)}
		if err := tr.AddCheckpoint(ctx, c); err != nil {
			t.Fatalf("AddCheckpoint(%d) = %v", size, err)
		}
	}
	if err := tr.AddCheckpoint(ctx, ledger.StoredCheckpoint{Size: 3,
		Time: t0, Note: []byte("other")}); err != nil {
		t.Fatalf("AddCheckpoint(3) again = %v", err)
	}

	all, err := tr.Checkpoints(ctx, -1, 10)
	if err != nil || len(all) != 3 {
		t.Fatalf("Checkpoints = %+v, %v; want 3", all, err)
	}
	for i, want := range []int64{0, 3, 5} {
		note := fmt.Sprintf("note %d", want)
		if all[i].Size != want || string(all[i].Note) != note ||
			!all[i].Time.Equal(t0) {
			t.Errorf("checkpoint %d = %+v, want size %d, %q", i, all[i],
				want, note)
		}
	}
	page, err := tr.Checkpoints(ctx, 0, 1)
	if err != nil || len(page) != 1 || page[0].Size != 3 {
		t.Errorf("Checkpoints(after 0, limit 1) = %+v, %v", page, err)
	}
	latest, err := tr.LatestCheckpoint(ctx)
	if err != nil || latest.Size != 5 {
		t.Errorf("LatestCheckpoint = %+v, %v; want size 5", latest, err)
	}
}

func testTreeReopen(t *testing.T, open Opener) {
	s := open(t)
	es := appendN(t, s, 3)
	ctx := context.Background()
	if err := mustTree(t, s).ExtendTree(ctx, 0, 3,
		hashesFor(t, es, 0, 3)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	tr := mustTree(t, open(t))
	if n, err := tr.TreeSize(ctx); err != nil || n != 3 {
		t.Errorf("TreeSize after reopen = %d, %v; want 3", n, err)
	}
}
