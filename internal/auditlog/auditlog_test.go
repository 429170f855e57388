package auditlog_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentmint/agentmint/internal/audit"
	"github.com/agentmint/agentmint/internal/auditlog"
	"github.com/agentmint/agentmint/internal/sqlite"
)

const origin = "agentmint/test"

// fixture is a real SQLite store in a temporary directory with a log.
type fixture struct {
	dir   string
	store *sqlite.Store
	key   *auditlog.Key
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	s, err := sqlite.Open(filepath.Join(dir, "agentmint.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	k, err := auditlog.OpenKey(filepath.Join(dir, "audit"), origin)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{dir: dir, store: s, key: k}
}

func (f *fixture) log() *auditlog.Log {
	return auditlog.New(auditlog.Config{Tree: f.store, Key: f.key,
		Mirror: filepath.Join(f.dir, "audit", auditlog.MirrorFile)})
}

func (f *fixture) append(t *testing.T, n int) {
	t.Helper()
	for i := range n {
		_, err := f.store.Append(context.Background(), audit.Entry{
			Time: time.Now(), Event: audit.EventMinted,
			JTI: fmt.Sprintf("jti-%d", i), Sub: "alice", Action: "a:b",
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestBuildSignProve(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.append(t, 37)
	l := f.log()
	if err := l.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	sc, c, err := l.Latest(ctx)
	if err != nil || c.Size != 37 || sc.Size != 37 {
		t.Fatalf("Latest = %+v, %v; want size 37", c, err)
	}
	mirror, err := os.ReadFile(filepath.Join(f.dir, "audit", "checkpoint"))
	if err != nil || !bytes.Equal(mirror, sc.Note) {
		t.Errorf("mirror = %q, %v; want %q", mirror, err, sc.Note)
	}

	// Every entry has a proof that checks against the checkpoint.
	for i := range int64(37) {
		line, _, err := l.Proof(ctx, i)
		if err != nil {
			t.Fatalf("Proof(%d): %v", i, err)
		}
		if err := audit.VerifyExportLine(line, c); err != nil {
			t.Fatalf("proof of %d: %v", i, err)
		}
	}
	if _, _, err := l.Proof(ctx, 37); err == nil {
		t.Error("Proof past the checkpoint succeeded")
	}

	// A later checkpoint is consistent with the earlier one.
	f.append(t, 20)
	next, err := l.Sign(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if next.Size != 37 {
		t.Errorf("Sign before CatchUp signed size %d, want 37", next.Size)
	}
	if _, err := l.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	next, err = l.Sign(ctx)
	if err != nil || next.Size != 57 {
		t.Fatalf("Sign = %d, %v; want 57", next.Size, err)
	}
	c2, err := audit.ParseCheckpoint(next.Note, f.key.Verifier)
	if err != nil {
		t.Fatal(err)
	}
	p, err := l.Consistency(ctx, 37, 57)
	if err != nil {
		t.Fatal(err)
	}
	if err := audit.CheckConsistency(p, 37, c.Root, 57, c2.Root); err != nil {
		t.Error(err)
	}
	rep, err := auditlog.VerifyStore(ctx, f.store, f.key.Verifier, nil, nil)
	if err != nil || rep.Entries != 57 || rep.Checkpoints != 2 {
		t.Errorf("VerifyStore = %+v, %v", rep, err)
	}
}

func TestConcurrentBuilders(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 3 {
		l := f.log()
		wg.Go(func() {
			for range 20 {
				if _, err := l.CatchUp(ctx); err != nil {
					t.Error(err)
				}
			}
		})
	}
	f.append(t, 200)
	wg.Wait()
	if _, err := f.log().CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := auditlog.VerifyStore(ctx, f.store, f.key.Verifier,
		nil, nil); err != nil {
		t.Errorf("VerifyStore after racing builders: %v", err)
	}
}

// A log more than one extension behind is caught up in several
// transactions, each starting where the last ended.
func TestCatchUpInSeveralExtensions(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.append(t, 700)
	l := f.log()
	size, err := l.CatchUp(ctx)
	if err != nil || size != 700 {
		t.Fatalf("CatchUp = %d, %v; want 700", size, err)
	}
	if _, err := l.Sign(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := auditlog.VerifyStore(ctx, f.store, f.key.Verifier, nil, nil)
	if err != nil || rep.Entries != 700 {
		t.Fatalf("VerifyStore = %+v, %v", rep, err)
	}
}

// One log building round after round keeps the hashes it met in memory,
// and starts again once it holds too many: the tree stays right all along.
func TestCatchUpRoundAfterRound(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	l := f.log()
	for round := 1; round <= 12; round++ {
		f.append(t, 301)
		size, err := l.CatchUp(ctx)
		if err != nil || size != int64(301*round) {
			t.Fatalf("round %d: CatchUp = %d, %v", round, size, err)
		}
	}
	if _, err := l.Sign(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := auditlog.VerifyStore(ctx, f.store, f.key.Verifier, nil, nil)
	if err != nil || rep.Entries != 12*301 {
		t.Fatalf("VerifyStore = %+v, %v", rep, err)
	}
}

func TestStartRefusesRollback(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.append(t, 5)
	if err := f.log().Start(ctx); err != nil {
		t.Fatal(err)
	}
	// A checkpoint published for a larger log than the store holds.
	other := newFixture(t)
	other.append(t, 9)
	l := auditlog.New(auditlog.Config{Tree: other.store, Key: f.key})
	if _, err := l.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := l.Sign(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mirror := filepath.Join(f.dir, "audit", auditlog.MirrorFile)
	if err := os.WriteFile(mirror, c.Note, 0o644); err != nil {
		t.Fatal(err)
	}
	err = f.log().Start(ctx)
	if err == nil || !strings.Contains(err.Error(), "rolled back") {
		t.Errorf("Start = %v, want a rollback error", err)
	}
}

func TestOpenKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "audit")
	k, err := auditlog.OpenKey(dir, origin)
	if err != nil {
		t.Fatal(err)
	}
	again, err := auditlog.OpenKey(dir, origin)
	if err != nil || again.Public != k.Public {
		t.Fatalf("reopened key %v, %v; want the same key", again, err)
	}
	fi, err := os.Stat(filepath.Join(dir, auditlog.SignerFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, %v; want 0600", fi.Mode(), err)
	}
	if _, err := auditlog.OpenKey(dir, "agentmint/other"); err == nil {
		t.Error("OpenKey with another origin succeeded")
	}
	os.Remove(filepath.Join(dir, auditlog.VerifierFile))
	if _, err := auditlog.OpenKey(dir, origin); err == nil {
		t.Error("OpenKey without the public key succeeded (regenerated?)")
	}
}

// BenchmarkCatchUp measures the tree's cost per entry, paid after the
// commit by the builder, in batches of 256 entries.
func BenchmarkCatchUp(b *testing.B) {
	dir := b.TempDir()
	s, err := sqlite.Open(filepath.Join(dir, "b.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	k, err := auditlog.OpenKey(filepath.Join(dir, "audit"), origin)
	if err != nil {
		b.Fatal(err)
	}
	l := auditlog.New(auditlog.Config{Tree: s, Key: k})
	ctx := context.Background()
	const batch = 256
	var entries int
	for b.Loop() {
		b.StopTimer()
		for range batch {
			if _, err := s.Append(ctx, audit.Entry{Time: time.Now(),
				Event: audit.EventVerified, JTI: "j", Sub: "s",
				Action: "a"}); err != nil {
				b.Fatal(err)
			}
		}
		entries += batch
		b.StartTimer()
		if _, err := l.CatchUp(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(entries),
		"ns/entry")
}
