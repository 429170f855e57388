package postgres

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/agentmint/agentmint/internal/ledger"
	"github.com/agentmint/agentmint/internal/ledger/ledgertest"
	"github.com/agentmint/agentmint/internal/postgres/pgtest"
)

func mustOpen(t *testing.T, u string, o Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), u, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	pgtest.Server(t)
	for _, batch := range []int{1, 256} {
		t.Run(fmt.Sprintf("batch-%d", batch), func(t *testing.T) {
			ledgertest.Run(t, func(t *testing.T) ledgertest.Opener {
				u := pgtest.FreshDatabase(t)
				return func(t *testing.T) ledger.Store {
					return mustOpen(t, u, Options{MaxBatch: batch})
				}
			})
		})
	}
}

// TestConcurrentMigrations starts several stores on one new database at
// once: each migration is applied exactly once and all of them work.
func TestConcurrentMigrations(t *testing.T) {
	u := pgtest.FreshDatabase(t)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			s, err := Open(context.Background(), u, Options{})
			if err == nil {
				s.Close()
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Errorf("concurrent Open: %v", err)
		}
	}
}

func TestUnreachableFailsFast(t *testing.T) {
	start := time.Now()
	_, err := Open(context.Background(), "postgres://nobody@127.0.0.1:1/none",
		Options{Timeout: time.Second})
	if err == nil {
		t.Fatal("Open succeeded against a closed port")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Open took %v to fail", d)
	}
	if strings.Contains(err.Error(), "nobody@") {
		t.Errorf("error echoes the url: %v", err)
	}
}
