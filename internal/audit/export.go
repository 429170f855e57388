package audit

import (
	"fmt"

	"golang.org/x/mod/sumdb/tlog"
)

// ExportLine is one line of an exported audit log: an entry with the proof
// that it is in the tree of a signed checkpoint. An export is a file of
// such lines in JSON, one a line, and the checkpoint they prove against.
type ExportLine struct {
	// Entry is the audit entry; its JSON is its leaf encoding.
	Entry Entry `json:"entry"`
	// LeafHash is the RFC 6962 hash of the entry's leaf.
	LeafHash tlog.Hash `json:"leaf_hash"`
	// InclusionProof proves the leaf is in the tree of size TreeSize.
	InclusionProof []tlog.Hash `json:"inclusion_proof"`
	// TreeSize is the size of the checkpoint the proof is for.
	TreeSize int64 `json:"tree_size"`
}

// NewExportLine returns the export line of e for the tree of size
// treeSize whose hashes r reads.
func NewExportLine(e Entry, treeSize int64, r tlog.HashReader) (
	ExportLine, error) {
	leaf, err := LeafHash(e)
	if err != nil {
		return ExportLine{}, err
	}
	p, err := InclusionProof(e.Index, treeSize, r)
	if err != nil {
		return ExportLine{}, err
	}
	return ExportLine{
		Entry:          e,
		LeafHash:       leaf,
		InclusionProof: append([]tlog.Hash{}, p...),
		TreeSize:       treeSize,
	}, nil
}

// VerifyExportLine checks that line's entry is in the tree of c, a
// checkpoint verified with ParseCheckpoint: that the leaf hash is the
// entry's and that the inclusion proof leads from it to c's root.
func VerifyExportLine(line ExportLine, c Checkpoint) error {
	e := line.Entry
	leaf, err := LeafHash(e)
	if err != nil {
		return fmt.Errorf("failed to verify export line: %v", err)
	}
	if leaf != line.LeafHash {
		return fmt.Errorf("failed to verify export line: "+
			"leaf hash does not match entry %d", e.Index)
	}
	if line.TreeSize != c.Size {
		return fmt.Errorf("failed to verify export line: proof is for "+
			"size %d, checkpoint has size %d", line.TreeSize, c.Size)
	}
	return CheckInclusion(line.InclusionProof, e.Index, c.Size, c.Root,
		leaf)
}
