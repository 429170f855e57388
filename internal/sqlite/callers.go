package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/agentmint/agentmint/internal/audit"
	"github.com/agentmint/agentmint/internal/callers"
	"github.com/agentmint/agentmint/internal/ledger"
)

// Store implements callers.Store. Writes go through the one writer, in the
// same transactions as the ledger's, so that audit indices stay contiguous;
// reads go to the read pool and run one query per call, which sees every
// commit of this or another process at once.
var _ callers.Store = (*Store)(nil)

// AddCaller implements callers.Store. The audit entry names the new caller
// in its caller member and its role in the evidence.
func (s *Store) AddCaller(ctx context.Context, c callers.Caller) error {
	var outcome error
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx,
		add func(audit.Entry) error) error {
		var n int
		err := tx.QueryRowContext(ctx,
			`SELECT COUNT(*) FROM callers WHERE name = ?`, c.Name).Scan(&n)
		if err != nil {
			return fmt.Errorf("failed to read callers: %v", err)
		}
		if n > 0 {
			outcome = callers.ErrExists
			return nil
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO callers
			(name, role, key_hash, created_ns) VALUES (?, ?, ?, ?)`,
			c.Name, string(c.Role), c.KeyHash[:], c.Created.UnixNano())
		if err != nil {
			return fmt.Errorf("failed to add caller: %v", err)
		}
		return add(audit.Entry{
			Time: c.Created, Event: audit.EventCallerAdded, Caller: c.Name,
			Evidence: []byte(`{"role":"` + string(c.Role) + `"}`),
		})
	})
	if err != nil {
		return err
	}
	return outcome
}

// RevokeCaller implements callers.Store.
func (s *Store) RevokeCaller(ctx context.Context, name string, at time.Time) error {
	var outcome error
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx,
		add func(audit.Entry) error) error {
		var revoked int64
		err := tx.QueryRowContext(ctx,
			`SELECT revoked_ns FROM callers WHERE name = ?`, name).Scan(&revoked)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			outcome = callers.ErrNotFound
			return nil
		case err != nil:
			return fmt.Errorf("failed to read callers: %v", err)
		case revoked != 0:
			outcome = callers.ErrRevoked
			return nil
		}
		_, err = tx.ExecContext(ctx,
			`UPDATE callers SET revoked_ns = ? WHERE name = ?`, at.UnixNano(), name)
		if err != nil {
			return fmt.Errorf("failed to revoke caller: %v", err)
		}
		return add(audit.Entry{
			Time: at, Event: audit.EventCallerRevoked, Caller: name,
		})
	})
	if err != nil {
		return err
	}
	return outcome
}

// Minter implements callers.Store: the caller of the token's minted entry.
func (s *Store) Minter(ctx context.Context, jti string) (string, error) {
	var name string
	err := s.readRow(ctx, `SELECT caller FROM audit_entries
		WHERE jti = ? AND event = 'minted' LIMIT 1`, jti).Scan(&name)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("%w: failed to read minter: %v", ledger.ErrUnavailable, err)
	}
	return name, nil
}

// Callers implements callers.Store.
func (s *Store) Callers(ctx context.Context) ([]callers.Caller, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT name, role, key_hash, created_ns,
		revoked_ns FROM callers ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("%w: failed to read callers: %v", ledger.ErrUnavailable, err)
	}
	defer rows.Close()
	var out []callers.Caller
	for rows.Next() {
		c, err := scanCaller(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%w: failed to read callers: %v", ledger.ErrUnavailable, err)
	}
	return out, nil
}

// CallerByKey implements callers.Store. The lookup is by the hash, through
// the unique index; the stored hash is then compared in constant time.
// NOTE: the index lookup's timing can only reveal how a guess's SHA-256
// compares with stored hashes, which does not help to find a key.
func (s *Store) CallerByKey(ctx context.Context, h callers.Hash) (callers.Caller, error) {
	row := s.readRow(ctx, `SELECT name, role, key_hash, created_ns,
		revoked_ns FROM callers WHERE key_hash = ?`, h[:])
	c, err := scanCaller(row)
	if errors.Is(err, sql.ErrNoRows) {
		return callers.Caller{}, callers.ErrNotFound
	}
	if err != nil {
		return callers.Caller{}, err
	}
	if !c.KeyHash.Equal(h) {
		return callers.Caller{}, callers.ErrNotFound
	}
	return c, nil
}

// HasCallers implements callers.Store.
func (s *Store) HasCallers(ctx context.Context) (bool, error) {
	var n int
	err := s.readRow(ctx, `SELECT EXISTS (SELECT 1 FROM callers)`).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("%w: failed to read callers: %v", ledger.ErrUnavailable, err)
	}
	return n == 1, nil
}

func scanCaller(row interface{ Scan(...any) error }) (callers.Caller, error) {
	var c callers.Caller
	var role string
	var hash []byte
	var created, revoked int64
	err := row.Scan(&c.Name, &role, &hash, &created, &revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return c, err
	}
	if err != nil {
		return c, fmt.Errorf("%w: failed to read caller: %v", ledger.ErrUnavailable, err)
	}
	if len(hash) != len(c.KeyHash) {
		return c, fmt.Errorf("caller %q has a malformed key hash", c.Name)
	}
	c.Role = callers.Role(role)
	copy(c.KeyHash[:], hash)
	c.Created = time.Unix(0, created).UTC()
	if revoked != 0 {
		c.Revoked = time.Unix(0, revoked).UTC()
	}
	return c, nil
}
