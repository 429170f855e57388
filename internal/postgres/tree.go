package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/agentmint/agentmint/internal/audit"
	"github.com/agentmint/agentmint/internal/ledger"
)

// The Store keeps the audit tree too.
var _ ledger.AuditTree = (*Store)(nil)

// AuditSize implements ledger.AuditTree: the committed size that
// audit_head holds.
func (s *Store) AuditSize(ctx context.Context) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT size FROM audit_head WHERE id = 1`).Scan(&n)
	if err != nil {
		return 0, unavailable("read audit size", err)
	}
	return n, nil
}

// EntryRange implements ledger.AuditTree.
func (s *Store) EntryRange(ctx context.Context, from, to int64) ([]audit.Entry, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return readEntries(ctx, s.pool, `SELECT idx, time_ns, event, jti, sub,
		action, aud, caller, reason, evidence FROM audit_entries
		WHERE idx >= $1 AND idx < $2 ORDER BY idx`, from, to)
}

// TreeSize implements ledger.AuditTree.
func (s *Store) TreeSize(ctx context.Context) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT size FROM audit_tree WHERE id = 1`).Scan(&n)
	if err != nil {
		return 0, unavailable("read audit tree size", err)
	}
	return n, nil
}

// ReadHashes implements ledger.AuditTree.
func (s *Store) ReadHashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	rows, err := s.pool.Query(ctx,
		`SELECT id, hash FROM audit_hashes WHERE id = ANY($1)`, indexes)
	if err != nil {
		return nil, unavailable("read audit hashes", err)
	}
	found := make(map[int64]tlog.Hash, len(indexes))
	var id int64
	var b []byte
	_, err = pgx.ForEachRow(rows, []any{&id, &b}, func() error {
		if len(b) != tlog.HashSize {
			return fmt.Errorf("audit hash %d has %d bytes", id, len(b))
		}
		found[id] = tlog.Hash(b)
		return nil
	})
	if err != nil {
		return nil, unavailable("read audit hashes", err)
	}
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		h, ok := found[x]
		if !ok {
			return nil, fmt.Errorf("audit hash %d is not stored", x)
		}
		out[i] = h
	}
	return out, nil
}

// ExtendTree implements ledger.AuditTree. The row lock on audit_tree makes
// replicas that race to extend the tree take turns; the one that finds the
// size moved gets ErrTreeMoved and writes nothing.
func (s *Store) ExtendTree(ctx context.Context, from, to int64, hashes []tlog.Hash) error {
	want := tlog.StoredHashCount(to) - tlog.StoredHashCount(from)
	if from < 0 || to < from || int64(len(hashes)) != want {
		return fmt.Errorf("failed to extend audit tree from %d to %d: "+
			"%d hashes, want %d", from, to, len(hashes), want)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return unavailable("begin", err)
	}
	defer tx.Rollback(context.Background())

	// 1. The tree must still have the size the caller built on.
	var size, entries int64
	err = tx.QueryRow(ctx, `SELECT size FROM audit_tree WHERE id = 1
		FOR UPDATE`).Scan(&size)
	if err != nil {
		return unavailable("read audit tree size", err)
	}
	if size != from {
		return ledger.ErrTreeMoved
	}

	// 2. It never covers entries that are not committed.
	if err := tx.QueryRow(ctx, `SELECT size FROM audit_head WHERE id = 1`).
		Scan(&entries); err != nil {
		return unavailable("read audit size", err)
	}
	if to > entries {
		return fmt.Errorf("failed to extend audit tree to %d: only %d entries", to, entries)
	}

	// 3. The hashes and the new size, together.
	ids := make([]int64, len(hashes))
	bs := make([][]byte, len(hashes))
	start := tlog.StoredHashIndex(0, from)
	for i := range hashes {
		ids[i] = start + int64(i)
		bs[i] = hashes[i][:]
	}
	if _, err := tx.Exec(ctx, `INSERT INTO audit_hashes (id, hash)
		SELECT * FROM unnest($1::bigint[], $2::bytea[])`, ids, bs); err != nil {
		return unavailable("store audit hashes", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE audit_tree SET size = $1 WHERE id = 1`, to); err != nil {
		return unavailable("store audit tree size", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return unavailable("commit", err)
	}
	return nil
}

// AddCheckpoint implements ledger.AuditTree.
func (s *Store) AddCheckpoint(ctx context.Context, c ledger.StoredCheckpoint) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	_, err := s.pool.Exec(ctx, `INSERT INTO audit_checkpoints (size, time_ns, note)
		VALUES ($1, $2, $3) ON CONFLICT (size) DO NOTHING`,
		c.Size, c.Time.UnixNano(), c.Note)
	if err != nil {
		return unavailable("store checkpoint", err)
	}
	return nil
}

// Checkpoints implements ledger.AuditTree.
func (s *Store) Checkpoints(ctx context.Context, after int64, limit int) ([]ledger.StoredCheckpoint, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT size, time_ns, note FROM
		audit_checkpoints WHERE size > $1 ORDER BY size LIMIT $2`, after, limit)
	if err != nil {
		return nil, unavailable("read checkpoints", err)
	}
	out, err := pgx.CollectRows(rows, scanCheckpoint)
	if err != nil {
		return nil, unavailable("read checkpoints", err)
	}
	return out, nil
}

// LatestCheckpoint implements ledger.AuditTree.
func (s *Store) LatestCheckpoint(ctx context.Context) (ledger.StoredCheckpoint, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT size, time_ns, note FROM
		audit_checkpoints ORDER BY size DESC LIMIT 1`)
	if err != nil {
		return ledger.StoredCheckpoint{}, unavailable("read checkpoint", err)
	}
	c, err := pgx.CollectExactlyOneRow(rows, scanCheckpoint)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, ledger.ErrNotFound
	}
	if err != nil {
		return c, unavailable("read checkpoint", err)
	}
	return c, nil
}

func scanCheckpoint(row pgx.CollectableRow) (ledger.StoredCheckpoint, error) {
	var c ledger.StoredCheckpoint
	var ns int64
	err := row.Scan(&c.Size, &ns, &c.Note)
	c.Time = time.Unix(0, ns).UTC()
	return c, err
}
