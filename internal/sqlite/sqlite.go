// Package sqlite is the embedded ledger backend: one SQLite file in WAL
// mode with synchronous=FULL, so that every commit is on disk before it is
// acknowledged, through the pure-Go driver modernc.org/sqlite.
//
// All writes go through one goroutine that owns the only write connection.
// Writes that arrive while a commit is in progress are gathered into the
// next transaction and acknowledged together once it has committed (group
// commit): the same durability, far fewer fsyncs.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentmint/agentmint/internal/audit"
	"github.com/agentmint/agentmint/internal/ledger"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// writeWait bounds how long a write waits for its commit.
const writeWait = 5 * time.Second

// DefaultMaxBatch is the most writes gathered into one transaction.
const DefaultMaxBatch = 256

// Options tune a store.
type Options struct {
	// MaxBatch is the most writes per transaction; 1 turns group commit
	// off. Zero means DefaultMaxBatch.
	MaxBatch int
	// ReadOnly opens an existing database for reading only, alongside a
	// server that may be writing it: no migration, no writer; every write
	// fails with ErrReadOnly.
	ReadOnly bool
}

// ErrReadOnly is returned by the writes of a store opened ReadOnly.
var ErrReadOnly = errors.New("store opened read-only")

// Store is a ledger.Store on a SQLite file.
type Store struct {
	w     *sql.DB // the one write connection, used by the batch's goroutine
	r     *sql.DB // readers
	batch *ledger.Batcher[*op, result]
	stmts stmts     // the writer's prepared statements
	reads readStmts // the read pool's

	closeOnce sync.Once
	closed    atomic.Bool
}

type opKind int

const (
	opConsume opKind = iota
	opAppend
	opPrune
	opExtendTree
	opCheckpoint
	opFunc // runs fn in the batch's transaction
)

type op struct {
	kind  opKind
	jti   string
	until int64 // unix seconds
	entry audit.Entry
	tree  treeOp                  // for opExtendTree
	cp    ledger.StoredCheckpoint // for opCheckpoint
	fn    txFunc                  // for opFunc
}

// write runs fn in the writer's transaction and waits for the commit.
func (s *Store) write(ctx context.Context, fn txFunc) error {
	return s.do(ctx, &op{kind: opFunc, fn: fn}).err
}

// txFunc is a write run by the writer inside its transaction. It may
// append audit entries with add. It returns an error only if the
// transaction must fail; outcomes such as "not found" it reports through
// its closure.
type txFunc func(ctx context.Context, tx *sql.Tx, add func(audit.Entry) error) error

type result struct {
	entry audit.Entry
	n     int64
	err   error
}

// Open opens or creates the database at path, applies migrations and
// starts the writer.
func Open(path string, o Options) (*Store, error) {
	if o.ReadOnly {
		return openReadOnly(path)
	}
	w, err := openDB(path, 1)
	if err != nil {
		return nil, err
	}
	if err := migrate(w); err != nil {
		w.Close()
		return nil, err
	}
	r, err := openDB(path, 4)
	if err != nil {
		w.Close()
		return nil, err
	}
	s := &Store{w: w, r: r}
	maxBatch := o.MaxBatch
	if maxBatch <= 0 {
		maxBatch = DefaultMaxBatch
	}
	s.batch = ledger.NewBatcher(s.commit, maxBatch, writeWait)
	return s, nil
}

func openDB(path string, conns int) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("failed to open database: %v", err)
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	db.SetConnMaxLifetime(0)
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("failed to open database %s: %v", path, err)
	}
	return db, nil
}

// Consume implements ledger.Store.
func (s *Store) Consume(ctx context.Context, c ledger.Consumption) (audit.Entry, error) {
	r := s.do(ctx, &op{
		kind: opConsume, jti: c.JTI, until: c.Until.Unix(), entry: c.Entry,
	})
	return r.entry, r.err
}

// Append implements ledger.Store.
func (s *Store) Append(ctx context.Context, e audit.Entry) (audit.Entry, error) {
	r := s.do(ctx, &op{kind: opAppend, entry: e})
	return r.entry, r.err
}

// AppendAfter implements ledger.Store. The writer's transaction holds the
// database's write lock from its start, so no other process appends
// between the read and the append.
func (s *Store) AppendAfter(ctx context.Context, event audit.Event,
	next func(last *audit.Entry) (audit.Entry, bool)) (bool, error) {
	appended := false
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx, add func(audit.Entry) error) error {
		q, args := entriesQuery(ledger.Filter{Event: string(event), Limit: 1})
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("failed to read audit: %v", err)
		}
		es, err := scanEntries(rows)
		if err != nil {
			return err
		}
		var last *audit.Entry
		if len(es) == 1 {
			last = &es[0]
		}
		e, ok := next(last)
		if !ok {
			return nil
		}
		appended = true
		return add(e)
	})
	return appended && err == nil, err
}

// Prune implements ledger.Store.
func (s *Store) Prune(ctx context.Context, now time.Time) (int64, error) {
	cutoff := now.Add(-ledger.PruneMargin).Unix()
	r := s.do(ctx, &op{kind: opPrune, until: cutoff})
	return r.n, r.err
}

// do hands o to the group commit and waits for its outcome. Once handed
// over, the write may commit even if ctx ends first; the caller then gets
// ErrUnavailable and must treat the outcome as unknown (fail closed).
func (s *Store) do(ctx context.Context, o *op) result {
	if s.batch == nil {
		return result{err: ErrReadOnly}
	}
	r, err := s.batch.Do(ctx, o)
	if err != nil {
		return result{err: err}
	}
	return r
}

