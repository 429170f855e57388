package passkey_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/agentmint/agentmint/internal/ledger"
	"github.com/agentmint/agentmint/internal/passkey"
	"github.com/agentmint/agentmint/internal/passkey/passkeytest"
	"github.com/agentmint/agentmint/internal/sqlite"
)

// FuzzFinishApproval sends arbitrary credentials to FinishApproval, on a
// real store with a registered user and a pending approval: it must never
// panic, never approve, and answer a refusal or a store error only.
// NOTE: under the fuzzer's coverage instrumentation the SQLite driver is
// slow, so a run of a few seconds tries few inputs; the seeds run in every
// go test.
func FuzzFinishApproval(f *testing.F) {
	store, err := sqlite.Open(filepath.Join(f.TempDir(), "agentmint.db"), sqlite.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { store.Close() })
	svc, err := passkey.New(passkey.Config{
		RPID: "example.com", RPOrigin: "https://example.com", Store: store.Passkeys(),
		Audit: store, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		UserLimit: passkey.Limit{Burst: 1 << 30, Every: 1}, IPLimit: passkey.Limit{Burst: 1 << 30, Every: 1},
	})
	if err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()
	a := passkeytest.New("example.com", "https://example.com")
	opts, err := svc.BeginRegistration(ctx, "alice", "", "127.0.0.1")
	if err != nil {
		f.Fatal(err)
	}
	o, _ := passkeytest.ParseOptions([]byte(`{"publicKey":` + string(opts) + `}`))
	if _, err := svc.FinishRegistration(ctx, "alice", a.Register(o)); err != nil {
		f.Fatal(err)
	}
	// Each run answers the same pending approval: its nonce is fixed, so
	// its challenge is too, and the lockout is cleared before each run.
	req, _ := passkey.NewRequest("alice", "deploy:prod", "", nil, 60, zeros{})
	pks := store.Passkeys()
	begin := func(t testing.TB) passkeytest.Options {
		pks.TakeChallenge(ctx, req.Challenge())
		pks.UpdateLockout(ctx, "alice", func(passkey.Lockout) passkey.Lockout { return passkey.Lockout{} })
		begun, err := svc.BeginApproval(ctx, req, "127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		o, _ := passkeytest.ParseOptions([]byte(`{"publicKey":` + string(begun.Options) + `}`))
		return o
	}

	// The seed is a valid assertion with one bit of its signature
	// flipped, so that the fuzzer starts next to a valid one.
	var cred struct {
		Response map[string]string `json:"response"`
	}
	valid := a.Assert(begin(f))
	var m map[string]any
	json.Unmarshal(valid, &m)
	json.Unmarshal(valid, &cred)
	sig := []byte(cred.Response["signature"])
	sig[10] ^= 1
	cred.Response["signature"] = string(sig)
	m["response"] = cred.Response
	b, _ := json.Marshal(m)
	f.Add(b)
	f.Add([]byte(`{"id":"AA","rawId":"AA","type":"public-key","response":{}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		begin(t)
		_, err := svc.FinishApproval(ctx, "alice", b, "")
		var pf *passkey.Failure
		if err == nil {
			t.Fatalf("approved %q", b)
		}
		if !errors.As(err, &pf) && !errors.Is(err, ledger.ErrUnavailable) {
			t.Fatalf("unexpected error %v", err)
		}
	})
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
