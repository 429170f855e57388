package sqlite

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentmint/agentmint/internal/audit"
	"github.com/agentmint/agentmint/internal/ledger"
	"github.com/agentmint/agentmint/token"
)

// BenchmarkAuditInsert measures what the audit entry adds to a
// verification's transaction: one entry row, without the commit.
func BenchmarkAuditInsert(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "b.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback()
	e := audit.Entry{Time: time.Now(), Event: audit.EventVerified,
		JTI: "AZXyobLD-7Qx1wqYk3n0Vg", Sub: "alice@company.com",
		Action: "deploy:prod:api:v2.1.0"}
	var next int64
	var r result
	b.ReportAllocs()
	for b.Loop() {
		if err := s.insertEntry(ctx, tx, e, &r, &next); err != nil {
			b.Fatal(err)
		}
	}
}

// benchConsumers is the number of requests waiting on the ledger at once
// in the concurrent benchmarks, about what 32 to 64 connections produce.
const benchConsumers = 64

// BenchmarkConsume measures durable consumes per second, one at a time and
// from benchConsumers goroutines, with group commit and without it
// (MaxBatch 1: one fsync per consume). Every consume is a fresh,
// time-ordered jti, as the service produces them.
func BenchmarkConsume(b *testing.B) {
	for _, mode := range []struct {
		name     string
		maxBatch int
	}{{"group-commit", DefaultMaxBatch}, {"one-per-commit", 1}} {
		b.Run(mode.name+"/sequential", func(b *testing.B) {
			s := openBenchStore(b, mode.maxBatch)
			b.ResetTimer()
			for range b.N {
				benchConsume(b, s)
			}
		})
		b.Run(mode.name+"/concurrent-64", func(b *testing.B) {
			s := openBenchStore(b, mode.maxBatch)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for range benchConsumers {
				wg.Go(func() {
					for next.Add(1) <= int64(b.N) {
						benchConsume(b, s)
					}
				})
			}
			wg.Wait()
		})
	}
}

func openBenchStore(b *testing.B, maxBatch int) *Store {
	b.Helper()
	s, err := Open(filepath.Join(b.TempDir(), "ledger.db"), Options{MaxBatch: maxBatch})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

func benchConsume(b *testing.B, s *Store) {
	now := time.Now()
	jti, err := token.NewID(now)
	if err != nil {
		b.Error(err)
		return
	}
	_, err = s.Consume(context.Background(), ledger.Consumption{
		JTI: jti, Until: now.Add(65 * time.Second),
		Entry: audit.Entry{
			Time: now, Event: audit.EventVerified, JTI: jti,
			Sub: "alice@example.com", Action: "refund:order-123",
		},
	})
	if err != nil {
		b.Error(err)
	}
}
