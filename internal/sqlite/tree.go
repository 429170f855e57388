package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/agentmint/agentmint/internal/audit"
	"github.com/agentmint/agentmint/internal/ledger"
	"golang.org/x/mod/sumdb/tlog"
)

// The Store keeps the audit tree too.
var _ ledger.AuditTree = (*Store)(nil)

// treeOp is the payload of an opExtendTree write.
type treeOp struct {
	from, to int64
	hashes   []tlog.Hash
}

// openReadOnly opens an existing database for reading, without taking
// the write lock, so that `agentmint audit verify` can run next to a
// serving process.
func openReadOnly(path string) (*Store, error) {
	q := url.Values{}
	q.Add("mode", "ro")
	q.Add("_pragma", "busy_timeout(5000)")
	r, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("failed to open database: %v", err)
	}
	r.SetMaxOpenConns(4)
	var have int
	if err := r.QueryRow(`PRAGMA user_version`).Scan(&have); err != nil {
		r.Close()
		return nil, fmt.Errorf("failed to open database %s: %v", path, err)
	}
	if have != len(migrations) {
		r.Close()
		return nil, fmt.Errorf("database %s has schema version %d, this "+
			"binary reads %d: run the matching agentmint serve once",
			path, have, len(migrations))
	}
	return &Store{r: r}, nil
}

// AuditSize implements ledger.AuditTree.
func (s *Store) AuditSize(ctx context.Context) (int64, error) {
	var n int64
	err := s.readRow(ctx,
		`SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_entries`).Scan(&n)
	if err != nil {
		return 0, unavailable("failed to read audit size", err)
	}
	return n, nil
}

// EntryRange implements ledger.AuditTree.
func (s *Store) EntryRange(ctx context.Context, from, to int64) (
	[]audit.Entry, error) {
	rows, err := s.readRows(ctx, `SELECT idx, time_ns, event, jti,
		sub, action, aud, caller, reason, evidence FROM audit_entries
		WHERE idx >= ? AND idx < ? ORDER BY idx`, from, to)
	if err != nil {
		return nil, unavailable("failed to read audit", err)
	}
	return scanEntries(rows)
}

// scanEntries reads entry rows and closes them.
func scanEntries(rows *sql.Rows) ([]audit.Entry, error) {
	defer rows.Close()
	var out []audit.Entry
	for rows.Next() {
		var e audit.Entry
		var ns int64
		var ev string
		var evidence []byte
		if err := rows.Scan(&e.Index, &ns, &ev, &e.JTI, &e.Sub, &e.Action,
			&e.Aud, &e.Caller, &e.Reason, &evidence); err != nil {
			return nil, unavailable("failed to read audit", err)
		}
		e.Time = time.Unix(0, ns).UTC()
		e.Event = audit.Event(ev)
		if len(evidence) > 0 {
			e.Evidence = evidence
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable("failed to read audit", err)
	}
	return out, nil
}

// TreeSize implements ledger.AuditTree.
func (s *Store) TreeSize(ctx context.Context) (int64, error) {
	var n int64
	err := s.readRow(ctx,
		`SELECT size FROM audit_tree WHERE one = 1`).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, unavailable("failed to read audit tree size", err)
	}
	return n, nil
}

// maxHashQuery is the most hash indexes read with one query.
const maxHashQuery = 500

