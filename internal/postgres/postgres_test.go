package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentmint/agentmint/internal/audit"
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

// TestOppositeOrderNoDeadlock presents the same jtis to two stores on one
// database in opposite orders, so that their batches overlap: every jti is
// consumed exactly once and no batch fails (a deadlock between the two
// would fail whole batches with ErrUnavailable).
func TestOppositeOrderNoDeadlock(t *testing.T) {
	u := pgtest.FreshDatabase(t)
	a, b := mustOpen(t, u, Options{}), mustOpen(t, u, Options{})
	ctx := context.Background()
	until := time.Now().Add(time.Minute)
	for round := range 10 {
		const n = 40
		var wg sync.WaitGroup
		var mu sync.Mutex
		won, failed := map[string]int{}, 0
		present := func(s *Store, jti string) {
			defer wg.Done()
			_, err := s.Consume(ctx, ledger.Consumption{JTI: jti, Until: until,
				Entry: audit.Entry{Time: time.Now(), Event: audit.EventVerified, JTI: jti}})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won[jti]++
			case !errors.Is(err, ledger.ErrAlreadyUsed):
				failed++
			}
		}
		for i := range n {
			wg.Add(2)
			go present(a, fmt.Sprintf("r%d-%02d", round, i))
			go present(b, fmt.Sprintf("r%d-%02d", round, n-1-i))
		}
		wg.Wait()
		if failed != 0 || len(won) != n {
			t.Fatalf("round %d: %d failures, %d of %d jtis consumed", round, failed, len(won), n)
		}
		for j, c := range won {
			if c != 1 {
				t.Fatalf("%s consumed %d times", j, c)
			}
		}
	}
}
