package postgres

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agentmint/agentmint/internal/audit"
	"github.com/agentmint/agentmint/internal/passkey"
)

// Passkeys returns the passkey store kept in the same database, shared by
// every replica: a challenge begun on one can be finished on another, and
// failures counted on any lock the user out on all.
func (s *Store) Passkeys() passkey.Store { return passkeyStore{s} }

type passkeyStore struct{ s *Store }

var _ passkey.Store = passkeyStore{}

// nanos stores a time as unix nanoseconds, the zero time as 0.
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

// bound returns ctx limited by the store's timeout.
func (p passkeyStore) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, p.s.timeout)
}

func (p passkeyStore) User(ctx context.Context, id string) (passkey.User, error) {
	ctx, cancel := p.bound(ctx)
	defer cancel()
	u := passkey.User{ID: id}
	var created int64
	err := p.s.pool.QueryRow(ctx, `SELECT handle, name, created_ns
		FROM passkey_users WHERE user_id = $1`, id).Scan(&u.Handle, &u.Name, &created)
	if errors.Is(err, pgx.ErrNoRows) {
		return u, passkey.ErrNotFound
	}
	if err != nil {
		return u, unavailable("read passkey user", err)
	}
	u.Created = fromNanos(created)
	return u, nil
}

func (p passkeyStore) CreateUser(ctx context.Context, u passkey.User) (passkey.User, error) {
	bctx, cancel := p.bound(ctx)
	defer cancel()
	_, err := p.s.pool.Exec(bctx, `INSERT INTO passkey_users
		(user_id, handle, name, created_ns) VALUES ($1, $2, $3, $4)
		ON CONFLICT (user_id) DO NOTHING`, u.ID, u.Handle, u.Name, nanos(u.Created))
	if err != nil {
		return passkey.User{}, unavailable("create passkey user", err)
	}
	return p.User(ctx, u.ID)
}

func (p passkeyStore) Credentials(ctx context.Context, userID string) ([]passkey.Credential, error) {
	ctx, cancel := p.bound(ctx)
	defer cancel()
	rows, err := p.s.pool.Query(ctx, `SELECT id, user_id, public_key, sign_count,
		backup_eligible, backup_state, aaguid, attestation_format, transports,
		created_ns, last_used_ns FROM passkey_credentials WHERE user_id = $1
		ORDER BY created_ns, id`, userID)
	if err != nil {
		return nil, unavailable("read passkey credentials", err)
	}
	out, err := pgx.CollectRows(rows, scanCredential)
	if err != nil {
		return nil, unavailable("read passkey credentials", err)
	}
	return out, nil
}

func scanCredential(row pgx.CollectableRow) (passkey.Credential, error) {
	var c passkey.Credential
	var transports string
	var created, used int64
	err := row.Scan(&c.ID, &c.UserID, &c.PublicKey, &c.SignCount,
		&c.BackupEligible, &c.BackupState, &c.AAGUID, &c.AttestationFormat,
		&transports, &created, &used)
	if transports != "" {
		c.Transports = strings.Split(transports, ",")
	}
	c.Created, c.LastUsed = fromNanos(created), fromNanos(used)
	return c, err
}

func (p passkeyStore) AddCredential(ctx context.Context, c passkey.Credential, e audit.Entry) error {
	return p.s.auditTx(ctx, func(ctx context.Context, tx pgx.Tx) (audit.Entry, error) {
		tag, err := tx.Exec(ctx, `INSERT INTO passkey_credentials
			(id, user_id, public_key, sign_count, backup_eligible, backup_state,
			aaguid, attestation_format, transports, created_ns, last_used_ns)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
			ON CONFLICT (id) DO NOTHING`,
			c.ID, c.UserID, c.PublicKey, int64(c.SignCount), c.BackupEligible,
			c.BackupState, c.AAGUID, c.AttestationFormat,
			strings.Join(c.Transports, ","), nanos(c.Created), nanos(c.LastUsed))
		if err != nil {
			return e, unavailable("add passkey credential", err)
		}
		if tag.RowsAffected() == 0 {
			return e, passkey.ErrExists
		}
		return e, nil
	})
}

func (p passkeyStore) UpdateCredential(ctx context.Context, c passkey.Credential, prevCount uint32) error {
	ctx, cancel := p.bound(ctx)
	defer cancel()
	tag, err := p.s.pool.Exec(ctx, `UPDATE passkey_credentials
		SET sign_count = $1, backup_state = $2, last_used_ns = $3
		WHERE id = $4 AND user_id = $5 AND sign_count = $6`,
		int64(c.SignCount), c.BackupState, nanos(c.LastUsed), c.ID, c.UserID,
		int64(prevCount))
	if err != nil {
		return unavailable("update passkey credential", err)
	}
	if tag.RowsAffected() != 1 {
		return passkey.ErrConflict
	}
	return nil
}

func (p passkeyStore) PutChallenge(ctx context.Context, c passkey.Challenge) error {
	ctx, cancel := p.bound(ctx)
	defer cancel()
	_, err := p.s.pool.Exec(ctx, `INSERT INTO passkey_challenges
		(challenge, user_id, kind, session, request, expires_ns)
		VALUES ($1, $2, $3, $4, $5, $6)`,
		c.Value, c.UserID, string(c.Kind), c.Session, c.Request, nanos(c.Expires))
	if err != nil {
		return unavailable("store passkey challenge", err)
	}
	return nil
}