// ReadHashes implements ledger.AuditTree.
func (s *Store) ReadHashes(ctx context.Context, indexes []int64) (
	[]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for start := 0; start < len(indexes); start += maxHashQuery {
		end := min(start+maxHashQuery, len(indexes))
		if err := s.readHashes(ctx, indexes[start:end],
			out[start:end]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// readHashes reads the hashes at indexes into out with one query.
func (s *Store) readHashes(ctx context.Context, indexes []int64,
	out []tlog.Hash) error {
	args := make([]any, len(indexes))
	for i, x := range indexes {
		args[i] = x
	}
	q := `SELECT id, hash FROM audit_hashes WHERE id IN (?` +
		strings.Repeat(",?", len(indexes)-1) + `)`
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return unavailable("failed to read audit hashes", err)
	}
	defer rows.Close()
	found := make(map[int64]tlog.Hash, len(indexes))
	for rows.Next() {
		var id int64
		var b []byte
		if err := rows.Scan(&id, &b); err != nil {
			return unavailable("failed to read audit hashes", err)
		}
		if len(b) != tlog.HashSize {
			return fmt.Errorf("audit hash %d has %d bytes", id, len(b))
		}
		found[id] = tlog.Hash(b)
	}
	if err := rows.Err(); err != nil {
		return unavailable("failed to read audit hashes", err)
	}
	for i, x := range indexes {
		h, ok := found[x]
		if !ok {
			return fmt.Errorf("audit hash %d is not stored", x)
		}
		out[i] = h
	}
	return nil
}

// ExtendTree implements ledger.AuditTree.
func (s *Store) ExtendTree(ctx context.Context, from, to int64,
	hashes []tlog.Hash) error {
	want := tlog.StoredHashCount(to) - tlog.StoredHashCount(from)
	if from < 0 || to < from || int64(len(hashes)) != want {
		return fmt.Errorf("failed to extend audit tree from %d to %d: "+
			"%d hashes, want %d", from, to, len(hashes), want)
	}
	r := s.do(ctx, &op{kind: opExtendTree,
		tree: treeOp{from: from, to: to, hashes: hashes}})
	return r.err
}

// extendTree runs an ExtendTree in the writer's transaction. entries is
// the audit size within it: the tree never covers uncommitted entries.
func extendTree(ctx context.Context, tx *sql.Tx, t treeOp, r *result,
	entries int64) error {
	var size int64
	err := tx.QueryRowContext(ctx,
		`SELECT size FROM audit_tree WHERE one = 1`).Scan(&size)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("failed to read audit tree size: %v", err)
	}
	if size != t.from {
		r.err = ledger.ErrTreeMoved
		return nil
	}
	if t.to > entries {
		r.err = fmt.Errorf("failed to extend audit tree to %d: "+
			"only %d entries", t.to, entries)
		return nil
	}
	start := tlog.StoredHashIndex(0, t.from)
	// One statement, parsed once, for every hash of the extension.
	ins, err := tx.PrepareContext(ctx, `INSERT INTO audit_hashes (id, hash)
		VALUES (?, ?)`)
	if err != nil {
		return fmt.Errorf("failed to store audit hash: %v", err)
	}
	defer ins.Close()
	for i, h := range t.hashes {
		if _, err := ins.ExecContext(ctx, start+int64(i), h[:]); err != nil {
			return fmt.Errorf("failed to store audit hash: %v", err)
		}
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO audit_tree (one, size)
		VALUES (1, ?) ON CONFLICT (one) DO UPDATE SET size = excluded.size`,
		t.to)
	if err != nil {
		return fmt.Errorf("failed to store audit tree size: %v", err)
	}
	return nil
}

// AddCheckpoint implements ledger.AuditTree.
func (s *Store) AddCheckpoint(ctx context.Context,
	c ledger.StoredCheckpoint) error {
	return s.do(ctx, &op{kind: opCheckpoint, cp: c}).err
}

// addCheckpoint runs an AddCheckpoint in the writer's transaction.
func addCheckpoint(ctx context.Context, tx *sql.Tx,
	c ledger.StoredCheckpoint) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO audit_checkpoints
		(size, time_ns, note) VALUES (?, ?, ?)
		ON CONFLICT (size) DO NOTHING`, c.Size, c.Time.UnixNano(), c.Note)
	if err != nil {
		return fmt.Errorf("failed to store checkpoint: %v", err)
	}
	return nil
}

// Checkpoints implements ledger.AuditTree.
func (s *Store) Checkpoints(ctx context.Context, after int64, limit int) (
	[]ledger.StoredCheckpoint, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT size, time_ns, note
		FROM audit_checkpoints WHERE size > ? ORDER BY size LIMIT ?`,
		after, limit)
	if err != nil {
		return nil, unavailable("failed to read checkpoints", err)
	}
	defer rows.Close()
	var out []ledger.StoredCheckpoint
	for rows.Next() {
		var c ledger.StoredCheckpoint
		var ns int64
		if err := rows.Scan(&c.Size, &ns, &c.Note); err != nil {
			return nil, unavailable("failed to read checkpoints", err)
		}
		c.Time = time.Unix(0, ns).UTC()
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable("failed to read checkpoints", err)
	}
	return out, nil
}

// LatestCheckpoint implements ledger.AuditTree.
func (s *Store) LatestCheckpoint(ctx context.Context) (
	ledger.StoredCheckpoint, error) {
	var c ledger.StoredCheckpoint
	var ns int64
	err := s.r.QueryRowContext(ctx, `SELECT size, time_ns, note
		FROM audit_checkpoints ORDER BY size DESC LIMIT 1`).Scan(
		&c.Size, &ns, &c.Note)
	if errors.Is(err, sql.ErrNoRows) {
		return c, ledger.ErrNotFound
	}
	if err != nil {
		return c, unavailable("failed to read checkpoint", err)
	}
	c.Time = time.Unix(0, ns).UTC()
	return c, nil
}

// unavailable wraps a database failure as ledger.ErrUnavailable.
func unavailable(what string, err error) error {
	return fmt.Errorf("%w: %s: %v", ledger.ErrUnavailable, what, err)
}
