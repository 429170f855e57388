package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/agentmint/agentmint/internal/keys"
	"github.com/google/go-cmp/cmp"
)

// mintTTL mints a token with the given lifetime.
func (s *testServer) mintTTL(t *testing.T, action string, ttl int) string {
	t.Helper()
	r := post(t, s.URL+"/mint", map[string]any{
		"sub": "alice@example.com", "action": action, "ttl_seconds": ttl,
	})
	if r.Status != 200 {
		t.Fatalf("mint: %d %s", r.Status, r.Body)
	}
	return r.JSON(t)["token"].(string)
}

// jwks fetches the published key set and checks that every key has exactly
// the public members, so that no private member can ever slip in.
func (s *testServer) jwks(t *testing.T) []string {
	t.Helper()
	r := do(t, "GET", s.URL+"/.well-known/jwks.json", "")
	if r.Status != 200 {
		t.Fatalf("jwks: %d %s", r.Status, r.Body)
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(r.Body, &set); err != nil {
		t.Fatalf("jwks: %v", err)
	}
	var kids []string
	for _, k := range set.Keys {
		var members []string
		for m := range k {
			members = append(members, m)
		}
		sort.Strings(members)
		want := []string{"alg", "crv", "kid", "kty", "use", "x"}
		if diff := cmp.Diff(want, members); diff != "" {
			t.Errorf("jwks key members (-want +got):\n%s", diff)
		}
		if _, ok := k["d"]; ok {
			t.Fatal("jwks holds a private member d")
		}
		kids = append(kids, k["kid"].(string))
	}
	return kids
}

// waitForKid waits until the server publishes kid, which it does once it
// has polled the key directory.
func (s *testServer) waitForKid(t *testing.T, kid string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, k := range s.jwks(t) {
			if k == kid {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("server did not pick up key %s", kid)
}

func tokenKid(t *testing.T, tok string) string {
	t.Helper()
	h, _, _ := strings.Cut(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	var v struct{ Kid string }
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v.Kid
}

// TestRotation rotates the key under a running server, which notices by
// polling the directory, and walks the clock through the old key's life:
// its tokens verify until they expire, and after the retirement window its
// kid is unknown and it has left the JWKS.
func TestRotation(t *testing.T) {
	clock := newFakeClock()
	s := startServer(t, serverOpts{now: clock.Now, args: []string{"--key-poll", "10ms"}})
	old := s.jwks(t)
	if len(old) != 1 {
		t.Fatalf("jwks has %d keys at start, want 1", len(old))
	}
	t0 := clock.Now()

	// 1. Three tokens of the old key, minted just before the rotation.
	early := s.mintTTL(t, "deploy:prod", 300)
	late := s.mintTTL(t, "deploy:prod", 300)
	retired := s.mintTTL(t, "deploy:prod", 300)
	if tokenKid(t, early) != old[0] {
		t.Fatalf("token signed by %s, want %s", tokenKid(t, early), old[0])
	}

	// 2. Rotate one second later, as `agentmint keys rotate` does.
	clock.Advance(time.Second)
	k, err := keys.Generate(filepath.Join(s.DataDir, "keys"), clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	s.waitForKid(t, k.ID)
	if got := s.jwks(t); !cmp.Equal(got, []string{k.ID, old[0]}) {
		t.Errorf("jwks after rotation = %v, want new then old", got)
	}
	if kid := tokenKid(t, s.mintTTL(t, "deploy:prod", 60)); kid != k.ID {
		t.Errorf("new token signed by %s, want the new key %s", kid, k.ID)
	}

	// 3. The old key's token verifies until its last second of leeway.
	clock.Set(t0.Add(300*time.Second + 4*time.Second))
	if r := s.proxy(t, early); r.Status != 200 {
		t.Fatalf("token of the previous key at exp+4s: %d %s", r.Status, r.Body)
	}
	clock.Set(t0.Add(300*time.Second + 5*time.Second))
	wantProblem(t, s.proxy(t, late), 401, "token_expired")

	// 4. After the retirement window the kid is unknown and unpublished.
	clock.Set(t0.Add(time.Second + keys.RetireAfter))
	r := s.proxy(t, retired)
	wantProblem(t, r, 401, "invalid_token")
	if got := r.JSON(t)["reason"]; got != "unknown_key" {
		t.Errorf("reason %v, want unknown_key", got)
	}
	if got := s.jwks(t); !cmp.Equal(got, []string{k.ID}) {
		t.Errorf("jwks after retirement = %v, want only %s", got, k.ID)
	}
	if cc := do(t, "GET", s.URL+"/.well-known/jwks.json", "").Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=60") {
		t.Errorf("jwks Cache-Control %q", cc)
	}
}

// TestRetirementOutlastsTokens checks the schedule itself: a server that
// has not yet noticed a rotation signs with the old key for up to
// keys.Propagation, and such a token must stay verifiable to its end.
func TestRetirementOutlastsTokens(t *testing.T) {
	rotated := time.Unix(1767225600, 0)
	lastSigned := rotated.Add(keys.Propagation)
	lastValid := lastSigned.Add(300*time.Second + 5*time.Second)
	k := &keys.Key{Created: rotated.Add(-time.Hour), Successor: rotated}
	if got := k.State(lastValid.Add(-time.Nanosecond)); got != keys.Previous {
		t.Errorf("state at the last moment a token may verify = %s, want previous", got)
	}
	if got := k.State(k.RetiresAt()); got != keys.Retired {
		t.Errorf("state at RetiresAt = %s, want retired", got)
	}
}

// TestServeRefusesBadKeyFile starts `agentmint serve` on a key file that
// others may read, and on a corrupt one: it must not start, and the message
// must name the file.
func TestServeRefusesBadKeyFile(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
		mode os.FileMode
		want string
	}{
		{"world readable", nil, 0o644, "mode 0644"},
		{"group readable", nil, 0o640, "mode 0640"},
		{"corrupt", []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), 0o600, "is corrupt"},
		{"not PEM", []byte("not a key\n"), 0o600, "is corrupt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			k, err := keys.Generate(filepath.Join(dir, "keys"), time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if tc.data != nil {
				if err := os.WriteFile(k.Path, tc.data, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Chmod(k.Path, tc.mode); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			code := Main(context.Background(), []string{"serve",
				"--addr", "127.0.0.1:0", "--data-dir", dir}, &stdout, &stderr)
			if code != 1 {
				t.Fatalf("exit code %d, want 1; stderr %s", code, stderr.String())
			}
			msg := stderr.String()
			if !strings.Contains(msg, k.Path) || !strings.Contains(msg, tc.want) {
				t.Errorf("message %q does not name %s and say %q", msg, k.Path, tc.want)
			}
			if strings.Contains(stdout.String(), "Server ready") {
				t.Error("server started")
			}
		})
	}
}

func TestKeyPollValidated(t *testing.T) {
	for _, v := range []string{"0s", "-1s", "61s"} {
		var stderr bytes.Buffer
		code := Main(context.Background(), []string{"serve", "--addr", "127.0.0.1:0",
			"--data-dir", t.TempDir(), "--key-poll", v}, &bytes.Buffer{}, &stderr)
		if code != 1 || !strings.Contains(stderr.String(), "--key-poll") {
			t.Errorf("--key-poll %s: exit %d, stderr %q", v, code, stderr.String())
		}
	}
}

// TestKeysList shows every key with its kid, state and dates.
func TestKeysList(t *testing.T) {
	dir := t.TempDir()
	now := time.Now().UTC()
	k1, err := keys.Generate(filepath.Join(dir, "keys"), now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	k2, err := keys.Generate(filepath.Join(dir, "keys"), now.Add(-10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	k3, err := keys.Generate(filepath.Join(dir, "keys"), now)
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := Main(context.Background(), []string{"keys", "list", "--data-dir", dir},
		&stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("keys list printed %d lines:\n%s", len(lines), stdout.String())
	}
	for i, want := range [][]string{
		{k3.ID, "current", k3.Created.Format(time.RFC3339), "-"},
		{k2.ID, "previous", k2.Created.Format(time.RFC3339), now.Add(keys.RetireAfter).Format(time.RFC3339)},
		{k1.ID, "retired", k1.Created.Format(time.RFC3339), k2.Created.Add(keys.RetireAfter).Format(time.RFC3339)},
	} {
		if diff := cmp.Diff(want, strings.Fields(lines[i+1])); diff != "" {
			t.Errorf("line %d (-want +got):\n%s", i+1, diff)
		}
	}
}
