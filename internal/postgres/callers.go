package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agentmint/agentmint/internal/audit"
	"github.com/agentmint/agentmint/internal/callers"
)

// The Store keeps the API callers, so that every replica authenticates
// alike and a revocation reaches all of them at once.
var _ callers.Store = (*Store)(nil)

// AddCaller implements callers.Store: the caller and its audit entry in
// one transaction.
func (s *Store) AddCaller(ctx context.Context, c callers.Caller) error {
	return s.auditTx(ctx, func(ctx context.Context, tx pgx.Tx) (audit.Entry, error) {
		tag, err := tx.Exec(ctx, `INSERT INTO callers (name, role, key_hash,
			created_ns) VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING`,
			c.Name, string(c.Role), c.KeyHash[:], c.Created.UnixNano())
		if err != nil {
			return audit.Entry{}, unavailable("add caller", err)
		}
		if tag.RowsAffected() == 0 {
			return audit.Entry{}, callers.ErrExists
		}
		return audit.Entry{
			Time: c.Created, Event: audit.EventCallerAdded, Caller: c.Name,
			Evidence: []byte(`{"role":"` + string(c.Role) + `"}`),
		}, nil
	})
}

// RevokeCaller implements callers.Store.
func (s *Store) RevokeCaller(ctx context.Context, name string, at time.Time) error {
	return s.auditTx(ctx, func(ctx context.Context, tx pgx.Tx) (audit.Entry, error) {
		var revoked int64
		err := tx.QueryRow(ctx, `SELECT revoked_ns FROM callers WHERE name = $1
			FOR UPDATE`, name).Scan(&revoked)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return audit.Entry{}, callers.ErrNotFound
		case err != nil:
			return audit.Entry{}, unavailable("read callers", err)
		case revoked != 0:
			return audit.Entry{}, callers.ErrRevoked
		}
		_, err = tx.Exec(ctx, `UPDATE callers SET revoked_ns = $1 WHERE name = $2`,
			at.UnixNano(), name)
		if err != nil {
			return audit.Entry{}, unavailable("revoke caller", err)
		}
		return audit.Entry{Time: at, Event: audit.EventCallerRevoked, Caller: name}, nil
	})
}

// Callers implements callers.Store.
func (s *Store) Callers(ctx context.Context) ([]callers.Caller, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT name, role, key_hash, created_ns,
		revoked_ns FROM callers ORDER BY name`)
	if err != nil {
		return nil, unavailable("read callers", err)
	}
	out, err := pgx.CollectRows(rows, scanCaller)
	if err != nil {
		return nil, unavailable("read callers", err)
	}
	return out, nil
}

// CallerByKey implements callers.Store: a lookup through the unique index
// on the hash, then a constant-time comparison.
func (s *Store) CallerByKey(ctx context.Context, h callers.Hash) (callers.Caller, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT name, role, key_hash, created_ns,
		revoked_ns FROM callers WHERE key_hash = $1`, h[:])
	if err != nil {
		return callers.Caller{}, unavailable("read callers", err)
	}
	c, err := pgx.CollectExactlyOneRow(rows, scanCaller)
	if errors.Is(err, pgx.ErrNoRows) {
		return callers.Caller{}, callers.ErrNotFound
	}
	if err != nil {
		return callers.Caller{}, unavailable("read callers", err)
	}
	if !c.KeyHash.Equal(h) {
		return callers.Caller{}, callers.ErrNotFound
	}
	return c, nil
}

// HasCallers implements callers.Store.
func (s *Store) HasCallers(ctx context.Context) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var has bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM callers)`).Scan(&has)
	if err != nil {
		return false, unavailable("read callers", err)
	}
	return has, nil
}

// Minter implements callers.Store: the caller of the token's minted entry.
func (s *Store) Minter(ctx context.Context, jti string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var name string
	err := s.pool.QueryRow(ctx, `SELECT caller FROM audit_entries
		WHERE jti = $1 AND event = 'minted' LIMIT 1`, jti).Scan(&name)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return "", nil
	case err != nil:
		return "", unavailable("read minter", err)
	}
	return name, nil
}

func scanCaller(row pgx.CollectableRow) (callers.Caller, error) {
	var c callers.Caller
	var role string
	var hash []byte
	var created, revoked int64
	if err := row.Scan(&c.Name, &role, &hash, &created, &revoked); err != nil {
		return c, err
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
