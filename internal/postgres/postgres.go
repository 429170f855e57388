// Package postgres is the scale-out ledger backend: several AgentMint
// replicas share one PostgreSQL database, so a token consumed through one
// is refused by all, and they append to one audit log.
//
// Each replica gathers its concurrent writes into one transaction (group
// commit, ledger.Batcher). Audit indices stay contiguous across replicas
// because every appending transaction reserves its indices by updating the
// single row of audit_head, whose row lock serializes the appends until
// commit.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentmint/agentmint/internal/audit"
	"github.com/agentmint/agentmint/internal/ledger"
)

// Options tune a store.
type Options struct {
	// MaxBatch is the most writes per transaction; 1 turns group commit
	// off. Zero means 256.
	MaxBatch int
	// Timeout bounds each database operation, so that an unreachable
	// database turns into ErrUnavailable instead of a hang. Zero means 5 s.
	Timeout time.Duration
}

// Store is a ledger.Store on PostgreSQL.
type Store struct {
	pool    *pgxpool.Pool
	batch   *ledger.Batcher[*op, result]
	timeout time.Duration
}

// Open connects to the database named by url, applies migrations and
// starts the writer. It fails if the database cannot be reached within
// the timeout.
func Open(ctx context.Context, url string, o Options) (*Store, error) {
	if o.MaxBatch <= 0 {
		o.MaxBatch = 256
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// NOTE: the url may hold a password; the parse error is kept out
		// of the message for that reason.
		return nil, errors.New("invalid database url: want postgres://user@host:port/db")
	}
	if cfg.ConnConfig.ConnectTimeout == 0 || cfg.ConnConfig.ConnectTimeout > o.Timeout {
		cfg.ConnConfig.ConnectTimeout = o.Timeout
	}
	cfg.MaxConns = 8
	// A 200 from /proxy must mean the consume is durable: never let a
	// server or role default of synchronous_commit=off weaken that.
	cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "on"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("failed to open database: %v", err)
	}
	s := &Store{pool: pool, timeout: o.Timeout}
	mctx, cancel := context.WithTimeout(ctx, 4*o.Timeout)
	defer cancel()
	if err := migrate(mctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	s.batch = ledger.NewBatcher(s.commit, o.MaxBatch, o.Timeout)
	return s, nil
}

// Consume implements ledger.Store.
func (s *Store) Consume(ctx context.Context, c ledger.Consumption) (audit.Entry, error) {
	return s.do(ctx, &op{consume: true, jti: c.JTI, until: c.Until, entry: c.Entry})
}

// Append implements ledger.Store.
func (s *Store) Append(ctx context.Context, e audit.Entry) (audit.Entry, error) {
	return s.do(ctx, &op{entry: e})
}

// op is one write waiting for a group commit: a consume with its entry,
// or an entry alone.
type op struct {
	consume bool
	jti     string
	until   time.Time
	entry   audit.Entry
}

// result is the outcome of one op: the entry as written, or an error for
// that op alone, such as ErrAlreadyUsed.
type result struct {
	entry audit.Entry
	err   error
}

// do hands o to the group commit and waits for it.
func (s *Store) do(ctx context.Context, o *op) (audit.Entry, error) {
	r, err := s.batch.Do(ctx, o)
	if err != nil {
		return audit.Entry{}, err
	}
	return r.entry, r.err
}

// commit applies a batch in one transaction: the consumes first, then one
// reservation of indices for every entry to append, then the entries.
func (s *Store) commit(ops []*op) ([]result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	results := make([]result, len(ops))
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, unavailable("begin", err)
	}
	defer tx.Rollback(context.Background())

	// 1. Mark the jtis used; a jti already there, or twice in the batch,
	// is a replay.
	if err := consumeAll(ctx, tx, ops, results); err != nil {
		return nil, err
	}

	// 2. Reserve contiguous indices for the entries to append.
	var appendIdx []int
	for i := range ops {
		if results[i].err == nil {
			appendIdx = append(appendIdx, i)
		}
	}
	if len(appendIdx) > 0 {
		var end int64
		err := tx.QueryRow(ctx, `UPDATE audit_head SET size = size + $1
			WHERE id = 1 RETURNING size`, len(appendIdx)).Scan(&end)
		if err != nil {
			return nil, unavailable("reserve audit indices", err)
		}
		next := end - int64(len(appendIdx))
		for _, i := range appendIdx {
			e := ops[i].entry
			e.Index = next
			e.Time = audit.Timestamp(e.Time)
			results[i].entry = e
			next++
		}
		// 3. Write the entries.
		if err := insertEntries(ctx, tx, results, appendIdx); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, unavailable("commit", err)
	}
	return results, nil
}

