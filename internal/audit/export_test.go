package audit

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/mod/sumdb/tlog"
)

// exportFixture returns the export lines of a 40-entry log and the
// verified checkpoint they prove against.
func exportFixture(t *testing.T) ([]ExportLine, Checkpoint) {
	t.Helper()
	l := newTestLog(t)
	c, err := ParseCheckpoint(l.checkpoints[2], l.verifier)
	if err != nil {
		t.Fatal(err)
	}
	lines := make([]ExportLine, len(l.entries))
	for i, e := range l.entries {
		lines[i], err = NewExportLine(e, c.Size, l.stored)
		if err != nil {
			t.Fatalf("NewExportLine(%d): %v", i, err)
		}
	}
	return lines, c
}

func TestExportLineRoundTrip(t *testing.T) {
	lines, c := exportFixture(t)
	lines[7].Entry.Sub = "<script>&amp;"
	lines[7].LeafHash, _ = LeafHash(lines[7].Entry)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, line := range lines {
		if err := enc.Encode(line); err != nil {
			t.Fatalf("Encode: %v", err)
		}
	}

	dec := json.NewDecoder(&buf)
	for i := range lines {
		var got ExportLine
		if err := dec.Decode(&got); err != nil {
			t.Fatalf("line %d: Decode: %v", i, err)
		}
		if diff := cmp.Diff(lines[i], got); diff != "" {
			t.Errorf("line %d differs (-want +got):\n%s", i, diff)
		}
		err := VerifyExportLine(got, c)
		if i == 7 {
			// Entry 7 was changed after the checkpoint was signed.
			if err == nil {
				t.Errorf("line 7: VerifyExportLine accepted a changed entry")
			}
			continue
		}
		if err != nil {
			t.Errorf("line %d: VerifyExportLine: %v", i, err)
		}
	}
}

func TestVerifyExportLineTampered(t *testing.T) {
	lines, c := exportFixture(t)
	tests := []struct {
		name   string
		modify func(*ExportLine, *Checkpoint)
	}{
		{"entry changed", func(l *ExportLine, _ *Checkpoint) {
			l.Entry.Action = "refund:order:999"
		}},
		{"entry and leaf hash changed", func(l *ExportLine, _ *Checkpoint) {
			l.Entry.Action = "refund:order:999"
			l.LeafHash, _ = LeafHash(l.Entry)
		}},
		{"index changed", func(l *ExportLine, _ *Checkpoint) {
			l.Entry.Index++
			l.LeafHash, _ = LeafHash(l.Entry)
		}},
		{"proof changed", func(l *ExportLine, _ *Checkpoint) {
			l.InclusionProof[2][0] ^= 1
		}},
		{"proof truncated", func(l *ExportLine, _ *Checkpoint) {
			l.InclusionProof = l.InclusionProof[1:]
		}},
		{"tree size differs", func(l *ExportLine, _ *Checkpoint) {
			l.TreeSize = 39
		}},
		{"other checkpoint", func(l *ExportLine, c *Checkpoint) {
			c.Root = tlog.Hash{}
		}},
		{"invalid entry", func(l *ExportLine, _ *Checkpoint) {
			l.Entry.Event = ""
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			line := lines[21]
			line.InclusionProof = append([]tlog.Hash{}, line.InclusionProof...)
			cp := c
			tc.modify(&line, &cp)
			if err := VerifyExportLine(line, cp); err == nil {
				t.Error("VerifyExportLine succeeded")
			}
		})
	}
	if err := VerifyExportLine(lines[21], c); err != nil {
		t.Errorf("untouched line: VerifyExportLine: %v", err)
	}
}

func TestExportGolden(t *testing.T) {
	tree := mustBuildTree(t, testEntries(8))
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for _, i := range []int64{0, 5} {
		line, err := NewExportLine(testEntry(i), 8, tree)
		if err != nil {
			t.Fatal(err)
		}
		if err := enc.Encode(line); err != nil {
			t.Fatal(err)
		}
	}
	root, err := TreeHash(8, tree)
	if err != nil {
		t.Fatal(err)
	}
	c := Checkpoint{Origin: testOrigin, Size: 8, Root: root}
	buf.Write(c.Body())
	compareGolden(t, "export.golden", buf.Bytes())
}

func TestNewExportLineErrors(t *testing.T) {
	tree := mustBuildTree(t, testEntries(8))
	bad := testEntry(3)
	bad.Time = bad.Time.Local()
	if _, err := NewExportLine(bad, 8, tree); err == nil {
		t.Error("NewExportLine of an invalid entry succeeded")
	}
	if _, err := NewExportLine(testEntry(8), 8, tree); err == nil {
		t.Error("NewExportLine of an entry past the tree succeeded")
	}
}
