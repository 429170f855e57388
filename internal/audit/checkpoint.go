package audit

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Checkpoint is a signed statement of the log's size and root hash, in
// the C2SP tlog-checkpoint format. See FORMAT.md.
type Checkpoint struct {
	// Origin names the log; it is also the name of the key that signs it.
	Origin string
	// Size is the number of entries the tree holds.
	Size int64
	// Root is the root hash of the tree of the first Size entries.
	Root tlog.Hash
}

// NOTE: tlog.FormatTree and tlog.ParseTree do not fit: they write and
// require the fixed first line "go.sum database tree", where a C2SP
// checkpoint has the log's origin.

// Body returns the text of c that is signed: the origin, the size in
// decimal and the root hash in base64, each on a line of its own.
func (c Checkpoint) Body() []byte {
	return fmt.Appendf(nil, "%s\n%d\n%s\n", c.Origin, c.Size, c.Root)
}

// Signer signs checkpoints with the audit log's key, a note key whose name
// is the log's origin. It is not the key that signs tokens.
type Signer struct {
	s note.Signer
}

// Verifier verifies checkpoints signed by one audit log key.
type Verifier struct {
	v note.Verifier
}

// GenerateKey returns a new audit log key for the log named origin, as a
// private signer key skey, to keep secret, and a public verifier key vkey,
// to publish. Both are in the text form of golang.org/x/mod/sumdb/note.
func GenerateKey(origin string) (skey, vkey string, err error) {
	if !validOrigin(origin) {
		return "", "", fmt.Errorf("failed to generate key: "+
			"invalid origin %q", origin)
	}
	skey, vkey, err = note.GenerateKey(rand.Reader, origin)
	if err != nil {
		return "", "", fmt.Errorf("failed to generate key: %v", err)
	}
	return skey, vkey, nil
}

// NewSigner returns the Signer for a private key made by GenerateKey.
func NewSigner(skey string) (*Signer, error) {
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, fmt.Errorf("failed to load signer key: %v", err)
	}
	return &Signer{s: s}, nil
}

// Origin returns the name of the log s signs for.
func (s *Signer) Origin() string {
	return s.s.Name()
}

// NewVerifier returns the Verifier for a public key made by GenerateKey.
func NewVerifier(vkey string) (*Verifier, error) {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("failed to load verifier key: %v", err)
	}
	return &Verifier{v: v}, nil
}

// Origin returns the name of the log v verifies.
func (v *Verifier) Origin() string {
	return v.v.Name()
}

// SignCheckpoint returns the signed note of the checkpoint for the tree
// of size entries with the given root. origin must be the signer's.
func SignCheckpoint(origin string, size int64, root tlog.Hash,
	s *Signer) ([]byte, error) {
	if origin != s.Origin() {
		return nil, fmt.Errorf("failed to sign checkpoint: origin %q "+
			"differs from key name %q", origin, s.Origin())
	}
	if size < 0 {
		return nil, fmt.Errorf("failed to sign checkpoint: size %d", size)
	}
	c := Checkpoint{Origin: origin, Size: size, Root: root}
	msg, err := note.Sign(&note.Note{Text: string(c.Body())}, s.s)
	if err != nil {
		return nil, fmt.Errorf("failed to sign checkpoint: %v", err)
	}
	return msg, nil
}

// ParseCheckpoint verifies that msg is a checkpoint signed by v's key and
// returns it. Signatures by other keys, such as witness cosignatures, are
// allowed and ignored.
func ParseCheckpoint(msg []byte, v *Verifier) (Checkpoint, error) {
	// 1. The note's syntax and v's signature.
	n, err := note.Open(msg, note.VerifierList(v.v))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("failed to verify checkpoint: %w",
			err)
	}

	// 2. The body, and that it names the key's log.
	c, err := parseBody(n.Text)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("failed to parse checkpoint: %v",
			err)
	}
	if c.Origin != v.Origin() {
		return Checkpoint{}, fmt.Errorf("failed to parse checkpoint: "+
			"origin %q differs from key name %q", c.Origin, v.Origin())
	}
	return c, nil
}

// parseBody parses the text of a checkpoint strictly: exactly three
// lines, a size in canonical decimal and a hash in canonical base64.
//
// NOTE: C2SP allows extension lines after the root hash. AgentMint never
// writes them, so a checkpoint with one is rejected rather than partly
// understood.
func parseBody(text string) (Checkpoint, error) {
	lines := strings.Split(text, "\n")
	if len(lines) != 4 || lines[3] != "" {
		return Checkpoint{}, errors.New("body is not three lines")
	}
	origin, size64, root64 := lines[0], lines[1], lines[2]
	if !validOrigin(origin) {
		return Checkpoint{}, fmt.Errorf("invalid origin %q", origin)
	}
	size, err := strconv.ParseInt(size64, 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != size64 {
		return Checkpoint{}, fmt.Errorf("invalid size %q", size64)
	}
	root, err := tlog.ParseHash(root64)
	if err != nil || root.String() != root64 {
		return Checkpoint{}, fmt.Errorf("invalid root hash %q", root64)
	}
	return Checkpoint{Origin: origin, Size: size, Root: root}, nil
}

// validOrigin reports whether origin can name a log and its note key:
// non-empty UTF-8 without spaces or '+'.
func validOrigin(origin string) bool {
	return origin != "" && utf8.ValidString(origin) &&
		!strings.ContainsFunc(origin, unicode.IsSpace) &&
		!strings.Contains(origin, "+")
}
