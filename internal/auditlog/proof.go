package auditlog

import (
	"context"
	"fmt"

	"github.com/agentmint/agentmint/internal/audit"
	"github.com/agentmint/agentmint/internal/ledger"
	"golang.org/x/mod/sumdb/tlog"
)

// Latest returns the latest stored checkpoint, verified with the log's
// key. It returns ledger.ErrNotFound if none is signed yet.
func (l *Log) Latest(ctx context.Context) (ledger.StoredCheckpoint,
	audit.Checkpoint, error) {
	sc, err := l.cfg.Tree.LatestCheckpoint(ctx)
	if err != nil {
		return sc, audit.Checkpoint{}, err
	}
	c, err := audit.ParseCheckpoint(sc.Note, l.cfg.Key.Verifier)
	if err != nil {
		return sc, c, fmt.Errorf("stored checkpoint of size %d: %v",
			sc.Size, err)
	}
	return sc, c, nil
}

// Proof returns entry index with its proof of inclusion in the tree of
// the latest checkpoint, and that checkpoint. An entry the checkpoint
// does not cover yet is ledger.ErrNotFound.
func (l *Log) Proof(ctx context.Context, index int64) (audit.ExportLine,
	ledger.StoredCheckpoint, error) {
	sc, c, err := l.Latest(ctx)
	if err != nil {
		return audit.ExportLine{}, sc, err
	}
	if index < 0 || index >= c.Size {
		return audit.ExportLine{}, sc, ledger.ErrNotFound
	}
	es, err := l.cfg.Tree.EntryRange(ctx, index, index+1)
	if err != nil {
		return audit.ExportLine{}, sc, err
	}
	if len(es) != 1 {
		return audit.ExportLine{}, sc, fmt.Errorf(
			"audit entry %d is missing", index)
	}
	line, err := audit.NewExportLine(es[0], c.Size,
		Limited(ctx, l.cfg.Tree, c.Size))
	return line, sc, err
}

// Consistency returns the proof that the tree of size from is a prefix of
// the tree of size to. A size larger than the tree is ledger.ErrNotFound.
func (l *Log) Consistency(ctx context.Context, from, to int64) (
	tlog.TreeProof, error) {
	size, err := l.cfg.Tree.TreeSize(ctx)
	if err != nil {
		return nil, err
	}
	if to > size {
		return nil, ledger.ErrNotFound
	}
	return audit.ConsistencyProof(from, to, Limited(ctx, l.cfg.Tree, to))
}

// Checkpoints returns up to limit stored checkpoints larger than after.
func (l *Log) Checkpoints(ctx context.Context, after int64, limit int) (
	[]ledger.StoredCheckpoint, error) {
	return l.cfg.Tree.Checkpoints(ctx, after, limit)
}

// Entries returns the entries from index from on, at most limit, in
// index order.
func (l *Log) Entries(ctx context.Context, from int64, limit int) (
	[]audit.Entry, error) {
	return l.cfg.Tree.EntryRange(ctx, from, from+int64(limit))
}

// VerifierKey returns the public checkpoint key in note form.
func (l *Log) VerifierKey() string { return l.cfg.Key.Public }
