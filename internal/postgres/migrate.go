package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

// migrationLock is the advisory lock key that serializes migrations when
// several replicas start at once.
const migrationLock = 0x61676d74 // "agmt"

// migrations are applied in order; schema_version counts how many the
// database has. Append new ones; never edit one that has shipped.
var migrations = []string{
	// 1: the ledger of consumed jtis and the audit log.
	`CREATE TABLE used_jti (
		jti   text PRIMARY KEY,
		until bigint NOT NULL -- unix seconds: exp plus leeway
	);
	CREATE INDEX used_jti_until ON used_jti (until);
	CREATE TABLE audit_entries (
		idx      bigint PRIMARY KEY, -- contiguous from 0
		time_ns  bigint NOT NULL,    -- unix nanoseconds, UTC
		event    text NOT NULL,
		jti      text NOT NULL DEFAULT '',
		sub      text NOT NULL DEFAULT '',
		action   text NOT NULL DEFAULT '',
		aud      text NOT NULL DEFAULT '',
		caller   text NOT NULL DEFAULT '',
		reason   text NOT NULL DEFAULT '',
		evidence bytea
	);
	CREATE INDEX audit_entries_event ON audit_entries (event, idx);
	-- One row; its lock serializes appends across replicas.
	CREATE TABLE audit_head (
		id   int PRIMARY KEY CHECK (id = 1),
		size bigint NOT NULL
	);
	INSERT INTO audit_head VALUES (1, 0);`,

	// 2: the audit log's Merkle tree and its signed checkpoints.
	`CREATE TABLE audit_hashes (
		id   bigint PRIMARY KEY, -- tlog stored-hash index
		hash bytea NOT NULL      -- 32 bytes
	);
	CREATE TABLE audit_tree (
		id   int PRIMARY KEY CHECK (id = 1),
		size bigint NOT NULL     -- entries the stored hashes cover
	);
	INSERT INTO audit_tree VALUES (1, 0);
	CREATE TABLE audit_checkpoints (
		size    bigint PRIMARY KEY, -- tree size the checkpoint signs
		time_ns bigint NOT NULL,    -- when it was stored
		note    bytea NOT NULL      -- the signed note
	);`,

	// 3: API callers; the minted entries of the audit log, looked up by
	// jti, name the caller that minted each token.
	`CREATE TABLE callers (
		name       text PRIMARY KEY,
		role       text NOT NULL,
		key_hash   bytea NOT NULL UNIQUE, -- SHA-256 of the key
		created_ns bigint NOT NULL,
		revoked_ns bigint NOT NULL DEFAULT 0 -- 0: not revoked
	);
	CREATE INDEX audit_entries_minted ON audit_entries (jti)
		WHERE event = 'minted';`,

	// 4: passkeys: users, their credentials, begun ceremonies and lockouts.
	// Times are unix nanoseconds, 0 for none.
	`CREATE TABLE passkey_users (
		user_id    text PRIMARY KEY,
		handle     bytea NOT NULL UNIQUE, -- random WebAuthn user handle
		name       text NOT NULL,
		created_ns bigint NOT NULL
	);
	CREATE TABLE passkey_credentials (
		id                 bytea PRIMARY KEY,
		user_id            text NOT NULL REFERENCES passkey_users (user_id),
		public_key         bytea NOT NULL, -- COSE_Key
		sign_count         bigint NOT NULL,
		backup_eligible    boolean NOT NULL,
		backup_state       boolean NOT NULL,
		aaguid             bytea,
		attestation_format text NOT NULL DEFAULT '',
		transports         text NOT NULL DEFAULT '', -- comma-separated
		created_ns         bigint NOT NULL,
		last_used_ns       bigint NOT NULL DEFAULT 0
	);
	CREATE INDEX passkey_credentials_user ON passkey_credentials (user_id);
	CREATE TABLE passkey_challenges (
		challenge  bytea PRIMARY KEY,
		user_id    text NOT NULL,
		kind       text NOT NULL, -- register or approve
		session    bytea NOT NULL, -- go-webauthn SessionData, JSON
		request    bytea,          -- canonical approval request
		expires_ns bigint NOT NULL
	);
	CREATE INDEX passkey_challenges_expires ON passkey_challenges (expires_ns);
	CREATE TABLE passkey_lockouts (
		user_id         text PRIMARY KEY,
		failures        bigint NOT NULL,
		window_start_ns bigint NOT NULL,
		locked_until_ns bigint NOT NULL
	);`,
}

// migrate brings the schema up to date. A transaction-scoped advisory lock
// makes replicas that start together apply each migration once.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("failed to migrate: %v", err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
		return fmt.Errorf("failed to take the migration lock: %v", err)
	}
	_, err = tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		id int PRIMARY KEY CHECK (id = 1), version int NOT NULL)`)
	if err != nil {
		return fmt.Errorf("failed to migrate: %v", err)
	}
	var have int
	err = tx.QueryRow(ctx, `INSERT INTO schema_version VALUES (1, 0)
		ON CONFLICT (id) DO UPDATE SET version = schema_version.version
		RETURNING version`).Scan(&have)
	if err != nil {
		return fmt.Errorf("failed to read schema version: %v", err)
	}
	if have > len(migrations) {
		return fmt.Errorf("database schema version %d is newer than this "+
			"binary knows (%d): upgrade agentmint", have, len(migrations))
	}
	for v := have; v < len(migrations); v++ {
		if _, err := tx.Exec(ctx, migrations[v]); err != nil {
			return fmt.Errorf("failed to migrate to version %d: %v", v+1, err)
		}
	}
	_, err = tx.Exec(ctx, `UPDATE schema_version SET version = $1`, len(migrations))
	if err != nil {
		return fmt.Errorf("failed to record schema version: %v", err)
	}
	return tx.Commit(ctx)
}
