package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/agentmint/agentmint/internal/audit"
	"github.com/agentmint/agentmint/internal/ledger"
	"github.com/agentmint/agentmint/internal/passkey"
)

func openPasskeys(t *testing.T) (*Store, passkey.Store) {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "ledger.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, s.Passkeys()
}

func TestPasskeyTakeChallengeOnce(t *testing.T) {
	ctx := context.Background()
	_, p := openPasskeys(t)
	c := passkey.Challenge{Value: []byte("challenge-1"), UserID: "alice",
		Kind: passkey.KindApprove, Session: []byte("{}"), Request: []byte("{}"),
		Expires: time.Now().Add(time.Minute)}
	if err := p.PutChallenge(ctx, c); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := 0
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ch, err := p.TakeChallenge(ctx, c.Value)
			if err == nil && ch.UserID == "alice" && ch.Kind == passkey.KindApprove {
				mu.Lock()
				got++
				mu.Unlock()
			} else if !errors.Is(err, passkey.ErrNotFound) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got != 1 {
		t.Errorf("%d takers got the challenge, want 1", got)
	}
}

func TestPasskeyCredentials(t *testing.T) {
	ctx := context.Background()
	s, p := openPasskeys(t)
	now := time.Now().UTC()
	u, err := p.CreateUser(ctx, passkey.User{ID: "alice", Handle: []byte("h1"), Name: "Alice", Created: now})
	if err != nil {
		t.Fatal(err)
	}
	// A second create keeps the first handle.
	if u2, _ := p.CreateUser(ctx, passkey.User{ID: "alice", Handle: []byte("h2"), Name: "x", Created: now}); string(u2.Handle) != "h1" {
		t.Errorf("second CreateUser changed the handle to %q", u2.Handle)
	}
	c := passkey.Credential{ID: []byte("cred"), UserID: u.ID, PublicKey: []byte("key"),
		SignCount: 3, BackupEligible: true, Transports: []string{"internal", "hybrid"}, Created: now}
	entry := audit.Entry{Time: now, Event: audit.EventPasskeyRegistered, Sub: "alice"}
	if err := p.AddCredential(ctx, c, entry); err != nil {
		t.Fatal(err)
	}
	if err := p.AddCredential(ctx, c, entry); !errors.Is(err, passkey.ErrExists) {
		t.Errorf("adding it twice: %v", err)
	}
	es, _ := s.Entries(ctx, ledger.Filter{Event: string(audit.EventPasskeyRegistered), Limit: 10})
	if len(es) != 1 {
		t.Errorf("%d registration entries, want 1: a refused add must write none", len(es))
	}

	// The counter is stored only over the value read.
	c.SignCount = 4
	if err := p.UpdateCredential(ctx, c, 3); err != nil {
		t.Fatal(err)
	}
	c.SignCount = 5
	if err := p.UpdateCredential(ctx, c, 3); !errors.Is(err, passkey.ErrConflict) {
		t.Errorf("update over a stale counter: %v", err)
	}
	cs, err := p.Credentials(ctx, "alice")
	if err != nil || len(cs) != 1 || cs[0].SignCount != 4 || !cs[0].BackupEligible ||
		len(cs[0].Transports) != 2 {
		t.Errorf("Credentials = %+v, %v", cs, err)
	}
}

func TestPasskeyLockoutAndPrune(t *testing.T) {
	ctx := context.Background()
	_, p := openPasskeys(t)
	now := time.Now().UTC().Truncate(time.Microsecond)
	l, err := p.UpdateLockout(ctx, "alice", func(l passkey.Lockout) passkey.Lockout {
		l.Failures++
		l.WindowStart = now
		return l
	})
	if err != nil || l.Failures != 1 {
		t.Fatalf("UpdateLockout = %+v, %v", l, err)
	}
	got, err := p.Lockout(ctx, "alice")
	if err != nil || got.Failures != 1 || !got.WindowStart.Equal(now) {
		t.Errorf("Lockout = %+v, %v", got, err)
	}
	p.PutChallenge(ctx, passkey.Challenge{Value: []byte("old"), UserID: "a",
		Kind: passkey.KindRegister, Session: []byte("{}"), Expires: now.Add(-time.Second)})
	n, err := p.PruneChallenges(ctx, now.Add(passkey.FailureWindow))
	if err != nil || n != 2 {
		t.Errorf("PruneChallenges = %d, %v; want the challenge and the stale lockout", n, err)
	}
	if _, err := p.TakeChallenge(ctx, []byte("old")); !errors.Is(err, passkey.ErrNotFound) {
		t.Errorf("pruned challenge: %v", err)
	}
}
