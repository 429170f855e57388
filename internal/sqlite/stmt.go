package sqlite

import (
	"context"
	"database/sql"
	"sync"
)

// stmts are the writer's prepared statements. Preparing (parsing the SQL)
// cost about a quarter of a consume's CPU in the profile of /proxy; the
// write statements are few and fixed, so each is prepared once. Only the
// writer goroutine uses them. NOTE: closing s.w closes them too.
type stmts struct {
	byQuery map[string]*sql.Stmt
	// pending were first met inside a transaction, which holds the only
	// write connection: they are prepared once it is free again.
	pending []string
	// tx and inTx are the statements bound to the current transaction:
	// a batch runs each statement once a write, and binding one to a
	// transaction costs a few allocations and a lock each time.
	tx   *sql.Tx
	inTx map[string]*sql.Stmt
}

// stmt returns query as a statement of tx, prepared once on the write
// connection where possible, and bound to tx once.
func (s *Store) stmt(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	if s.stmts.tx != tx {
		s.stmts.tx = tx
		clear(s.stmts.inTx)
	}
	if st, ok := s.stmts.inTx[query]; ok {
		return st, nil
	}
	var st *sql.Stmt
	if prepared, ok := s.stmts.byQuery[query]; ok {
		// On the one write connection tx reuses the prepared statement.
		st = tx.StmtContext(ctx, prepared)
	} else {
		s.stmts.pending = append(s.stmts.pending, query)
		var err error
		if st, err = tx.PrepareContext(ctx, query); err != nil {
			return nil, err
		}
	}
	if s.stmts.inTx == nil {
		s.stmts.inTx = map[string]*sql.Stmt{}
	}
	s.stmts.inTx[query] = st
	return st, nil
}

// prepare prepares the pending statements; it runs between transactions.
// A failure only leaves a statement to be prepared per transaction.
func (s *Store) prepare(ctx context.Context) {
	for _, q := range s.stmts.pending {
		if _, ok := s.stmts.byQuery[q]; ok {
			continue
		}
		st, err := s.w.PrepareContext(ctx, q)
		if err != nil {
			continue
		}
		if s.stmts.byQuery == nil {
			s.stmts.byQuery = map[string]*sql.Stmt{}
		}
		s.stmts.byQuery[q] = st
	}
	s.stmts.pending = s.stmts.pending[:0]
}

// exec runs a write statement in tx.
func (s *Store) exec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	st, err := s.stmt(ctx, tx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// queryRow runs a one-row query in tx.
func (s *Store) queryRow(ctx context.Context, tx *sql.Tx, query string, dest ...any) error {
	st, err := s.stmt(ctx, tx, query)
	if err != nil {
		return err
	}
	return st.QueryRowContext(ctx).Scan(dest...)
}

// readStmts are the prepared statements of the read pool, for the queries
// that run on every request (the caller check, the minter of a token).
// A statement of the pool is prepared on each connection as it is used.
type readStmts struct {
	mu      sync.Mutex
	byQuery map[string]*sql.Stmt
}

// readStmt returns query prepared on the read pool, or nil if it fails
// to prepare, in which case the caller runs it unprepared to report why.
func (s *Store) readStmt(ctx context.Context, query string) *sql.Stmt {
	s.reads.mu.Lock()
	defer s.reads.mu.Unlock()
	st, ok := s.reads.byQuery[query]
	if !ok {
		var err error
		if st, err = s.r.PrepareContext(ctx, query); err != nil {
			return nil
		}
		if s.reads.byQuery == nil {
			s.reads.byQuery = map[string]*sql.Stmt{}
		}
		s.reads.byQuery[query] = st
	}
	return st
}

// readRow runs a one-row query on the read pool with a prepared statement.
func (s *Store) readRow(ctx context.Context, query string, args ...any) *sql.Row {
	if st := s.readStmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return s.r.QueryRowContext(ctx, query, args...)
}

// readRows runs a query on the read pool with a prepared statement.
func (s *Store) readRows(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := s.readStmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return s.r.QueryContext(ctx, query, args...)
}
