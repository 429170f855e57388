package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"time"

	"github.com/agentmint/agentmint/internal/audit"
	"testing"

	"github.com/agentmint/agentmint/internal/ledger"
	"github.com/agentmint/agentmint/internal/ledger/ledgertest"
)

func TestConformance(t *testing.T) {
	for _, batch := range []int{1, DefaultMaxBatch} {
		name := "group-commit"
		if batch == 1 {
			name = "one-per-commit"
		}
		t.Run(name, func(t *testing.T) {
			ledgertest.Run(t, func(t *testing.T) ledgertest.Opener {
				path := filepath.Join(t.TempDir(), "ledger.db")
				return func(t *testing.T) ledger.Store {
					s, err := Open(path, Options{MaxBatch: batch})
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { s.Close() })
					return s
				}
			})
		})
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.Exec(`PRAGMA user_version = 99`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(path, Options{}); err == nil {
		t.Fatal("Open accepted a schema newer than it knows")
	}
}

func TestReadOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	if _, err := Open(path, Options{ReadOnly: true}); err == nil {
		t.Fatal("read-only Open of a missing file succeeded")
	}
	w, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx := context.Background()
	if _, err := w.Append(ctx, audit.Entry{Time: time.Now(),
		Event: audit.EventMinted}); err != nil {
		t.Fatal(err)
	}

	// A reader next to the open writer sees its entries and cannot write.
	r, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := r.AuditSize(ctx); err != nil || n != 1 {
		t.Errorf("AuditSize = %d, %v; want 1", n, err)
	}
	_, err = r.Append(ctx, audit.Entry{Time: time.Now(),
		Event: audit.EventMinted})
	if !errors.Is(err, ErrReadOnly) {
		t.Errorf("Append on a read-only store = %v, want ErrReadOnly", err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
}

// One transaction with a jti consumed twice, a jti consumed by an earlier
// transaction, and appends between: each write gets its own outcome, and
// the entries that were written are numbered contiguously in order.
func TestBatchOfMixedWrites(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "ledger.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	until := time.Now().Add(time.Minute)
	if _, err := s.Consume(ctx, ledger.Consumption{JTI: "old", Until: until,
		Entry: audit.Entry{Time: time.Now(), Event: audit.EventVerified, JTI: "old"}}); err != nil {
		t.Fatal(err)
	}

	consume := func(jti string) *op {
		return &op{kind: opConsume, jti: jti, until: until.Unix(),
			entry: audit.Entry{Time: time.Now(), Event: audit.EventVerified, JTI: jti}}
	}
	appendOp := &op{kind: opAppend,
		entry: audit.Entry{Time: time.Now(), Event: audit.EventMinted, JTI: "m"}}
	batch := []*op{consume("a"), consume("a"), appendOp, consume("old"), consume("b")}
	for range 70 { // more than one multi-row statement
		batch = append(batch, appendOp)
	}
	results, err := s.commit(batch)
	if err != nil {
		t.Fatal(err)
	}
	wantErr := []error{nil, ledger.ErrAlreadyUsed, nil, ledger.ErrAlreadyUsed, nil}
	next := int64(1)
	for i, r := range results {
		var want error
		if i < len(wantErr) {
			want = wantErr[i]
		}
		if !errors.Is(r.err, want) {
			t.Fatalf("write %d: %v, want %v", i, r.err, want)
		}
		if r.err != nil {
			continue
		}
		if r.entry.Index != next || r.entry.JTI != batch[i].entry.JTI {
			t.Fatalf("write %d: entry %d %q, want %d %q", i, r.entry.Index,
				r.entry.JTI, next, batch[i].entry.JTI)
		}
		next++
	}
	stored, err := s.EntryRange(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(stored)) != next {
		t.Fatalf("%d entries stored, want %d", len(stored), next)
	}
	for i, e := range stored {
		if e.Index != int64(i) {
			t.Fatalf("entry %d has index %d", i, e.Index)
		}
	}
	// b is consumed; consuming it again is refused.
	if _, err := s.Consume(ctx, ledger.Consumption{JTI: "b", Until: until,
		Entry: audit.Entry{Time: time.Now(), Event: audit.EventVerified, JTI: "b"}}); !errors.Is(err, ledger.ErrAlreadyUsed) {
		t.Fatalf("second consume of b: %v", err)
	}
}

// A ledger written before migration 5, with jtis keyed alone, keeps
// refusing them once Open re-keys the table by (until, jti), and prunes
// them as before.
func TestMigrationKeepsConsumedJTIs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range migrations[:4] {
		if _, err := db.Exec(m); err != nil {
			t.Fatal(err)
		}
	}
	old := ledgerConsumption("old-jti", time.Unix(1_800_000_000, 0))
	kept := ledgerConsumption("kept-jti", old.Until.Add(time.Hour))
	for _, c := range []ledger.Consumption{old, kept} {
		if _, err := db.Exec(`INSERT INTO used_jti (jti, until) VALUES (?, ?)`,
			c.JTI, c.Until.Unix()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(`PRAGMA user_version = 4`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for _, c := range []ledger.Consumption{old, kept} {
		if _, err := s.Consume(ctx, c); !errors.Is(err, ledger.ErrAlreadyUsed) {
			t.Errorf("%s after migration: %v, want ErrAlreadyUsed", c.JTI, err)
		}
	}
	n, err := s.Prune(ctx, old.Until.Add(ledger.PruneMargin+time.Second))
	if err != nil || n != 1 {
		t.Fatalf("Prune = %d, %v; want 1", n, err)
	}
	if _, err := s.Consume(ctx, kept); !errors.Is(err, ledger.ErrAlreadyUsed) {
		t.Errorf("kept jti after prune: %v, want ErrAlreadyUsed", err)
	}
}

func ledgerConsumption(jti string, until time.Time) ledger.Consumption {
	return ledger.Consumption{JTI: jti, Until: until, Entry: audit.Entry{
		Time: until.Add(-time.Minute), Event: audit.EventVerified, JTI: jti}}
}

// A newest-first read of a rare event, such as the last key rotation read
// at every start, goes through the partial index and does not scan the
// log; minted and verified are read in index order of the log itself.
func TestEventQueriesUseTheirIndex(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "ledger.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	plan := func(event string) string {
		q, args := entriesQuery(ledger.Filter{Event: event, Limit: 1})
		rows, err := s.r.Query("EXPLAIN QUERY PLAN "+q, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			out = append(out, detail)
		}
		return strings.Join(out, "; ")
	}
	if p := plan(string(audit.EventKeyRotated)); !strings.Contains(p, "audit_entries_rare_event") {
		t.Errorf("key_rotated plan: %s; want the partial index", p)
	}
	if p := plan(string(audit.EventVerified)); strings.Contains(p, "TEMP B-TREE") {
		t.Errorf("verified plan: %s; want the log's own order, no sort", p)
	}
}
