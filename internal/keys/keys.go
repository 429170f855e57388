// Package keys keeps AgentMint's token signing keys: Ed25519 keys in PKCS#8
// PEM files, one per file, in a directory that replicas may share.
//
// The directory is the whole state. A file's name carries the moment the key
// was created; the newest key is current and signs, and every older key
// keeps verifying until the last token it can have signed has expired: the
// creation of its successor plus the time servers take to notice it
// (Propagation), the longest lifetime and the leeway. After
// that it is retired and leaves the JWKS. Because every replica derives the
// same states from the same files and clock, replicas sharing the directory
// agree without talking to each other.
package keys

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/agentmint/agentmint/token"
)

// Propagation is the longest a rotation may take to reach every server
// that shares the key directory: until a server reloads, it keeps signing
// with the key it knows. Servers poll the directory at most this far apart.
const Propagation = 60 * time.Second

// RetireAfter is how long a key keeps verifying after its successor was
// created: the time a server may still sign with it (Propagation), plus the
// longest token lifetime, plus the leeway. The last token it can have
// signed has expired by then.
const RetireAfter = Propagation + token.MaxTTL + token.Leeway

const (
	filePrefix = "signing-"
	fileSuffix = ".pem"
	timeLayout = "20060102T150405.000000000Z"
)

// State is where a key is in its life.
type State string

// States of a key.
const (
	// Current: the key signs new tokens.
	Current State = "current"
	// Previous: the key no longer signs but still verifies.
	Previous State = "previous"
	// Retired: the key neither signs nor verifies.
	Retired State = "retired"
)

// Key is one signing key.
type Key struct {
	ID      string // RFC 7638 thumbprint
	Created time.Time
	// Successor is when the next key was created; zero for the newest.
	Successor time.Time
	Path      string
	Public    ed25519.PublicKey
	private   ed25519.PrivateKey
}

// RetiresAt returns when the key stops verifying, or zero if it is current.
func (k *Key) RetiresAt() time.Time {
	if k.Successor.IsZero() {
		return time.Time{}
	}
	return k.Successor.Add(RetireAfter)
}

// State returns the key's state at now.
func (k *Key) State(now time.Time) State {
	switch {
	case k.Successor.IsZero():
		return Current
	case now.Before(k.RetiresAt()):
		return Previous
	default:
		return Retired
	}
}

// Thumbprint returns the RFC 7638 SHA-256 thumbprint of an Ed25519 public
// key, base64url: the key's kid (see token.KeyID).
func Thumbprint(pub ed25519.PublicKey) string { return token.KeyID(pub) }

// Generate creates a new key file in dir, created at now, and returns it.
// An existing file is never replaced.
func Generate(dir string, now time.Time) (*Key, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("failed to create key directory: %v", err)
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("failed to generate key: %v", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("failed to encode key: %v", err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	name := filePrefix + now.UTC().Format(timeLayout) + fileSuffix
	path := filepath.Join(dir, name)
	if err := writeNew(path, data); err != nil {
		return nil, err
	}
	return &Key{
		ID: Thumbprint(pub), Created: now.UTC(), Path: path,
		Public: pub, private: priv,
	}, nil
}

// writeNew writes data to path durably, failing if path exists: a temporary
// file is written and synced, then hard-linked into place, and the
// directory synced.
func writeNew(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-key-*")
	if err != nil {
		return fmt.Errorf("failed to create key file: %v", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("failed to set key file mode: %v", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("failed to write key file: %v", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("failed to sync key file: %v", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("failed to close key file: %v", err)
	}
	if err := os.Link(tmp, path); err != nil {
		return fmt.Errorf("failed to install key file: %v", err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("failed to open key directory: %v", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("failed to sync key directory: %v", err)
	}
	return nil
}

// Load reads every key file in dir, oldest first. A file that is readable
// by group or others, or that does not hold an Ed25519 PKCS#8 key, is an
// error naming the file: the server must not start on it.
func Load(dir string) ([]*Key, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read key directory: %v", err)
	}
	var ks []*Key
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, filePrefix) ||
			!strings.HasSuffix(name, fileSuffix) {
			continue
		}
		k, err := loadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool {
		return ks[i].Created.Before(ks[j].Created)
	})
	for i := 0; i+1 < len(ks); i++ {
		ks[i].Successor = ks[i+1].Created
	}
	return ks, nil
}

func loadFile(path string) (*Key, error) {
	name := filepath.Base(path)
	stamp := strings.TrimSuffix(strings.TrimPrefix(name, filePrefix), fileSuffix)
	created, err := time.Parse(timeLayout, stamp)
	if err != nil {
		return nil, fmt.Errorf("key file %s: name does not carry a creation time", path)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %v", path, err)
	}
	if m := fi.Mode(); !m.IsRegular() || m.Perm()&0o077 != 0 {
		return nil, fmt.Errorf("key file %s has mode %04o: it must be a regular file with mode 0600 (chmod 600 %s)", path, m.Perm(), path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %v", path, err)
	}
	priv, err := parsePEM(data)
	if err != nil {
		return nil, fmt.Errorf("key file %s is corrupt: %v", path, err)
	}
	pub := priv.Public().(ed25519.PublicKey)
	return &Key{
		ID: Thumbprint(pub), Created: created, Path: path,
		Public: pub, private: priv,
	}, nil
}

func parsePEM(data []byte) (ed25519.PrivateKey, error) {
	b, rest := pem.Decode(data)
	if b == nil || b.Type != "PRIVATE KEY" {
		return nil, errors.New("no PEM block of type PRIVATE KEY")
	}
	if len(strings.TrimSpace(string(rest))) != 0 {
		return nil, errors.New("data after the PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("not a PKCS#8 key: %v", err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("key of type %T, want Ed25519", k)
	}
	return priv, nil
}
