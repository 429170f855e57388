package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/agentmint/agentmint/internal/audit"
	"github.com/agentmint/agentmint/internal/passkey"
)

// Passkeys returns the passkey store kept in the same database. Its writes
// go through the store's one writer, in its group commits.
func (s *Store) Passkeys() passkey.Store { return passkeyStore{s} }

type passkeyStore struct{ s *Store }

// write runs fn in the writer's transaction and waits for the commit.
func (p passkeyStore) write(ctx context.Context, fn txFunc) error {
	return p.s.write(ctx, fn)
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

func (p passkeyStore) User(ctx context.Context, id string) (passkey.User, error) {
	u := passkey.User{ID: id}
	var created int64
	err := p.s.r.QueryRowContext(ctx, `SELECT handle, name, created_ns
		FROM passkey_users WHERE user_id = ?`, id).Scan(&u.Handle, &u.Name, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return u, passkey.ErrNotFound
	}
	if err != nil {
		return u, unavailable("passkey user", err)
	}
	u.Created = fromNanos(created)
	return u, nil
}

func (p passkeyStore) CreateUser(ctx context.Context, u passkey.User) (passkey.User, error) {
	err := p.write(ctx, func(ctx context.Context, tx *sql.Tx, _ func(audit.Entry) error) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO passkey_users
			(user_id, handle, name, created_ns) VALUES (?, ?, ?, ?)
			ON CONFLICT (user_id) DO NOTHING`,
			u.ID, u.Handle, u.Name, nanos(u.Created))
		return err
	})
	if err != nil {
		return passkey.User{}, err
	}
	return p.User(ctx, u.ID)
}

func (p passkeyStore) Credentials(ctx context.Context, userID string) ([]passkey.Credential, error) {
	rows, err := p.s.r.QueryContext(ctx, `SELECT id, public_key, sign_count,
		backup_eligible, backup_state, aaguid, attestation_format, transports,
		created_ns, last_used_ns FROM passkey_credentials WHERE user_id = ?
		ORDER BY created_ns, id`, userID)
	if err != nil {
		return nil, unavailable("passkey credentials", err)
	}
	defer rows.Close()
	var out []passkey.Credential
	for rows.Next() {
		c := passkey.Credential{UserID: userID}
		var transports string
		var created, used int64
		if err := rows.Scan(&c.ID, &c.PublicKey, &c.SignCount, &c.BackupEligible,
			&c.BackupState, &c.AAGUID, &c.AttestationFormat, &transports,
			&created, &used); err != nil {
			return nil, unavailable("passkey credentials", err)
		}
		if transports != "" {
			c.Transports = strings.Split(transports, ",")
		}
		c.Created, c.LastUsed = fromNanos(created), fromNanos(used)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable("passkey credentials", err)
	}
	return out, nil
}

func (p passkeyStore) AddCredential(ctx context.Context, c passkey.Credential, e audit.Entry) error {
	exists := false
	err := p.write(ctx, func(ctx context.Context, tx *sql.Tx, add func(audit.Entry) error) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO passkey_credentials
			(id, user_id, public_key, sign_count, backup_eligible, backup_state,
			aaguid, attestation_format, transports, created_ns, last_used_ns)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
			c.ID, c.UserID, c.PublicKey, c.SignCount, c.BackupEligible, c.BackupState,
			c.AAGUID, c.AttestationFormat, strings.Join(c.Transports, ","),
			nanos(c.Created), nanos(c.LastUsed))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			exists = true
			return nil
		}
		return add(e)
	})
	if err == nil && exists {
		return passkey.ErrExists
	}
	return err
}

func (p passkeyStore) UpdateCredential(ctx context.Context, c passkey.Credential, prevCount uint32) error {
	changed := false
	err := p.write(ctx, func(ctx context.Context, tx *sql.Tx, _ func(audit.Entry) error) error {
		res, err := tx.ExecContext(ctx, `UPDATE passkey_credentials
			SET sign_count = ?, backup_state = ?, last_used_ns = ?
			WHERE id = ? AND user_id = ? AND sign_count = ?`,
			c.SignCount, c.BackupState, nanos(c.LastUsed), c.ID, c.UserID, prevCount)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		changed = n == 1
		return nil
	})
	if err == nil && !changed {
		return passkey.ErrConflict
	}
	return err
}

func (p passkeyStore) PutChallenge(ctx context.Context, c passkey.Challenge) error {
	return p.write(ctx, func(ctx context.Context, tx *sql.Tx, _ func(audit.Entry) error) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO passkey_challenges
			(challenge, user_id, kind, session, request, expires_ns)
			VALUES (?, ?, ?, ?, ?, ?)`,
			c.Value, c.UserID, string(c.Kind), c.Session, c.Request, nanos(c.Expires))
		return err
	})
}

