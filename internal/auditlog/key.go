package auditlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/agentmint/agentmint/internal/audit"
)

// The files of the audit directory.
const (
	// SignerFile holds the private note key, mode 0600.
	SignerFile = "checkpoint-key"
	// VerifierFile holds the public note key, for auditors.
	VerifierFile = "checkpoint-key.pub"
	// MirrorFile holds the latest signed checkpoint.
	MirrorFile = "checkpoint"
)

// Key is the audit log's checkpoint key. It is not the token signing key.
type Key struct {
	Signer   *audit.Signer
	Verifier *audit.Verifier
	// Public is the verifier key in note text form, to publish.
	Public string
}

// Origin returns the name of the log the key signs for.
func (k *Key) Origin() string { return k.Signer.Origin() }

// OpenKey loads the checkpoint key in dir, or generates one for origin if
// dir has none. An existing key is never replaced: if it names another
// origin, or only half of it is there, OpenKey fails.
//
// An empty origin accepts the origin of an existing key, and names a new
// one DefaultOrigin.
func OpenKey(dir, origin string) (*Key, error) {
	skeyPath := filepath.Join(dir, SignerFile)
	vkeyPath := filepath.Join(dir, VerifierFile)
	skey, serr := os.ReadFile(skeyPath)
	vkey, verr := os.ReadFile(vkeyPath)
	switch {
	case errors.Is(serr, fs.ErrNotExist) && errors.Is(verr, fs.ErrNotExist):
		if origin == "" {
			origin = DefaultOrigin()
		}
		return generateKey(dir, origin)
	case serr != nil:
		return nil, fmt.Errorf("failed to read audit key: %v", serr)
	case verr != nil:
		return nil, fmt.Errorf("failed to read audit public key: %v", verr)
	}
	if fi, err := os.Stat(skeyPath); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("audit key %s is readable by others "+
			"(mode %v): chmod 600 it", skeyPath, fi.Mode().Perm())
	}
	k, err := parseKey(string(bytes.TrimSpace(skey)),
		string(bytes.TrimSpace(vkey)))
	if err != nil {
		return nil, err
	}
	if origin != "" && k.Origin() != origin {
		return nil, fmt.Errorf("audit key in %s signs for %q, not %q: "+
			"keep the origin, or move the key away to start a new log",
			dir, k.Origin(), origin)
	}
	return k, nil
}

// generateKey makes a new key for origin in dir.
func generateKey(dir, origin string) (*Key, error) {
	skey, vkey, err := audit.GenerateKey(origin)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("failed to create audit directory: %v", err)
	}
	if err := writeNew(filepath.Join(dir, SignerFile), skey, 0o600); err != nil {
		return nil, err
	}
	if err := writeNew(filepath.Join(dir, VerifierFile), vkey, 0o644); err != nil {
		return nil, err
	}
	return parseKey(skey, vkey)
}

// parseKey loads a key pair and checks that its halves belong together.
func parseKey(skey, vkey string) (*Key, error) {
	s, err := audit.NewSigner(skey)
	if err != nil {
		return nil, err
	}
	v, err := audit.NewVerifier(vkey)
	if err != nil {
		return nil, err
	}
	probe, err := audit.SignCheckpoint(s.Origin(), 0, [32]byte{}, s)
	if err == nil {
		_, err = audit.ParseCheckpoint(probe, v)
	}
	if err != nil {
		return nil, fmt.Errorf("audit public key does not match the "+
			"private key: %v", err)
	}
	return &Key{Signer: s, Verifier: v, Public: vkey}, nil
}

// writeNew writes data to a new file at path durably; it fails if path
// exists.
func writeNew(path, data string, mode fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("failed to create %s: %v", path, err)
	}
	_, err = f.WriteString(strings.TrimSpace(data) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("failed to write %s: %v", path, err)
	}
	return syncDir(filepath.Dir(path))
}

// writeFileAtomic replaces path with data durably: a temporary file is
// written, synced and renamed over it.
func writeFileAtomic(path string, data []byte, mode fs.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("failed to write %s: %v", path, err)
	}
	defer os.Remove(f.Name())
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(mode)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("failed to write %s: %v", path, err)
	}
	return syncDir(dir)
}

// syncDir makes a directory's entries durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("failed to open %s: %v", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("failed to sync %s: %v", dir, err)
	}
	return nil
}

// checkMirror refuses to run on a store whose tree of size entries does
// not contain the mirrored checkpoint: the store was rolled back to an
// older copy, truncated or rewritten after that checkpoint was published.
func (l *Log) checkMirror(ctx context.Context, size int64) error {
	if l.cfg.Mirror == "" {
		return nil
	}
	msg, err := os.ReadFile(l.cfg.Mirror)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("failed to read %s: %v", l.cfg.Mirror, err)
	}
	c, err := audit.ParseCheckpoint(msg, l.cfg.Key.Verifier)
	if err != nil {
		return fmt.Errorf("%s: %v", l.cfg.Mirror, err)
	}
	if c.Size > size {
		return fmt.Errorf("the audit log has %d entries, but checkpoint "+
			"%s signed %d: the store was rolled back or truncated; run "+
			"agentmint audit verify", size, l.cfg.Mirror, c.Size)
	}
	root, err := audit.TreeHash(c.Size, Hashes(ctx, l.cfg.Tree))
	if err != nil {
		return err
	}
	if root != c.Root {
		return fmt.Errorf("the audit tree at size %d differs from "+
			"checkpoint %s: the store was rewritten; run agentmint "+
			"audit verify", c.Size, l.cfg.Mirror)
	}
	return nil
}

// DefaultOrigin is the origin of a new log whose operator named none:
// "agentmint/" and the host name.
func DefaultOrigin() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return "agentmint/" + host
}