func consumeAll(ctx context.Context, tx pgx.Tx, ops []*op, results []result) error {
	var jtis []string
	var untils []int64
	first := map[string]int{}
	for i, o := range ops {
		if !o.consume {
			continue
		}
		if _, dup := first[o.jti]; dup {
			results[i].err = ledger.ErrAlreadyUsed
			continue
		}
		first[o.jti] = i
	}
	if len(first) == 0 {
		return nil
	}
	// Insert in key order: two replicas whose batches share jtis then lock
	// them in the same order and cannot deadlock.
	for j := range first {
		jtis = append(jtis, j)
	}
	slices.Sort(jtis)
	for _, j := range jtis {
		untils = append(untils, ops[first[j]].until.Unix())
	}
	rows, err := tx.Query(ctx, `INSERT INTO used_jti (jti, until)
		SELECT * FROM unnest($1::text[], $2::bigint[])
		ON CONFLICT (jti) DO NOTHING RETURNING jti`, jtis, untils)
	if err != nil {
		return unavailable("consume", err)
	}
	inserted, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return unavailable("consume", err)
	}
	fresh := make(map[string]bool, len(inserted))
	for _, j := range inserted {
		fresh[j] = true
	}
	for j, i := range first {
		if !fresh[j] {
			results[i].err = ledger.ErrAlreadyUsed
		}
	}
	return nil
}

func insertEntries(ctx context.Context, tx pgx.Tx, results []result, idx []int) error {
	rows := make([][]any, 0, len(idx))
	for _, i := range idx {
		e := results[i].entry
		var evidence []byte
		if len(e.Evidence) > 0 {
			evidence = e.Evidence
		}
		rows = append(rows, []any{e.Index, e.Time.UnixNano(), string(e.Event),
			e.JTI, e.Sub, e.Action, e.Aud, e.Caller, e.Reason, evidence})
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"audit_entries"},
		[]string{"idx", "time_ns", "event", "jti", "sub", "action", "aud",
			"caller", "reason", "evidence"},
		pgx.CopyFromRows(rows))
	if err != nil {
		return unavailable("append audit entries", err)
	}
	return nil
}

// auditTx runs change in a transaction, with a context bounded by the
// store's timeout, and appends the audit entry it returns in the same
// transaction, at the next index. An error from change rolls everything
// back and is returned as is.
func (s *Store) auditTx(ctx context.Context,
	change func(context.Context, pgx.Tx) (audit.Entry, error)) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return unavailable("begin", err)
	}
	defer tx.Rollback(context.Background())
	e, err := change(ctx, tx)
	if err != nil {
		return err
	}
	if err := appendEntry(ctx, tx, e); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return unavailable("commit", err)
	}
	return nil
}

