package audit

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// testOrigin names the test log.
const testOrigin = "agentmint.example/audit"

// testKey returns a fixed key pair for origin, derived from seed, so that
// fuzz seeds stay valid from run to run.
func testKey(t testing.TB, origin string, seed byte) (*Signer, *Verifier) {
	t.Helper()
	rnd := bytes.NewReader(bytes.Repeat([]byte{seed}, 32))
	skey, vkey, err := note.GenerateKey(rnd, origin)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return s, v
}

// mustSign returns a checkpoint signed by s.
func mustSign(t testing.TB, s *Signer, size int64, root tlog.Hash) []byte {
	t.Helper()
	msg, err := SignCheckpoint(s.Origin(), size, root, s)
	if err != nil {
		t.Fatalf("SignCheckpoint: %v", err)
	}
	return msg
}

func TestCheckpointRoundTrip(t *testing.T) {
	skey, vkey, err := GenerateKey(testOrigin)
	if err != nil {
		t.Fatalf("GenerateKey: %v", err)
	}
	s, err := NewSigner(skey)
	if err != nil {
		t.Fatalf("NewSigner: %v", err)
	}
	v, err := NewVerifier(vkey)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	if s.Origin() != testOrigin || v.Origin() != testOrigin {
		t.Errorf("origins %q, %q, want %q", s.Origin(), v.Origin(),
			testOrigin)
	}

	root := tlog.RecordHash([]byte("root"))
	for _, size := range []int64{0, 1, 120, 1<<63 - 1} {
		msg := mustSign(t, s, size, root)
		want := Checkpoint{Origin: testOrigin, Size: size, Root: root}
		if !bytes.HasPrefix(msg, want.Body()) {
			t.Errorf("signed note %q does not start with its body", msg)
		}
		got, err := ParseCheckpoint(msg, v)
		if err != nil {
			t.Fatalf("ParseCheckpoint(%q): %v", msg, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("checkpoint differs (-want +got):\n%s", diff)
		}
	}
}

func TestCheckpointBody(t *testing.T) {
	c := Checkpoint{Origin: "example.com/log", Size: 42,
		Root: tlog.RecordHash(nil)}
	want := "example.com/log\n42\n" + tlog.RecordHash(nil).String() + "\n"
	if got := string(c.Body()); got != want {
		t.Errorf("Body() = %q, want %q", got, want)
	}
}

func TestCheckpointWrongKey(t *testing.T) {
	s, _ := testKey(t, testOrigin, 1)
	_, sameName := testKey(t, testOrigin, 2)
	_, otherName := testKey(t, "other.example/audit", 1)
	msg := mustSign(t, s, 5, tlog.Hash{1})

	for name, v := range map[string]*Verifier{
		"same origin, other key": sameName,
		"other origin":           otherName,
	} {
		if _, err := ParseCheckpoint(msg, v); err == nil {
			t.Errorf("%s: ParseCheckpoint succeeded", name)
		}
	}

	// A signature by a key of the same name and hash that fails.
	_, v := testKey(t, testOrigin, 1)
	forged := bytes.Replace(msg, []byte("\n5\n"), []byte("\n6\n"), 1)
	var invalid *note.InvalidSignatureError
	if _, err := ParseCheckpoint(forged, v); !errors.As(err, &invalid) {
		t.Errorf("ParseCheckpoint(altered size) error = %v, want %T",
			err, invalid)
	}
}

func TestSignCheckpointErrors(t *testing.T) {
	s, _ := testKey(t, testOrigin, 1)
	if _, err := SignCheckpoint("other", 1, tlog.Hash{}, s); err == nil {
		t.Error("SignCheckpoint with another origin succeeded")
	}
	if _, err := SignCheckpoint(testOrigin, -1, tlog.Hash{}, s); err == nil {
		t.Error("SignCheckpoint with size -1 succeeded")
	}
}

func TestKeyErrors(t *testing.T) {
	for _, origin := range []string{"", "a b", "a+b", "a\tb", "\xff"} {
		if _, _, err := GenerateKey(origin); err == nil {
			t.Errorf("GenerateKey(%q) succeeded", origin)
		}
	}
	skey, vkey, err := GenerateKey(testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewSigner(vkey); err == nil {
		t.Error("NewSigner(public key) succeeded")
	}
	if _, err := NewVerifier(skey); err == nil {
		t.Error("NewVerifier(private key) succeeded")
	}
	if _, err := NewVerifier(vkey[:len(vkey)-4]); err == nil {
		t.Error("NewVerifier(truncated key) succeeded")
	}
}

func TestParseCheckpointMalformed(t *testing.T) {
	s, v := testKey(t, testOrigin, 1)
	root := tlog.RecordHash([]byte("x")).String()
	// Bodies signed by the right key but not well formed.
	bodies := []struct{ name, text string }{
		{"two lines", testOrigin + "\n5\n"},
		{"extension line", testOrigin + "\n5\n" + root + "\nextra\n"},
		{"blank line", testOrigin + "\n\n5\n" + root + "\n"},
		{"other origin", "other.example/audit\n5\n" + root + "\n"},
		{"negative size", testOrigin + "\n-1\n" + root + "\n"},
		{"plus size", testOrigin + "\n+5\n" + root + "\n"},
		{"leading zero", testOrigin + "\n05\n" + root + "\n"},
		{"spaced size", testOrigin + "\n 5\n" + root + "\n"},
		{"huge size", testOrigin + "\n9223372036854775808\n" + root + "\n"},
		{"hex size", testOrigin + "\n0x5\n" + root + "\n"},
		{"short hash", testOrigin + "\n5\nAAAA\n"},
		{"unpadded hash", testOrigin + "\n5\n" +
			strings.TrimSuffix(root, "=") + "\n"},
		{"url base64", testOrigin + "\n5\n" +
			strings.NewReplacer("+", "-", "/", "_").Replace(
				tlog.Hash{0xfb, 0xff}.String()) + "\n"},
		{"non-canonical hash", testOrigin + "\n5\n" +
			root[:len(root)-2] + "B=\n"},
	}
	for _, tc := range bodies {
		t.Run(tc.name, func(t *testing.T) {
			msg, err := note.Sign(&note.Note{Text: tc.text}, s.s)
			if err != nil {
				t.Fatal(err)
			}
			_, err = ParseCheckpoint(msg, v)
			const want = "failed to parse checkpoint"
			if err == nil || !strings.HasPrefix(err.Error(), want) {
				t.Errorf("ParseCheckpoint(%q) error = %v, want %q",
					msg, err, want)
			}
		})
	}

	// Messages that are not signed notes at all.
	good := mustSign(t, s, 5, tlog.Hash{})
	notes := map[string][]byte{
		"empty":        nil,
		"body only":    []byte(testOrigin + "\n5\n" + root + "\n"),
		"no newline":   bytes.TrimSuffix(good, []byte("\n")),
		"CR":           bytes.ReplaceAll(good, []byte("\n"), []byte("\r\n")),
		"bad base64":   append(bytes.TrimSuffix(good, []byte("\n")), '!', '\n'),
		"unsigned sig": []byte(testOrigin + "\n5\n" + root + "\n\n"),
	}
	for name, msg := range notes {
		if _, err := ParseCheckpoint(msg, v); err == nil {
			t.Errorf("%s: ParseCheckpoint succeeded", name)
		}
	}
}

func TestParseCheckpointCosigned(t *testing.T) {
	s, v := testKey(t, testOrigin, 1)
	witness, _ := testKey(t, "witness.example", 3)
	c := Checkpoint{Origin: testOrigin, Size: 9, Root: tlog.Hash{9}}
	msg, err := note.Sign(&note.Note{Text: string(c.Body())}, s.s, witness.s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseCheckpoint(msg, v)
	if err != nil {
		t.Fatalf("ParseCheckpoint(cosigned): %v", err)
	}
	if diff := cmp.Diff(c, got); diff != "" {
		t.Errorf("checkpoint differs (-want +got):\n%s", diff)
	}
}

func FuzzParseCheckpoint(f *testing.F) {
	s, v := testKey(f, testOrigin, 1)
	for _, size := range []int64{0, 1, 300} {
		f.Add(mustSign(f, s, size, tlog.RecordHash([]byte{byte(size)})))
	}
	f.Add([]byte(testOrigin + "\n5\nAAAA\n\n— " + testOrigin + " AAAAAAA=\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		c, err := ParseCheckpoint(msg, v)
		if err != nil {
			return
		}
		if c.Origin != testOrigin || c.Size < 0 {
			t.Fatalf("ParseCheckpoint(%q) = %+v", msg, c)
		}
		if !bytes.HasPrefix(msg, append(c.Body(), '\n')) {
			t.Fatalf("ParseCheckpoint(%q): body is not %q", msg, c.Body())
		}
		again, err := ParseCheckpoint(mustSign(t, s, c.Size, c.Root), v)
		if err != nil || again != c {
			t.Fatalf("re-signed checkpoint = %+v, %v; want %+v",
				again, err, c)
		}
	})
}