// TakeChallenge implements passkey.Store. Of concurrent deletes of one
// row, on any replica, PostgreSQL lets one return it; the others wait for
// its row lock and then find nothing.
func (p passkeyStore) TakeChallenge(ctx context.Context, value []byte) (passkey.Challenge, error) {
	ctx, cancel := p.bound(ctx)
	defer cancel()
	c := passkey.Challenge{Value: value}
	var kind string
	var expires int64
	err := p.s.pool.QueryRow(ctx, `DELETE FROM passkey_challenges
		WHERE challenge = $1 RETURNING user_id, kind, session, request, expires_ns`,
		value).Scan(&c.UserID, &kind, &c.Session, &c.Request, &expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return passkey.Challenge{}, passkey.ErrNotFound
	}
	if err != nil {
		return passkey.Challenge{}, unavailable("take passkey challenge", err)
	}
	c.Kind, c.Expires = passkey.ChallengeKind(kind), fromNanos(expires)
	return c, nil
}

func (p passkeyStore) Lockout(ctx context.Context, userID string) (passkey.Lockout, error) {
	ctx, cancel := p.bound(ctx)
	defer cancel()
	l, _, err := readLockout(ctx, p.s.pool.QueryRow, userID, "")
	if err != nil {
		return l, unavailable("read passkey lockout", err)
	}
	return l, nil
}

// readLockout reads a user's lockout record with query, adding suffix to
// the statement; found is false, and the record zero, if there is none.
func readLockout(ctx context.Context, query func(context.Context, string, ...any) pgx.Row,
	userID, suffix string) (l passkey.Lockout, found bool, err error) {
	var start, until int64
	err = query(ctx, `SELECT failures, window_start_ns, locked_until_ns
		FROM passkey_lockouts WHERE user_id = $1`+suffix, userID).
		Scan(&l.Failures, &start, &until)
	if errors.Is(err, pgx.ErrNoRows) {
		return passkey.Lockout{}, false, nil
	}
	l.WindowStart, l.LockedUntil = fromNanos(start), fromNanos(until)
	return l, err == nil, err
}

// UpdateLockout implements passkey.Store. The record's row is locked for
// the whole transaction, so that failures counted at once on several
// replicas are all counted: a missing record is first inserted as a zero
// one to have a row to lock.
func (p passkeyStore) UpdateLockout(ctx context.Context, userID string,
	f func(passkey.Lockout) passkey.Lockout) (passkey.Lockout, error) {
	ctx, cancel := p.bound(ctx)
	defer cancel()
	tx, err := p.s.pool.Begin(ctx)
	if err != nil {
		return passkey.Lockout{}, unavailable("begin", err)
	}
	defer tx.Rollback(context.Background())
	prev, err := lockLockout(ctx, tx, userID)
	if err != nil {
		return passkey.Lockout{}, unavailable("lock passkey lockout", err)
	}

	next := f(prev)
	if next == (passkey.Lockout{}) {
		_, err = tx.Exec(ctx, `DELETE FROM passkey_lockouts WHERE user_id = $1`, userID)
	} else {
		_, err = tx.Exec(ctx, `UPDATE passkey_lockouts SET failures = $2,
			window_start_ns = $3, locked_until_ns = $4 WHERE user_id = $1`,
			userID, next.Failures, nanos(next.WindowStart), nanos(next.LockedUntil))
	}
	if err != nil {
		return passkey.Lockout{}, unavailable("update passkey lockout", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return passkey.Lockout{}, unavailable("commit", err)
	}
	return next, nil
}

// lockLockout makes sure the user's lockout row exists, locks it and
// returns it. A row deleted by another transaction while this one waited
// for its lock reads as missing, so the insert is tried again; each
// statement sees what was committed before it began.
func lockLockout(ctx context.Context, tx pgx.Tx, userID string) (passkey.Lockout, error) {
	for {
		_, err := tx.Exec(ctx, `INSERT INTO passkey_lockouts
			(user_id, failures, window_start_ns, locked_until_ns)
			VALUES ($1, 0, 0, 0) ON CONFLICT (user_id) DO NOTHING`, userID)
		if err != nil {
			return passkey.Lockout{}, err
		}
		l, found, err := readLockout(ctx, tx.QueryRow, userID, " FOR UPDATE")
		if err != nil || found {
			return l, err
		}
		if err := ctx.Err(); err != nil {
			return passkey.Lockout{}, err
		}
	}
}

func (p passkeyStore) PruneChallenges(ctx context.Context, now time.Time) (int64, error) {
	ctx, cancel := p.bound(ctx)
	defer cancel()
	a, err := p.s.pool.Exec(ctx, `DELETE FROM passkey_challenges
		WHERE expires_ns <= $1`, now.UnixNano())
	if err != nil {
		return 0, unavailable("prune passkey challenges", err)
	}
	// A record is stale when no lockout is in force and its window is
	// over (passkey.Lockout.Stale).
	b, err := p.s.pool.Exec(ctx, `DELETE FROM passkey_lockouts
		WHERE locked_until_ns <= $1 AND window_start_ns <= $2`,
		now.UnixNano(), now.Add(-passkey.FailureWindow).UnixNano())
	if err != nil {
		return 0, unavailable("prune passkey lockouts", err)
	}
	return a.RowsAffected() + b.RowsAffected(), nil
}
