// Package auditlog runs AgentMint's audit log on a store: it brings the
// Merkle tree up to date with the committed entries, signs checkpoints,
// and answers proofs.
//
// Entries are committed by the store in the same transaction as what they
// record. The tree is built after the commit, from the entries table, by
// one builder at a time; a crash between the two loses nothing, as the
// next run carries on from the stored tree size. Each extension of the
// tree is one transaction that succeeds only if the tree still has the
// size it was built on, so two builders cannot interleave.
package auditlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/agentmint/agentmint/internal/audit"
	"github.com/agentmint/agentmint/internal/ledger"
	"golang.org/x/mod/sumdb/tlog"
)

// Defaults of Config.
const (
	DefaultInterval = 5 * time.Second
	DefaultEntries  = 1000
	DefaultPoll     = 200 * time.Millisecond
)

// maxExtend is the most entries added to the tree in one transaction.
// The store's writer also commits the consumes, which wait while it
// stores a tree extension (about two hashes an entry): 256 entries keep
// that wait near a millisecond, where a 200 ms poll under load could
// gather a few thousand entries and hold every request of that
// transaction for several milliseconds.
const maxExtend = 256

// Config is what a Log needs.
type Config struct {
	// Tree is the store.
	Tree ledger.AuditTree
	// Key signs checkpoints and verifies them.
	Key *Key
	// Mirror, if not empty, is a file outside the store where the latest
	// checkpoint is also kept, so that a store rolled back to an older
	// copy is noticed at start and by `agentmint audit verify`.
	Mirror string
	Log    *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Interval is the longest a grown log waits for a checkpoint;
	// Entries the most entries it waits for; Poll how often the tree is
	// brought up to date. Zero means the default.
	Interval time.Duration
	Entries  int64
	Poll     time.Duration
}

// Log maintains and reads the audit tree of one store.
type Log struct {
	cfg Config

	mu         sync.Mutex // serializes building and signing
	signedSize int64      // size of the latest stored checkpoint, or -1
	signedAt   time.Time
	known      map[int64]tlog.Hash // stored hashes met while building
}

// maxKnown bounds Log.known. An extension reads back the hashes of the
// complete subtrees left of it, nearly all stored by the extensions just
// before it; keeping the hashes of the last few saves a query to the
// store for most entries.
const maxKnown = 8 * maxExtend

// New returns a Log for cfg. Call Start before Run.
func New(cfg Config) *Log {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Entries <= 0 {
		cfg.Entries = DefaultEntries
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Log{cfg: cfg, signedSize: -1}
}

// Key returns the log's key.
func (l *Log) Key() *Key { return l.cfg.Key }

// Start brings the tree up to date, refuses a store that is behind the
// mirrored checkpoint, and signs a checkpoint if the log has none of its
// current size.
func (l *Log) Start(ctx context.Context) error {
	size, err := l.CatchUp(ctx)
	if err != nil {
		return err
	}
	if err := l.checkMirror(ctx, size); err != nil {
		return err
	}
	_, err = l.Sign(ctx)
	return err
}

// Run brings the tree up to date every Poll and signs a checkpoint when
// Entries entries have been added or Interval has passed since the last,
// until ctx ends. Failures are logged and retried.
func (l *Log) Run(ctx context.Context) {
	t := time.NewTicker(l.cfg.Poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := l.step(ctx); err != nil && ctx.Err() == nil {
			l.cfg.Log.WarnContext(ctx, "failed to update audit tree",
				slog.String("error", err.Error()))
		}
	}
}

// step is one round of Run.
func (l *Log) step(ctx context.Context) error {
	size, err := l.CatchUp(ctx)
	if err != nil {
		return err
	}
	l.mu.Lock()
	grown := size - l.signedSize
	due := l.cfg.Now().Sub(l.signedAt) >= l.cfg.Interval
	l.mu.Unlock()
	if grown >= l.cfg.Entries || (grown > 0 && due) {
		_, err = l.Sign(ctx)
	}
	return err
}

// CatchUp adds every committed entry the tree lacks and returns the tree
// size. It is idempotent, and safe against another builder: whichever
// extends the tree first wins and the other carries on after it.
func (l *Log) CatchUp(ctx context.Context) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	size, err := l.cfg.Tree.TreeSize(ctx)
	if err != nil {
		return 0, err
	}
	for {
		n, err := l.cfg.Tree.AuditSize(ctx)
		if err != nil {
			return 0, err
		}
		if n <= size {
			return size, nil
		}
		// Up to the size just read, maxExtend entries at a time; the
		// tree's size is read again only if another builder moved it.
		for size < n {
			to := min(n, size+maxExtend)
			err := l.extend(ctx, size, to)
			switch {
			case err == nil:
				size = to
			case errors.Is(err, ledger.ErrTreeMoved):
				if size, err = l.cfg.Tree.TreeSize(ctx); err != nil {
					return 0, err
				}
			default:
				return 0, err
			}
		}
	}
}

