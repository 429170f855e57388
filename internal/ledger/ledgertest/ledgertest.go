// Package ledgertest is the conformance suite of ledger.Store: every backend
// runs it, so that SQLite and PostgreSQL keep the same promises.
package ledgertest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/agentmint/agentmint/internal/audit"
	"github.com/agentmint/agentmint/internal/ledger"
)

// Opener opens a store for a test. Called twice with the same t, it must
// open the same underlying database (for the reopen test); the store it
// returns is closed by the suite.
type Opener func(t *testing.T) ledger.Store

// Fresh returns an Opener for a new, empty database, per test.
type Fresh func(t *testing.T) Opener

// Run runs every conformance test against the backend.
func Run(t *testing.T, fresh Fresh) {
	tests := []struct {
		name string
		fn   func(*testing.T, Opener)
	}{
		{"ConsumeOnce", testConsumeOnce},
		{"ConcurrentConsumeOneWinner", testConcurrentConsume},
		{"ContiguousIndices", testContiguousIndices},
		{"AppendAndFilter", testAppendAndFilter},
		{"AppendAfterOncePerChange", testAppendAfter},
		{"Paging", testPaging},
		{"PruneOnlyExpired", testPrune},
		{"SurvivesReopen", testReopen},
		{"ClosedFailsClosed", testClosed},
		{"Callers", testCallers},
		{"Minter", testMinter},
		{"TreeExtend", testTreeExtend},
		{"TreeCheckpoints", testTreeCheckpoints},
		{"TreeSurvivesReopen", testTreeReopen},
		{"PasskeyTakeChallengeOnce", testPasskeyTakeChallengeOnce},
		{"PasskeyCredentials", testPasskeyCredentials},
		{"PasskeyLockoutAndPrune", testPasskeyLockoutAndPrune},
		{"PasskeyLockoutConcurrent", testPasskeyLockoutConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, fresh(t)) })
	}
}

var t0 = time.Date(2026, 12, 3, 10, 3, 0, 0, time.UTC)

func consumption(jti string, at time.Time) ledger.Consumption {
	return ledger.Consumption{
		JTI:   jti,
		Until: at.Add(65 * time.Second),
		Entry: audit.Entry{
			Time: at, Event: audit.EventVerified, JTI: jti,
			Sub: "alice@company.com", Action: "refund:order:123:amount:50",
		},
	}
}

func mustConsume(t *testing.T, s ledger.Store, c ledger.Consumption) audit.Entry {
	t.Helper()
	e, err := s.Consume(context.Background(), c)
	if err != nil {
		t.Fatalf("Consume(%s) = %v", c.JTI, err)
	}
	return e
}

func testConsumeOnce(t *testing.T, open Opener) {
	s := open(t)
	ctx := context.Background()
	e := mustConsume(t, s, consumption("jti-1", t0))
	if e.Index != 0 || e.JTI != "jti-1" || !e.Time.Equal(t0) {
		t.Errorf("first entry = %+v, want index 0, jti-1 at %v", e, t0)
	}
	// The same token a second later: the same jti and Until (they come
	// from the signed token), a later entry.
	replay := consumption("jti-1", t0)
	replay.Entry.Time = t0.Add(time.Second)
	_, err := s.Consume(ctx, replay)
	if !errors.Is(err, ledger.ErrAlreadyUsed) {
		t.Fatalf("second Consume = %v, want ErrAlreadyUsed", err)
	}
	es, err := s.Entries(ctx, ledger.Filter{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 {
		t.Errorf("replay wrote an entry: have %d entries, want 1", len(es))
	}
}

func testConcurrentConsume(t *testing.T, open Opener) {
	s := open(t)
	const tokens, tries = 8, 16
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := map[string]int{}
	used := 0
	for i := range tokens * tries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			jti := fmt.Sprintf("jti-%d", i%tokens)
			_, err := s.Consume(context.Background(), consumption(jti, t0))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won[jti]++
			case errors.Is(err, ledger.ErrAlreadyUsed):
				used++
			default:
				t.Errorf("Consume(%s) = %v", jti, err)
			}
		}()
	}
	wg.Wait()
	for i := range tokens {
		if n := won[fmt.Sprintf("jti-%d", i)]; n != 1 {
			t.Errorf("jti-%d consumed %d times, want 1", i, n)
		}
	}
	if used != tokens*(tries-1) {
		t.Errorf("%d replays refused, want %d", used, tokens*(tries-1))
	}
	checkContiguous(t, s, tokens)
}

