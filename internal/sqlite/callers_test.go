package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/agentmint/agentmint/internal/callers"
)

func mustOpen(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkCallerByKey measures the lookup every authenticated request
// makes.
func BenchmarkCallerByKey(b *testing.B) {
	ctx := context.Background()
	s, err := Open(filepath.Join(b.TempDir(), "ledger.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	_, hash, _ := callers.NewKey()
	if err := s.AddCaller(ctx, callers.Caller{Name: "ci", Role: callers.RoleMinter,
		KeyHash: hash, Created: time.Now()}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.CallerByKey(ctx, hash); err != nil {
			b.Fatal(err)
		}
	}
}