func (p passkeyStore) TakeChallenge(ctx context.Context, value []byte) (passkey.Challenge, error) {
	c := passkey.Challenge{Value: value}
	found := false
	err := p.write(ctx, func(ctx context.Context, tx *sql.Tx, _ func(audit.Entry) error) error {
		var kind string
		var expires int64
		err := tx.QueryRowContext(ctx, `DELETE FROM passkey_challenges
			WHERE challenge = ? RETURNING user_id, kind, session, request, expires_ns`,
			value).Scan(&c.UserID, &kind, &c.Session, &c.Request, &expires)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		c.Kind, c.Expires = passkey.ChallengeKind(kind), fromNanos(expires)
		return nil
	})
	if err != nil {
		return passkey.Challenge{}, err
	}
	if !found {
		return passkey.Challenge{}, passkey.ErrNotFound
	}
	return c, nil
}

func (p passkeyStore) Lockout(ctx context.Context, userID string) (passkey.Lockout, error) {
	l, err := readLockout(ctx, p.s.r.QueryRowContext, userID)
	if err != nil {
		return l, unavailable("passkey lockout", err)
	}
	return l, nil
}

// readLockout reads a lockout record with query, from the readers or
// inside a transaction; a missing record is a zero one.
func readLockout(ctx context.Context,
	query func(context.Context, string, ...any) *sql.Row, userID string) (passkey.Lockout, error) {
	var l passkey.Lockout
	var start, until int64
	err := query(ctx, `SELECT failures, window_start_ns, locked_until_ns
		FROM passkey_lockouts WHERE user_id = ?`, userID).Scan(&l.Failures, &start, &until)
	if errors.Is(err, sql.ErrNoRows) {
		return passkey.Lockout{}, nil
	}
	l.WindowStart, l.LockedUntil = fromNanos(start), fromNanos(until)
	return l, err
}

func (p passkeyStore) UpdateLockout(ctx context.Context, userID string,
	f func(passkey.Lockout) passkey.Lockout) (passkey.Lockout, error) {
	var next passkey.Lockout
	err := p.write(ctx, func(ctx context.Context, tx *sql.Tx, _ func(audit.Entry) error) error {
		prev, err := readLockout(ctx, tx.QueryRowContext, userID)
		if err != nil {
			return err
		}
		next = f(prev)
		if next == (passkey.Lockout{}) {
			_, err = tx.ExecContext(ctx, `DELETE FROM passkey_lockouts WHERE user_id = ?`, userID)
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO passkey_lockouts
			(user_id, failures, window_start_ns, locked_until_ns) VALUES (?, ?, ?, ?)
			ON CONFLICT (user_id) DO UPDATE SET failures = excluded.failures,
			window_start_ns = excluded.window_start_ns,
			locked_until_ns = excluded.locked_until_ns`,
			userID, next.Failures, nanos(next.WindowStart), nanos(next.LockedUntil))
		return err
	})
	return next, err
}

func (p passkeyStore) PruneChallenges(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := p.write(ctx, func(ctx context.Context, tx *sql.Tx, _ func(audit.Entry) error) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM passkey_challenges WHERE expires_ns <= ?`,
			now.UnixNano())
		if err != nil {
			return err
		}
		a, _ := res.RowsAffected()
		// A record is stale when no lockout is in force and its window is
		// over (passkey.Lockout.Stale).
		res, err = tx.ExecContext(ctx, `DELETE FROM passkey_lockouts
			WHERE locked_until_ns <= ? AND window_start_ns <= ?`,
			now.UnixNano(), now.Add(-passkey.FailureWindow).UnixNano())
		if err != nil {
			return err
		}
		b, _ := res.RowsAffected()
		n = a + b
		return nil
	})
	return n, err
}
