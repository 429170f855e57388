package ledgertest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/agentmint/agentmint/internal/audit"
	"github.com/agentmint/agentmint/internal/callers"
	"github.com/agentmint/agentmint/internal/ledger"
)

// callerStore is a backend that keeps the API callers too.
type callerStore interface {
	ledger.Store
	callers.Store
}

// mustCallers returns s as a callerStore: every backend keeps callers.
func mustCallers(t *testing.T, s ledger.Store) callerStore {
	t.Helper()
	cs, ok := s.(callerStore)
	if !ok {
		t.Fatalf("%T does not implement callers.Store", s)
	}
	return cs
}

func testCallers(t *testing.T, open Opener) {
	ctx := context.Background()
	// server and cli are two stores on one database, as `agentmint serve`
	// and `agentmint callers` are two processes.
	server, cli := mustCallers(t, open(t)), mustCallers(t, open(t))
	now := time.Unix(1767225600, 0).UTC()

	if has, err := server.HasCallers(ctx); err != nil || has {
		t.Fatalf("HasCallers on an empty store = %v, %v", has, err)
	}
	key, hash, err := callers.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	c := callers.Caller{Name: "ci", Role: callers.RoleMinter, KeyHash: hash, Created: now}
	if err := cli.AddCaller(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := cli.AddCaller(ctx, c); !errors.Is(err, callers.ErrExists) {
		t.Fatalf("second AddCaller: %v, want ErrExists", err)
	}

	// The server sees the CLI's caller at once.
	got, err := server.CallerByKey(ctx, callers.HashKey(key))
	if err != nil || got.Name != "ci" || got.Role != callers.RoleMinter || !got.Active() {
		t.Fatalf("CallerByKey = %+v, %v", got, err)
	}
	if _, err := server.CallerByKey(ctx, callers.HashKey(key+"x")); !errors.Is(err, callers.ErrNotFound) {
		t.Fatalf("unknown key: %v, want ErrNotFound", err)
	}

	// A revocation by the CLI is seen by the server's next lookup.
	if err := cli.RevokeCaller(ctx, "ci", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	got, err = server.CallerByKey(ctx, hash)
	if err != nil || got.Active() {
		t.Fatalf("after revoke: %+v, %v; want a revoked caller", got, err)
	}
	if err := cli.RevokeCaller(ctx, "ci", now); !errors.Is(err, callers.ErrRevoked) {
		t.Fatalf("second revoke: %v, want ErrRevoked", err)
	}
	if err := cli.RevokeCaller(ctx, "nobody", now); !errors.Is(err, callers.ErrNotFound) {
		t.Fatalf("revoke unknown: %v, want ErrNotFound", err)
	}
	if has, err := server.HasCallers(ctx); err != nil || !has {
		t.Fatalf("HasCallers with a revoked caller = %v, %v; want true", has, err)
	}
	list, err := server.Callers(ctx)
	if err != nil || len(list) != 1 || list[0].Revoked.IsZero() {
		t.Fatalf("Callers = %+v, %v", list, err)
	}

	// Both changes are in the audit log, contiguous with the server's own
	// entries.
	if _, err := server.Append(ctx, audit.Entry{Time: now, Event: audit.EventMinted}); err != nil {
		t.Fatal(err)
	}
	es, err := server.Entries(ctx, ledger.Filter{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	want := []audit.Event{audit.EventMinted, audit.EventCallerRevoked, audit.EventCallerAdded}
	if len(es) != len(want) {
		t.Fatalf("%d entries, want %d", len(es), len(want))
	}
	for i, e := range es {
		if e.Event != want[i] || e.Index != int64(len(want)-1-i) {
			t.Errorf("entry %d: %s at %d", i, e.Event, e.Index)
		}
	}
	if string(es[2].Evidence) != `{"role":"minter"}` || es[2].Caller != "ci" {
		t.Errorf("caller_added entry %+v", es[2])
	}
}

func testMinter(t *testing.T, open Opener) {
	ctx := context.Background()
	s := mustCallers(t, open(t))
	_, err := s.Append(ctx, audit.Entry{Time: time.Unix(1767225600, 0),
		Event: audit.EventMinted, JTI: "jti-1", Sub: "a", Action: "b", Caller: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Minter(ctx, "jti-1"); err != nil || got != "ci" {
		t.Fatalf("Minter = %q, %v", got, err)
	}
	if got, err := s.Minter(ctx, "jti-2"); err != nil || got != "" {
		t.Fatalf("Minter of an unknown jti = %q, %v; want empty", got, err)
	}
}
