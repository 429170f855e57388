package sqlite

import (
	"path/filepath"
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