// extend adds entries from to to-1 to the tree of size from.
func (l *Log) extend(ctx context.Context, from, to int64) error {
	es, err := l.cfg.Tree.EntryRange(ctx, from, to)
	if err != nil {
		return err
	}
	if l.known == nil || len(l.known) > maxKnown {
		l.known = make(map[int64]tlog.Hash)
	}
	p := &pending{r: Hashes(ctx, l.cfg.Tree), known: l.known,
		base: tlog.StoredHashIndex(0, from)}
	for i, e := range es {
		if e.Index != from+int64(i) {
			return fmt.Errorf("failed to extend audit tree: entry %d "+
				"is missing", from+int64(i))
		}
		start, hs, err := audit.StoredHashes(e, p)
		if err != nil {
			return fmt.Errorf("failed to extend audit tree: %v", err)
		}
		if start != p.base+int64(len(p.hashes)) {
			return fmt.Errorf("failed to extend audit tree: entry %d "+
				"hashes start at %d", e.Index, start)
		}
		p.hashes = append(p.hashes, hs...)
	}
	if int64(len(es)) != to-from {
		return fmt.Errorf("failed to extend audit tree: entry %d "+
			"is missing", from+int64(len(es)))
	}
	if err := l.cfg.Tree.ExtendTree(ctx, from, to, p.hashes); err != nil {
		return err
	}
	for i, h := range p.hashes {
		l.known[p.base+int64(i)] = h
	}
	return nil
}

// Sign signs a checkpoint of the tree as it is now, unless the latest
// stored checkpoint already has its size, stores it and mirrors it.
func (l *Log) Sign(ctx context.Context) (ledger.StoredCheckpoint, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	size, err := l.cfg.Tree.TreeSize(ctx)
	if err != nil {
		return ledger.StoredCheckpoint{}, err
	}
	latest, err := l.cfg.Tree.LatestCheckpoint(ctx)
	switch {
	case err == nil && latest.Size >= size:
		l.signedSize, l.signedAt = latest.Size, l.cfg.Now()
		return latest, nil
	case err != nil && !errors.Is(err, ledger.ErrNotFound):
		return ledger.StoredCheckpoint{}, err
	}

	root, err := audit.TreeHash(size, Hashes(ctx, l.cfg.Tree))
	if err != nil {
		return ledger.StoredCheckpoint{}, err
	}
	k := l.cfg.Key
	note, err := audit.SignCheckpoint(k.Origin(), size, root, k.Signer)
	if err != nil {
		return ledger.StoredCheckpoint{}, err
	}
	c := ledger.StoredCheckpoint{Size: size, Time: l.cfg.Now(), Note: note}
	if err := l.cfg.Tree.AddCheckpoint(ctx, c); err != nil {
		return ledger.StoredCheckpoint{}, err
	}
	if l.cfg.Mirror != "" {
		if err := writeFileAtomic(l.cfg.Mirror, note, 0o644); err != nil {
			return ledger.StoredCheckpoint{}, err
		}
	}
	l.signedSize, l.signedAt = size, c.Time
	return c, nil
}

// pending reads hashes being added to the tree from memory, and earlier
// ones from known or else the store, adding those to known. Stored
// hashes never change, so known holds only hashes that are in the store
// (or were computed from the same committed entries).
type pending struct {
	r      tlog.HashReader
	known  map[int64]tlog.Hash
	base   int64 // stored-hash index of hashes[0]
	hashes []tlog.Hash
}

// ReadHashes implements tlog.HashReader.
func (p *pending) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	var older []int64
	for _, x := range indexes {
		if _, ok := p.known[x]; x < p.base && !ok {
			older = append(older, x)
		}
	}
	stored, err := p.r.ReadHashes(older)
	if err != nil {
		return nil, err
	}
	for i, x := range older {
		p.known[x] = stored[i]
	}
	for i, x := range indexes {
		switch {
		case x < p.base:
			out[i] = p.known[x]
		case x-p.base < int64(len(p.hashes)):
			out[i] = p.hashes[x-p.base]
		default:
			return nil, fmt.Errorf("hash %d is not computed yet", x)
		}
	}
	return out, nil
}

// Hashes returns a tlog.HashReader over the store's tree hashes.
func Hashes(ctx context.Context, t ledger.AuditTree) tlog.HashReader {
	return tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		if len(indexes) == 0 {
			return nil, nil
		}
		return t.ReadHashes(ctx, indexes)
	})
}

// limited is a tlog.HashReader that refuses hashes past a tree size, so
// that a reader racing a builder sees one consistent tree.
type limited struct {
	r tlog.HashReader
	n int64 // stored hashes visible
}

// ReadHashes implements tlog.HashReader.
func (l limited) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	for _, x := range indexes {
		if x >= l.n {
			return nil, fmt.Errorf("hash %d is past the tree", x)
		}
	}
	return l.r.ReadHashes(indexes)
}

// Limited returns a reader of the store's tree as it was at size entries.
func Limited(ctx context.Context, t ledger.AuditTree,
	size int64) tlog.HashReader {
	return limited{r: Hashes(ctx, t), n: tlog.StoredHashCount(size)}
}
