// Package audit is AgentMint's tamper-evident audit log: its events, the
// canonical encoding of each event as a leaf of an RFC 6962 Merkle tree,
// signed checkpoints of that tree, proofs, and the offline verification
// behind `agentmint audit verify`.
//
// The package does no I/O. Hashing and proofs are those of
// golang.org/x/mod/sumdb/tlog; checkpoints are C2SP signed notes made and
// opened with golang.org/x/mod/sumdb/note. A store backend keeps the
// entries and the tree hashes; internal/auditlog computes the hashes of
// new entries with StoredHashes after they are committed.
//
// FORMAT.md, next to this file, describes the leaf, checkpoint and export
// encodings precisely enough to check a log without AgentMint.
package audit