func testContiguousIndices(t *testing.T, open Opener) {
	s := open(t)
	ctx := context.Background()
	for i := range 10 {
		c := consumption(fmt.Sprintf("jti-%d", i), t0)
		mustConsume(t, s, c)
		// A replay between consumes must not leave a hole.
		if _, err := s.Consume(ctx, c); !errors.Is(err, ledger.ErrAlreadyUsed) {
			t.Fatalf("replay = %v", err)
		}
		e, err := s.Append(ctx, audit.Entry{Time: t0, Event: audit.EventMinted, JTI: "m"})
		if err != nil {
			t.Fatal(err)
		}
		if e.Index != int64(2*i+1) {
			t.Fatalf("Append index = %d, want %d", e.Index, 2*i+1)
		}
	}
	checkContiguous(t, s, 20)
}

// checkContiguous asserts that the log holds exactly n entries indexed
// 0..n-1.
func checkContiguous(t *testing.T, s ledger.Store, n int) {
	t.Helper()
	es, err := s.Entries(context.Background(), ledger.Filter{Limit: n + 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != n {
		t.Fatalf("log holds %d entries, want %d", len(es), n)
	}
	for i, e := range es {
		if want := int64(n - 1 - i); e.Index != want {
			t.Fatalf("entry %d has index %d, want %d (newest first, no gaps)", i, e.Index, want)
		}
	}
}

func testAppendAndFilter(t *testing.T, open Opener) {
	s := open(t)
	ctx := context.Background()
	mustConsume(t, s, consumption("a", t0))
	rej := audit.Entry{
		Time: t0.Add(time.Second), Event: audit.EventRejected, JTI: "b",
		Sub: "bob", Action: "export:users:csv", Reason: audit.ReasonExpired,
		Caller: "backend", Aud: "api.example",
		Evidence: []byte(`{"k":"v"}`),
	}
	got, err := s.Append(ctx, rej)
	if err != nil {
		t.Fatal(err)
	}
	rej.Index = 1
	rej.Time = audit.Timestamp(rej.Time)
	es, err := s.Entries(ctx, ledger.Filter{Event: string(audit.EventRejected), Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || !sameEntry(es[0], rej) || !sameEntry(got, rej) {
		t.Fatalf("rejected entries = %+v, Append returned %+v, want %+v", es, got, rej)
	}
	for _, f := range []ledger.Filter{
		{Sub: "bob", Limit: 5},
		{Action: "export:users:csv", Limit: 5},
		{Since: t0.Add(time.Second), Limit: 5},
	} {
		es, err := s.Entries(ctx, f)
		if err != nil || len(es) != 1 || es[0].JTI != "b" {
			t.Errorf("Entries(%+v) = %+v, %v; want only b", f, es, err)
		}
	}
	es, err = s.Entries(ctx, ledger.Filter{Until: t0.Add(time.Second), Limit: 5})
	if err != nil || len(es) != 1 || es[0].JTI != "a" {
		t.Errorf("Entries(until) = %+v, %v; want only a", es, err)
	}
}

func sameEntry(a, b audit.Entry) bool {
	return a.Index == b.Index && a.Time.Equal(b.Time) && a.Event == b.Event &&
		a.JTI == b.JTI && a.Sub == b.Sub && a.Action == b.Action &&
		a.Aud == b.Aud && a.Caller == b.Caller && a.Reason == b.Reason &&
		string(a.Evidence) == string(b.Evidence)
}

func testPaging(t *testing.T, open Opener) {
	s := open(t)
	for i := range 7 {
		mustConsume(t, s, consumption(fmt.Sprintf("jti-%d", i), t0))
	}
	var seen []int64
	f := ledger.Filter{Limit: 3}
	for {
		es, err := s.Entries(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) == 0 {
			break
		}
		for _, e := range es {
			seen = append(seen, e.Index)
		}
		f.Before = es[len(es)-1].Index
		if f.Before == 0 {
			break
		}
	}
	if fmt.Sprint(seen) != "[6 5 4 3 2 1 0]" {
		t.Errorf("paged indices = %v, want 6 down to 0", seen)
	}
}

func testPrune(t *testing.T, open Opener) {
	s := open(t)
	ctx := context.Background()
	old := consumption("old", t0)
	fresh := consumption("fresh", t0.Add(10*time.Minute))
	mustConsume(t, s, old)
	mustConsume(t, s, fresh)

	// Before old.Until + PruneMargin nothing may go.
	n, err := s.Prune(ctx, old.Until.Add(ledger.PruneMargin-time.Second))
	if err != nil || n != 0 {
		t.Fatalf("early Prune = %d, %v; want 0", n, err)
	}
	n, err = s.Prune(ctx, old.Until.Add(ledger.PruneMargin+time.Second))
	if err != nil || n != 1 {
		t.Fatalf("Prune = %d, %v; want 1", n, err)
	}
	// The fresh jti is still refused; the audit log is untouched.
	if _, err := s.Consume(ctx, fresh); !errors.Is(err, ledger.ErrAlreadyUsed) {
		t.Errorf("fresh jti after prune: %v, want ErrAlreadyUsed", err)
	}
	checkContiguous(t, s, 2)
}

func testReopen(t *testing.T, open Opener) {
	s := open(t)
	mustConsume(t, s, consumption("kept", t0))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t)
	_, err := s.Consume(context.Background(), consumption("kept", t0))
	if !errors.Is(err, ledger.ErrAlreadyUsed) {
		t.Fatalf("Consume after reopen = %v, want ErrAlreadyUsed", err)
	}
	e := mustConsume(t, s, consumption("next", t0))
	if e.Index != 1 {
		t.Errorf("index after reopen = %d, want 1", e.Index)
	}
}

func testClosed(t *testing.T, open Opener) {
	s := open(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := s.Consume(context.Background(), consumption("late", t0))
	if err == nil {
		t.Fatal("Consume on a closed store succeeded")
	}
	if s.Ping(context.Background()) == nil {
		t.Error("Ping on a closed store succeeded")
	}
}

// rotation makes the key_rotated entry for kid after last, or nothing if
// last already names kid, as the server does at every start.
func rotation(kid string) func(last *audit.Entry) (audit.Entry, bool) {
	return func(last *audit.Entry) (audit.Entry, bool) {
		ev := `{"kid":"` + kid + `"}`
		if last != nil && string(last.Evidence) == ev {
			return audit.Entry{}, false
		}
		return audit.Entry{Time: t0, Event: audit.EventKeyRotated,
			Evidence: []byte(ev)}, true
	}
}

func testAppendAfter(t *testing.T, open Opener) {
	// Two stores on one database, as two replicas (or a server and the
	// CLI) starting at once.
	a, b := open(t), open(t)
	ctx := context.Background()
	mustConsume(t, a, consumption("jti-1", t0))

	var wg sync.WaitGroup
	var appended sync.Map
	for i := range 8 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			ok, err := s.AppendAfter(ctx, audit.EventKeyRotated, rotation("k1"))
			if err != nil {
				t.Errorf("AppendAfter: %v", err)
			}
			appended.Store(i, ok)
		})
	}
	wg.Wait()
	n := 0
	appended.Range(func(_, ok any) bool {
		if ok.(bool) {
			n++
		}
		return true
	})
	if n != 1 {
		t.Errorf("%d of 8 racing AppendAfter calls appended; want exactly 1", n)
	}

	// The next key is appended once more, after the first, and the entry
	// next saw was the newest of its event, not another event's.
	var saw *audit.Entry
	ok, err := b.AppendAfter(ctx, audit.EventKeyRotated,
		func(last *audit.Entry) (audit.Entry, bool) {
			saw = last
			return rotation("k2")(last)
		})
	if err != nil || !ok {
		t.Fatalf("AppendAfter(k2) = %v, %v; want appended", ok, err)
	}
	if saw == nil || saw.Event != audit.EventKeyRotated || saw.Index != 1 {
		t.Errorf("next saw %+v; want the key_rotated entry at index 1", saw)
	}
	es, err := a.Entries(ctx, ledger.Filter{Event: string(audit.EventKeyRotated), Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 || string(es[0].Evidence) != `{"kid":"k2"}` {
		t.Errorf("key_rotated entries = %+v; want k2 after k1", es)
	}
	checkContiguous(t, a, 3)
}
