package auditlog

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/agentmint/agentmint/internal/audit"
	"github.com/agentmint/agentmint/internal/ledger"
	"golang.org/x/mod/sumdb/tlog"
)

// Sourced is a signed checkpoint and where it was found, so that a fault
// can be traced to the store, the mirror file or an auditor's copy.
type Sourced struct {
	Note []byte
	From string
}

// Report sums up a log that verified.
type Report struct {
	// Entries is the number of entries checked against the tree.
	Entries int64
	// Pending is the number of committed entries the tree does not
	// cover yet; each was checked to encode as a leaf.
	Pending int64
	// Checkpoints is the number of checkpoints checked.
	Checkpoints int
	// Latest is the size of the largest checkpoint.
	Latest int64
	// Evidence is the number of entries whose evidence an EntryCheck
	// re-checked, such as passkey approvals.
	Evidence int
}

// EntryCheck re-checks what entries claim beyond the log's integrity, such
// as the signature a passkey approval's evidence holds. It gets every
// committed entry, oldest first, and returns how many it checked and the
// first failure, naming the entry.
type EntryCheck func(entries []audit.Entry) (int, error)

// pageSize is how many entries or checkpoints are read at once.
const pageSize = 10000

// VerifyStore checks the whole audit log in t: every entry against the
// stored tree, and every stored checkpoint, and those in kept, against
// both. It reads in an order that gives one consistent view while a
// server keeps appending: checkpoints first, then the tree size, then
// the entries and hashes up to that size.
//
// TODO: it holds every entry in memory; a log of many millions of entries
// needs VerifyLog to work in a stream.
func VerifyStore(ctx context.Context, t ledger.AuditTree, v *audit.Verifier,
	kept []Sourced, check EntryCheck) (Report, error) {
	// 1. The checkpoints, stored and kept.
	cps, err := storedCheckpoints(ctx, t)
	if err != nil {
		return Report{}, err
	}
	cps = append(cps, kept...)

	// 2. The tree size, then the entries it covers and any after it.
	size, err := t.TreeSize(ctx)
	if err != nil {
		return Report{}, err
	}
	n, err := t.AuditSize(ctx)
	if err != nil {
		return Report{}, err
	}
	entries, err := readEntries(ctx, t, 0, size)
	if err != nil {
		return Report{}, err
	}
	after, err := readEntries(ctx, t, size, n)
	if err != nil {
		return Report{}, err
	}

	// 3. The entries, the stored tree and the checkpoints.
	rep, err := Verify(entries, Limited(ctx, t, size), cps, v)
	if err != nil {
		return rep, err
	}

	// 4. Entries not in the tree yet follow on without a gap and encode.
	if err := checkPending(after, size); err != nil {
		return rep, err
	}
	rep.Pending = int64(len(after))

	// 5. What the entries' evidence claims.
	if check != nil {
		if rep.Evidence, err = check(append(entries, after...)); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// Verify runs audit.VerifyLog on entries, the stored tree (nil if there
// is none) and the checkpoints, taken in order of size. A fault at a
// checkpoint names its source.
func Verify(entries []audit.Entry, stored tlog.HashReader, cps []Sourced,
	v *audit.Verifier) (Report, error) {
	cps = orderCheckpoints(cps, v)
	notes := make([][]byte, len(cps))
	for i, c := range cps {
		notes[i] = c.Note
	}
	err := audit.VerifyLog(entries, stored, notes, v)
	var verr *audit.VerifyError
	if errors.As(err, &verr) && verr.Checkpoint >= 0 {
		return Report{}, &SourcedError{VerifyError: verr,
			From: cps[verr.Checkpoint].From}
	}
	if err != nil {
		return Report{}, err
	}
	rep := Report{Entries: int64(len(entries)), Checkpoints: len(cps)}
	if len(cps) > 0 {
		c, _ := audit.ParseCheckpoint(cps[len(cps)-1].Note, v)
		rep.Latest = c.Size
	}
	return rep, nil
}

// SourcedError is a fault at a checkpoint, with where the checkpoint came
// from.
type SourcedError struct {
	*audit.VerifyError
	From string
}

// Error names the checkpoint, the fault and the checkpoint's source.
func (e *SourcedError) Error() string {
	return fmt.Sprintf("%v [checkpoint from %s]", e.VerifyError, e.From)
}

// Unwrap returns the VerifyError.
func (e *SourcedError) Unwrap() error { return e.VerifyError }

// orderCheckpoints sorts checkpoints by size, stably; those that do not
// verify come first, so that VerifyLog reports them.
func orderCheckpoints(cps []Sourced, v *audit.Verifier) []Sourced {
	size := func(c Sourced) int64 {
		if v == nil {
			return -1
		}
		p, err := audit.ParseCheckpoint(c.Note, v)
		if err != nil {
			return -1
		}
		return p.Size
	}
	out := slices.Clone(cps)
	slices.SortStableFunc(out, func(a, b Sourced) int {
		return cmpInt(size(a), size(b))
	})
	return out
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// storedCheckpoints reads every checkpoint in t.
func storedCheckpoints(ctx context.Context, t ledger.AuditTree) (
	[]Sourced, error) {
	var out []Sourced
	after := int64(-1)
	for {
		page, err := t.Checkpoints(ctx, after, pageSize)
		if err != nil {
			return nil, err
		}
		for _, c := range page {
			out = append(out, Sourced{Note: c.Note,
				From: fmt.Sprintf("the store, size %d", c.Size)})
			after = c.Size
		}
		if len(page) < pageSize {
			return out, nil
		}
	}
}

// readEntries reads the entries from from to to-1.
func readEntries(ctx context.Context, t ledger.AuditTree, from, to int64) (
	[]audit.Entry, error) {
	var out []audit.Entry
	for start := from; start < to; start += pageSize {
		page, err := t.EntryRange(ctx, start, min(start+pageSize, to))
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
	}
	return out, nil
}

// checkPending checks that entries run on from index size without a gap
// and that each encodes as a leaf.
func checkPending(entries []audit.Entry, size int64) error {
	for i, e := range entries {
		want := size + int64(i)
		if e.Index != want {
			return &audit.VerifyError{Kind: audit.KindIndex, Entry: want,
				Checkpoint: -1, Size: -1, Err: fmt.Errorf(
					"out of sequence: found index %d in its place", e.Index)}
		}
		if _, err := e.MarshalLeaf(); err != nil {
			return &audit.VerifyError{Kind: audit.KindEntry, Entry: want,
				Checkpoint: -1, Size: -1, Err: err}
		}
	}
	return nil
}

// Export writes every entry the latest checkpoint covers to w as JSON
// lines of audit.ExportLine, and returns that checkpoint.
func (l *Log) Export(ctx context.Context, w io.Writer) (
	ledger.StoredCheckpoint, error) {
	sc, c, err := l.Latest(ctx)
	if err != nil {
		return sc, err
	}
	r := Limited(ctx, l.cfg.Tree, c.Size)
	bw := bufio.NewWriter(w)
	for start := int64(0); start < c.Size; start += pageSize {
		es, err := l.cfg.Tree.EntryRange(ctx, start,
			min(start+pageSize, c.Size))
		if err != nil {
			return sc, err
		}
		for _, e := range es {
			line, err := audit.NewExportLine(e, c.Size, r)
			if err != nil {
				return sc, err
			}
			b, err := json.Marshal(line)
			if err != nil {
				return sc, err
			}
			bw.Write(append(b, '\n'))
		}
	}
	return sc, bw.Flush()
}
