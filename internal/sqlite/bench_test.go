package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentmint/agentmint/internal/audit"
	"github.com/agentmint/agentmint/internal/ledger"
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

// BenchmarkConsumeParallel measures whole verifications' ledger writes,
// the consume and its audit entry, committed durably in groups.
func BenchmarkConsumeParallel(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "b.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var n atomic.Int64
	now := time.Now()
	b.SetParallelism(32)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			jti := fmt.Sprintf("%016d", n.Add(1))
			_, err := s.Consume(context.Background(), ledger.Consumption{
				JTI: jti, Until: now.Add(time.Minute),
				Entry: audit.Entry{Time: now, Event: audit.EventVerified,
					JTI: jti, Sub: "alice@company.com", Action: "deploy:prod"},
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}
