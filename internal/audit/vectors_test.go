package audit

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

// vectorDir holds the RFC 6962 proof vectors; see its README.md.
const vectorDir = "../../testdata/merkle"

// inclusionVector is one file under inclusion/.
type inclusionVector struct {
	LeafIdx  uint64   `json:"leafIdx"`
	TreeSize uint64   `json:"treeSize"`
	Root     []byte   `json:"root"`
	LeafHash []byte   `json:"leafHash"`
	Proof    [][]byte `json:"proof"`
	Desc     string   `json:"desc"`
	WantErr  bool     `json:"wantErr"`
}

// consistencyVector is one file under consistency/.
type consistencyVector struct {
	Size1   uint64   `json:"size1"`
	Size2   uint64   `json:"size2"`
	Root1   []byte   `json:"root1"`
	Root2   []byte   `json:"root2"`
	Proof   [][]byte `json:"proof"`
	Desc    string   `json:"desc"`
	WantErr bool     `json:"wantErr"`
}

// vectorHash maps a root or proof hash from a vector to a tlog.Hash. The
// vectors hold some values that are not 32 bytes (empty, or short text).
// The reference verifier compares roots byte for byte and hashes proof
// entries of any length, so no such value matches a real SHA-256 node
// hash, yet two equal values compare equal (the consistency of two equal
// trees of size 1 holds whatever their root). A value of the wrong length
// therefore becomes a stand-in: its own SHA-256 under a prefix that no
// RFC 6962 hash uses, distinct from every real node hash and from every
// other stand-in.
func vectorHash(b []byte) tlog.Hash {
	if len(b) == tlog.HashSize {
		return tlog.Hash(b)
	}
	return sha256.Sum256(append([]byte("not a node hash\x00"), b...))
}

// vectorHashes maps a proof with vectorHash.
func vectorHashes(bs [][]byte) []tlog.Hash {
	hs := make([]tlog.Hash, len(bs))
	for i, b := range bs {
		hs[i] = vectorHash(b)
	}
	return hs
}

// vectorLeafHash maps a leaf hash from a vector to a tlog.Hash. Unlike a
// root, a leaf hash of the wrong length is rejected outright, as the
// reference verifier does: a leaf hash is an input to the proof, and
// CheckInclusion's type cannot even hold one that is not 32 bytes.
func vectorLeafHash(b []byte) (tlog.Hash, bool) {
	return vectorHash(b), len(b) == tlog.HashSize
}

// vectorSize maps a vector's unsigned size or index to tlog's int64. A
// value past math.MaxInt64 (the vectors have 2^64-1) cannot name a leaf
// of any tree, so it reports false: the proof is rejected without asking
// tlog.
func vectorSize(u uint64) (int64, bool) {
	if u > math.MaxInt64 {
		return 0, false
	}
	return int64(u), true
}

// loadVectors calls fn with the name and contents of every JSON file
// under dir, and returns how many there were.
func loadVectors(t *testing.T, dir string, fn func(string, []byte)) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry,
		err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		n++
		fn(strings.TrimPrefix(path, dir+"/"), data)
		return nil
	})
	if err != nil {
		t.Fatalf("failed to read vectors: %v", err)
	}
	return n
}

func TestInclusionVectors(t *testing.T) {
	dir := filepath.Join(vectorDir, "inclusion")
	var valid, invalid int
	n := loadVectors(t, dir, func(name string, data []byte) {
		var v inclusionVector
		if err := json.Unmarshal(data, &v); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		err := checkInclusionVector(v)
		if (err != nil) != v.WantErr {
			t.Errorf("%s (%s): error = %v, want error %v",
				name, v.Desc, err, v.WantErr)
		}
		if v.WantErr {
			invalid++
		} else {
			valid++
		}
	})
	if n < 90 || valid < 5 || invalid < 80 {
		t.Errorf("read %d vectors (%d valid, %d invalid), want the "+
			"whole set", n, valid, invalid)
	}
}

// checkInclusionVector runs CheckInclusion on v.
func checkInclusionVector(v inclusionVector) error {
	index, ok1 := vectorSize(v.LeafIdx)
	size, ok2 := vectorSize(v.TreeSize)
	if !ok1 || !ok2 {
		return errVectorRange
	}
	leaf, ok := vectorLeafHash(v.LeafHash)
	if !ok {
		return errVectorLeaf
	}
	return CheckInclusion(vectorHashes(v.Proof), index, size,
		vectorHash(v.Root), leaf)
}

func TestConsistencyVectors(t *testing.T) {
	dir := filepath.Join(vectorDir, "consistency")
	var valid, invalid int
	n := loadVectors(t, dir, func(name string, data []byte) {
		var v consistencyVector
		if err := json.Unmarshal(data, &v); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		err := checkConsistencyVector(v)
		if (err != nil) != v.WantErr {
			t.Errorf("%s (%s): error = %v, want error %v",
				name, v.Desc, err, v.WantErr)
		}
		if v.WantErr {
			invalid++
		} else {
			valid++
		}
	})
	if n < 90 || valid < 5 || invalid < 80 {
		t.Errorf("read %d vectors (%d valid, %d invalid), want the "+
			"whole set", n, valid, invalid)
	}
}

// checkConsistencyVector runs CheckConsistency on v.
func checkConsistencyVector(v consistencyVector) error {
	from, ok1 := vectorSize(v.Size1)
	to, ok2 := vectorSize(v.Size2)
	if !ok1 || !ok2 {
		return errVectorRange
	}
	return CheckConsistency(vectorHashes(v.Proof), from,
		vectorHash(v.Root1), to, vectorHash(v.Root2))
}

// Errors of vectors rejected before tlog sees them.
var (
	errVectorRange = errors.New("size or index past int64")
	errVectorLeaf  = errors.New("leaf hash is not 32 bytes")
)