// appendEntry reserves the next audit index in tx, by updating the row of
// audit_head (whose lock serializes appends until commit), and writes e
// there.
func appendEntry(ctx context.Context, tx pgx.Tx, e audit.Entry) error {
	var end int64
	err := tx.QueryRow(ctx, `UPDATE audit_head SET size = size + 1
		WHERE id = 1 RETURNING size`).Scan(&end)
	if err != nil {
		return unavailable("reserve audit index", err)
	}
	e.Index, e.Time = end-1, audit.Timestamp(e.Time)
	var evidence []byte
	if len(e.Evidence) > 0 {
		evidence = e.Evidence
	}
	_, err = tx.Exec(ctx, `INSERT INTO audit_entries (idx, time_ns, event, jti,
		sub, action, aud, caller, reason, evidence)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		e.Index, e.Time.UnixNano(), string(e.Event), e.JTI, e.Sub, e.Action,
		e.Aud, e.Caller, e.Reason, evidence)
	if err != nil {
		return unavailable("append audit entry", err)
	}
	return nil
}

func unavailable(what string, err error) error {
	return fmt.Errorf("%w: failed to %s: %v", ledger.ErrUnavailable, what, err)
}

// Entries implements ledger.Store.
func (s *Store) Entries(ctx context.Context, f ledger.Filter) ([]audit.Entry, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	q, args := entriesQuery(f)
	return readEntries(ctx, s.pool, q, args...)
}

// querier is what a pool and a transaction share for reading.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// readEntries runs a query of audit entries, in the column order of
// scanEntry.
func readEntries(ctx context.Context, db querier, q string, args ...any) ([]audit.Entry, error) {
	rows, err := db.Query(ctx, q, args...)
	if err != nil {
		return nil, unavailable("read audit", err)
	}
	out, err := pgx.CollectRows(rows, scanEntry)
	if err != nil {
		return nil, unavailable("read audit", err)
	}
	return out, nil
}

// entriesQuery is the query of Entries for f, with its arguments.
func entriesQuery(f ledger.Filter) (string, []any) {
	q := `SELECT idx, time_ns, event, jti, sub, action, aud, caller, reason,
		evidence FROM audit_entries WHERE true`
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		q += fmt.Sprintf(" AND "+cond, len(args))
	}
	if f.Event != "" {
		add("event = $%d", f.Event)
	}
	if f.Sub != "" {
		add("sub = $%d", f.Sub)
	}
	if f.Action != "" {
		add("action = $%d", f.Action)
	}
	if !f.Since.IsZero() {
		add("time_ns >= $%d", f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		add("time_ns < $%d", f.Until.UnixNano())
	}
	if f.Before > 0 {
		add("idx < $%d", f.Before)
	}
	args = append(args, f.Limit)
	q += fmt.Sprintf(" ORDER BY idx DESC LIMIT $%d", len(args))
	return q, args
}

// AppendAfter implements ledger.Store. The transaction first locks the
// row of audit_head, as every append does, so a replica that races with
// this one reads the log after the other's append.
func (s *Store) AppendAfter(ctx context.Context, event audit.Event,
	next func(last *audit.Entry) (audit.Entry, bool)) (bool, error) {
	appended := false
	err := s.auditTx(ctx, func(ctx context.Context, tx pgx.Tx) (audit.Entry, error) {
		if _, err := tx.Exec(ctx, `SELECT size FROM audit_head
			WHERE id = 1 FOR UPDATE`); err != nil {
			return audit.Entry{}, unavailable("lock audit head", err)
		}
		q, args := entriesQuery(ledger.Filter{Event: string(event), Limit: 1})
		es, err := readEntries(ctx, tx, q, args...)
		if err != nil {
			return audit.Entry{}, err
		}
		var last *audit.Entry
		if len(es) == 1 {
			last = &es[0]
		}
		e, ok := next(last)
		if !ok {
			return audit.Entry{}, errNothingToAppend
		}
		appended = true
		return e, nil
	})
	if errors.Is(err, errNothingToAppend) {
		return false, nil
	}
	return appended && err == nil, err
}

// errNothingToAppend ends AppendAfter's transaction without an entry.
var errNothingToAppend = errors.New("nothing to append")

func scanEntry(row pgx.CollectableRow) (audit.Entry, error) {
	var e audit.Entry
	var ns int64
	var ev string
	var evidence []byte
	err := row.Scan(&e.Index, &ns, &ev, &e.JTI, &e.Sub, &e.Action, &e.Aud,
		&e.Caller, &e.Reason, &evidence)
	e.Time = time.Unix(0, ns).UTC()
	e.Event = audit.Event(ev)
	if len(evidence) > 0 {
		e.Evidence = evidence
	}
	return e, err
}

// Prune implements ledger.Store. It deletes in bounded steps and skips
// rows another transaction holds, so it never blocks a consume.
func (s *Store) Prune(ctx context.Context, now time.Time) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	// NOTE: the cutoff is the earlier of this replica's clock and the
	// database's, so a replica whose clock runs fast cannot prune a jti
	// that a replica with a right clock would still accept.
	tag, err := s.pool.Exec(ctx, `DELETE FROM used_jti WHERE jti IN (
		SELECT jti FROM used_jti
		WHERE until < LEAST($1, extract(epoch FROM now())::bigint - $2)
		LIMIT 10000 FOR UPDATE SKIP LOCKED)`,
		now.Add(-ledger.PruneMargin).Unix(), int64(ledger.PruneMargin/time.Second))
	if err != nil {
		return 0, unavailable("prune", err)
	}
	return tag.RowsAffected(), nil
}

// Ping implements ledger.Store.
func (s *Store) Ping(ctx context.Context) error {
	if s.batch.Closed() {
		return ledger.ErrClosed
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.pool.Ping(ctx); err != nil {
		return unavailable("reach database", err)
	}
	return nil
}

// Close implements ledger.Store.
func (s *Store) Close() error {
	s.batch.Close()
	s.pool.Close()
	return nil
}
