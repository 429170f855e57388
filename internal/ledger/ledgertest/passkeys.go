package ledgertest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/agentmint/agentmint/internal/audit"
	"github.com/agentmint/agentmint/internal/ledger"
	"github.com/agentmint/agentmint/internal/passkey"
)

// passkeyBackend is a backend that keeps passkeys too.
type passkeyBackend interface {
	Passkeys() passkey.Store
}

// mustPasskeys returns the passkey store of s: every backend keeps them.
func mustPasskeys(t *testing.T, s ledger.Store) passkey.Store {
	t.Helper()
	pb, ok := s.(passkeyBackend)
	if !ok {
		t.Fatalf("%T does not keep passkeys", s)
	}
	return pb.Passkeys()
}

// testPasskeyTakeChallengeOnce takes one challenge from 20 goroutines on
// two stores of one database, as two replicas would: exactly one gets it.
func testPasskeyTakeChallengeOnce(t *testing.T, open Opener) {
	ctx := context.Background()
	stores := []passkey.Store{mustPasskeys(t, open(t)), mustPasskeys(t, open(t))}
	c := passkey.Challenge{Value: []byte("challenge-1"), UserID: "alice",
		Kind: passkey.KindApprove, Session: []byte("{}"), Request: []byte(`{"a":1}`),
		Expires: t0.Add(time.Minute)}
	if err := stores[0].PutChallenge(ctx, c); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var got []passkey.Challenge
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ch, err := stores[i%2].TakeChallenge(ctx, c.Value)
			switch {
			case err == nil:
				mu.Lock()
				got = append(got, ch)
				mu.Unlock()
			case !errors.Is(err, passkey.ErrNotFound):
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if len(got) != 1 {
		t.Fatalf("%d takers got the challenge, want 1", len(got))
	}
	g := got[0]
	if g.UserID != "alice" || g.Kind != passkey.KindApprove ||
		string(g.Session) != "{}" || string(g.Request) != `{"a":1}` ||
		!g.Expires.Equal(c.Expires) {
		t.Errorf("taken challenge = %+v, want %+v", g, c)
	}
}

func testPasskeyCredentials(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	p := mustPasskeys(t, s)
	u, err := p.CreateUser(ctx, passkey.User{ID: "alice", Handle: []byte("h1"),
		Name: "Alice", Created: t0})
	if err != nil || string(u.Handle) != "h1" || u.Name != "Alice" || !u.Created.Equal(t0) {
		t.Fatalf("CreateUser = %+v, %v", u, err)
	}
	// A second create keeps the first handle.
	u2, err := p.CreateUser(ctx, passkey.User{ID: "alice", Handle: []byte("h2"),
		Name: "x", Created: t0})
	if err != nil || string(u2.Handle) != "h1" {
		t.Errorf("second CreateUser = %+v, %v; want the first handle kept", u2, err)
	}
	if _, err := p.User(ctx, "bob"); !errors.Is(err, passkey.ErrNotFound) {
		t.Errorf("User(bob) = %v, want ErrNotFound", err)
	}

	c := passkey.Credential{ID: []byte("cred"), UserID: u.ID, PublicKey: []byte("key"),
		SignCount: 3, BackupEligible: true, AAGUID: make([]byte, 16),
		AttestationFormat: "none", Transports: []string{"internal", "hybrid"}, Created: t0}
	entry := audit.Entry{Time: t0, Event: audit.EventPasskeyRegistered, Sub: "alice"}
	if err := p.AddCredential(ctx, c, entry); err != nil {
		t.Fatal(err)
	}
	if err := p.AddCredential(ctx, c, entry); !errors.Is(err, passkey.ErrExists) {
		t.Errorf("adding it twice: %v, want ErrExists", err)
	}
	es, err := s.Entries(ctx, ledger.Filter{Event: string(audit.EventPasskeyRegistered), Limit: 10})
	if err != nil || len(es) != 1 || es[0].Sub != "alice" || !es[0].Time.Equal(t0) {
		t.Errorf("registration entries %+v, %v: want one; a refused add writes none", es, err)
	}

	// The counter is stored only over the value read.
	c.SignCount, c.BackupState, c.LastUsed = 4, true, t0.Add(time.Minute)
	if err := p.UpdateCredential(ctx, c, 3); err != nil {
		t.Fatal(err)
	}
	c.SignCount = 5
	if err := p.UpdateCredential(ctx, c, 3); !errors.Is(err, passkey.ErrConflict) {
		t.Errorf("update over a stale counter: %v, want ErrConflict", err)
	}
	cs, err := p.Credentials(ctx, "alice")
	if err != nil || len(cs) != 1 {
		t.Fatalf("Credentials = %+v, %v", cs, err)
	}
	g := cs[0]
	if string(g.ID) != "cred" || g.UserID != "alice" || string(g.PublicKey) != "key" ||
		g.SignCount != 4 || !g.BackupEligible || !g.BackupState || len(g.AAGUID) != 16 ||
		g.AttestationFormat != "none" || len(g.Transports) != 2 ||
		g.Transports[1] != "hybrid" || !g.Created.Equal(t0) || !g.LastUsed.Equal(c.LastUsed) {
		t.Errorf("stored credential = %+v", g)
	}
	if cs, err := p.Credentials(ctx, "bob"); err != nil || len(cs) != 0 {
		t.Errorf("Credentials(bob) = %+v, %v; want none", cs, err)
	}
}

func testPasskeyLockoutAndPrune(t *testing.T, open Opener) {
	ctx := context.Background()
	p := mustPasskeys(t, open(t))
	now := t0
	l, err := p.UpdateLockout(ctx, "alice", func(l passkey.Lockout) passkey.Lockout {
		l.Failures++
		l.WindowStart = now
		return l
	})
	if err != nil || l.Failures != 1 {
		t.Fatalf("UpdateLockout = %+v, %v", l, err)
	}
	got, err := p.Lockout(ctx, "alice")
	if err != nil || got.Failures != 1 || !got.WindowStart.Equal(now) || !got.LockedUntil.IsZero() {
		t.Errorf("Lockout = %+v, %v", got, err)
	}
	if got, err := p.Lockout(ctx, "bob"); err != nil || got != (passkey.Lockout{}) {
		t.Errorf("Lockout(bob) = %+v, %v; want zero", got, err)
	}

	p.PutChallenge(ctx, passkey.Challenge{Value: []byte("old"), UserID: "a",
		Kind: passkey.KindRegister, Session: []byte("{}"), Expires: now.Add(-time.Second)})
	p.PutChallenge(ctx, passkey.Challenge{Value: []byte("new"), UserID: "a",
		Kind: passkey.KindRegister, Session: []byte("{}"), Expires: now.Add(time.Hour)})
	n, err := p.PruneChallenges(ctx, now.Add(passkey.FailureWindow))
	if err != nil || n != 2 {
		t.Errorf("PruneChallenges = %d, %v; want the challenge and the stale lockout", n, err)
	}
	if _, err := p.TakeChallenge(ctx, []byte("old")); !errors.Is(err, passkey.ErrNotFound) {
		t.Errorf("pruned challenge: %v", err)
	}
	if _, err := p.TakeChallenge(ctx, []byte("new")); err != nil {
		t.Errorf("unexpired challenge: %v", err)
	}

	// A zero record is deleted, not kept.
	p.UpdateLockout(ctx, "carol", func(passkey.Lockout) passkey.Lockout {
		return passkey.Lockout{Failures: 1, WindowStart: now}
	})
	l, err = p.UpdateLockout(ctx, "carol", func(passkey.Lockout) passkey.Lockout {
		return passkey.Lockout{}
	})
	if err != nil || l != (passkey.Lockout{}) {
		t.Fatalf("clearing UpdateLockout = %+v, %v", l, err)
	}
	if n, err := p.PruneChallenges(ctx, now.Add(24*time.Hour)); err != nil || n != 0 {
		t.Errorf("PruneChallenges after clearing = %d, %v; want nothing left", n, err)
	}
}

// testPasskeyLockoutConcurrent counts 10 failures recorded at once
// through two stores of one database, as two replicas would: none is lost.
func testPasskeyLockoutConcurrent(t *testing.T, open Opener) {
	ctx := context.Background()
	stores := []passkey.Store{mustPasskeys(t, open(t)), mustPasskeys(t, open(t))}
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := stores[i%2].UpdateLockout(ctx, "alice",
				func(l passkey.Lockout) passkey.Lockout {
					l.Failures++
					l.WindowStart = t0
					return l
				})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for i, p := range stores {
		if l, err := p.Lockout(ctx, "alice"); err != nil || l.Failures != 10 {
			t.Errorf("store %d: Lockout = %+v, %v; want 10 failures", i, l, err)
		}
	}
}
