package sqlite

import (
	"context"
	"errors"
	"path/filepath"
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