// commit applies a batch in one transaction, on the batch's goroutine,
// the only one that writes. If anything fails the whole batch is rolled
// back and every write in it gets the error.
func (s *Store) commit(batch []*op) ([]result, error) {
	results := make([]result, len(batch))
	if err := s.apply(batch, results); err != nil {
		return nil, fmt.Errorf("%w: %v", ledger.ErrUnavailable, err)
	}
	return results, nil
}

// apply runs a batch in one transaction. The transaction begins with an
// immediate write lock and reads the log's size inside it, so indices stay
// contiguous even when another process (the CLI) appends to the same file.
func (s *Store) apply(batch []*op, results []result) error {
	ctx := context.Background()
	s.prepare(ctx)
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("failed to begin: %v", err)
	}
	defer tx.Rollback()
	var next int64
	err = s.queryRow(ctx, tx,
		`SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_entries`, &next)
	if err != nil {
		return fmt.Errorf("failed to read audit size: %v", err)
	}
	for i, o := range batch {
		if err := s.applyOne(ctx, tx, o, &results[i], &next); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("failed to commit: %v", err)
	}
	return nil
}

func (s *Store) applyOne(ctx context.Context, tx *sql.Tx, o *op, r *result, next *int64) error {
	switch o.kind {
	case opConsume:
		res, err := s.exec(ctx, tx, `INSERT INTO used_jti (until, jti)
			VALUES (?, ?) ON CONFLICT (until, jti) DO NOTHING`, o.until, o.jti)
		if err != nil {
			return fmt.Errorf("failed to consume: %v", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			r.err = ledger.ErrAlreadyUsed
			return nil
		}
		return s.insertEntry(ctx, tx, o.entry, r, next)
	case opAppend:
		return s.insertEntry(ctx, tx, o.entry, r, next)
	case opPrune:
		res, err := s.exec(ctx, tx, `DELETE FROM used_jti WHERE (until, jti) IN
			(SELECT until, jti FROM used_jti WHERE until < ?
			ORDER BY until LIMIT 10000)`, o.until)
		if err != nil {
			return fmt.Errorf("failed to prune: %v", err)
		}
		r.n, _ = res.RowsAffected()
		return nil
	case opExtendTree:
		return extendTree(ctx, tx, o.tree, r, *next)
	case opCheckpoint:
		return addCheckpoint(ctx, tx, o.cp)
	case opFunc:
		return o.fn(ctx, tx, func(e audit.Entry) error {
			return s.insertEntry(ctx, tx, e, r, next)
		})
	}
	panic("sqlite: unknown op")
}

func (s *Store) insertEntry(ctx context.Context, tx *sql.Tx, e audit.Entry, r *result, next *int64) error {
	e.Index = *next
	e.Time = audit.Timestamp(e.Time)
	_, err := s.exec(ctx, tx, `INSERT INTO audit_entries
		(idx, time_ns, event, jti, sub, action, aud, caller, reason, evidence)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.Index, e.Time.UnixNano(), string(e.Event), e.JTI, e.Sub, e.Action,
		e.Aud, e.Caller, e.Reason, []byte(e.Evidence))
	if err != nil {
		return fmt.Errorf("failed to append audit entry: %v", err)
	}
	*next++
	r.entry = e
	return nil
}

// Entries implements ledger.Store.
func (s *Store) Entries(ctx context.Context, f ledger.Filter) ([]audit.Entry, error) {
	q, args := entriesQuery(f)
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, unavailable("failed to read audit", err)
	}
	return scanEntries(rows)
}

// entriesQuery is the query of Entries for f, with its arguments.
func entriesQuery(f ledger.Filter) (string, []any) {
	q := `SELECT idx, time_ns, event, jti, sub, action, aud, caller, reason,
		evidence FROM audit_entries WHERE 1=1`
	var args []any
	add := func(cond string, v any) {
		q += " AND " + cond
		args = append(args, v)
	}
	if f.Event != "" {
		add("event = ?", f.Event)
		if !commonEvent(f.Event) {
			q += " AND " + rareEvents
		}
	}
	if f.Sub != "" {
		add("sub = ?", f.Sub)
	}
	if f.Action != "" {
		add("action = ?", f.Action)
	}
	if !f.Since.IsZero() {
		add("time_ns >= ?", f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		add("time_ns < ?", f.Until.UnixNano())
	}
	if f.Before > 0 {
		add("idx < ?", f.Before)
	}
	q += " ORDER BY idx DESC LIMIT ?"
	return q, append(args, f.Limit)
}

// rareEvents is the condition of the partial index audit_entries_rare_event
// (migration 6), spelled as there: SQLite uses a partial index only for a
// query that states its condition.
const rareEvents = "event NOT IN ('minted', 'verified')"

// commonEvent reports whether entries of event are left out of the index
// by event: minted and verified, most of the log.
func commonEvent(event string) bool {
	return event == string(audit.EventMinted) || event == string(audit.EventVerified)
}

// Ping implements ledger.Store.
func (s *Store) Ping(ctx context.Context) error {
	if s.closed.Load() {
		return ledger.ErrClosed
	}
	if err := s.r.PingContext(ctx); err != nil {
		return fmt.Errorf("%w: %v", ledger.ErrUnavailable, err)
	}
	return nil
}

// Close implements ledger.Store: it stops accepting writes, commits those
// already queued, and closes the database.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		if s.batch == nil {
			err = s.r.Close()
			return
		}
		s.batch.Close()
		err = errors.Join(s.w.Close(), s.r.Close())
	})
	return err
}
