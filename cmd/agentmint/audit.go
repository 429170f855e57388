package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/agentmint/agentmint/internal/audit"
	"github.com/agentmint/agentmint/internal/auditlog"
	"github.com/agentmint/agentmint/internal/httpapi"
	"github.com/agentmint/agentmint/internal/passkey"
)

// auditFlags are the flags of the audit subcommands.
type auditFlags struct {
	dataDir  string
	database string
	url      string
	key      string   // verifier key file; default: the data dir's, or /audit/key
	kept     []string // checkpoint files an auditor kept
	out      string   // export directory
}

func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: agentmint audit verify|export [flags]")
		return errUsage
	}
	var f auditFlags
	fs := newFlagSet("audit "+args[0], stderr)
	fs.StringVar(&f.dataDir, "data-dir", "",
		"read the audit log from this data directory")
	fs.StringVar(&f.database, "database", envOr("AGENTMINT_DATABASE", ""),
		"read the audit log from this PostgreSQL database (env AGENTMINT_DATABASE)")
	fs.StringVar(&f.url, "url", "",
		"read the audit log from the running service at this URL")
	fs.StringVar(&f.key, "key", "",
		"checkpoint verifier key file (default: <data-dir>/audit/"+
			auditlog.VerifierFile+", or GET /audit/key)")
	fs.Func("checkpoint", "a checkpoint file kept from earlier; "+
		"may be repeated", func(v string) error {
		f.kept = append(f.kept, v)
		return nil
	})
	if args[0] == "export" {
		fs.StringVar(&f.out, "out", "", "directory to write the export to")
	}
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	switch {
	case (f.dataDir == "" && f.database == "") == (f.url == ""):
		fmt.Fprintln(stderr, "give either --data-dir (and --database on PostgreSQL) or --url")
		return errUsage
	case f.database != "" && f.dataDir == "" && f.key == "":
		fmt.Fprintln(stderr, "with --database, give --key (or --data-dir) for the checkpoint key")
		return errUsage
	}
	switch args[0] {
	case "verify":
		return auditVerify(ctx, f, stdout)
	case "export":
		if f.out == "" {
			fmt.Fprintln(stderr, "--out is required")
			return errUsage
		}
		return auditExport(ctx, f, stdout)
	}
	fmt.Fprintf(stderr, "unknown audit command %q\n", args[0])
	return errUsage
}

// auditVerify checks the whole log and prints a summary, or returns the
// first fault.
func auditVerify(ctx context.Context, f auditFlags, stdout io.Writer) error {
	var rep auditlog.Report
	var err error
	if f.url == "" {
		rep, err = verifyDataDir(ctx, f)
	} else {
		rep, err = verifyURL(ctx, f)
	}
	if err != nil {
		return fmt.Errorf("audit log does not verify: %w", err)
	}
	fmt.Fprintf(stdout, "audit log verified: %d entries in the tree, "+
		"%d checkpoints (latest size %d), %d entries not yet in the tree, "+
		"%d passkey approvals re-checked\n",
		rep.Entries, rep.Checkpoints, rep.Latest, rep.Pending, rep.Evidence)
	return nil
}

// verifyDataDir verifies the store of a data directory, read-only, with
// the stored checkpoints, the mirrored one and any kept ones.
func verifyDataDir(ctx context.Context, f auditFlags) (auditlog.Report, error) {
	dir := auditDir(f.dataDir)
	if f.key == "" {
		f.key = filepath.Join(dir, auditlog.VerifierFile)
	}
	v, err := readVerifier(f.key)
	if err != nil {
		return auditlog.Report{}, err
	}
	kept, err := readKept(f.kept)
	if err != nil {
		return auditlog.Report{}, err
	}
	if f.dataDir != "" {
		mirror := filepath.Join(dir, auditlog.MirrorFile)
		if note, err := os.ReadFile(mirror); err == nil {
			kept = append(kept, auditlog.Sourced{Note: note, From: mirror})
		} else if !errors.Is(err, os.ErrNotExist) {
			return auditlog.Report{}, err
		}
	}
	store, err := openBackend(ctx, f.dataDir, f.database, true)
	if err != nil {
		return auditlog.Report{}, err
	}
	defer store.Close()
	return auditlog.VerifyStore(ctx, store, v, kept, passkey.VerifyEntries)
}

// verifyURL verifies a running service's log from its entries and
// checkpoints: the tree is rebuilt from the entries alone.
func verifyURL(ctx context.Context, f auditFlags) (auditlog.Report, error) {
	c := &apiClient{base: strings.TrimSuffix(f.url, "/")}
	v, err := c.verifier(ctx, f.key)
	if err != nil {
		return auditlog.Report{}, err
	}
	kept, err := readKept(f.kept)
	if err != nil {
		return auditlog.Report{}, err
	}
	cps, err := c.checkpoints(ctx)
	if err != nil {
		return auditlog.Report{}, err
	}
	latest := int64(0)
	for _, cp := range cps {
		latest = max(latest, cp.Size)
	}
	entries, err := c.entries(ctx, latest)
	if err != nil {
		return auditlog.Report{}, err
	}
	for _, cp := range cps {
		kept = append(kept, auditlog.Sourced{Note: []byte(cp.Note),
			From: fmt.Sprintf("%s/audit/checkpoints, size %d", c.base, cp.Size)})
	}
	rep, err := auditlog.Verify(entries, nil, kept, v)
	if err != nil {
		return rep, err
	}
	rep.Evidence, err = passkey.VerifyEntries(entries)
	return rep, err
}

// auditExport writes the entries with their proofs, the checkpoint they
// prove against and the verifier key to f.out.
func auditExport(ctx context.Context, f auditFlags, stdout io.Writer) error {
	if f.url != "" {
		return errors.New("export reads the store: use --data-dir or --database")
	}
	if f.key == "" {
		f.key = filepath.Join(auditDir(f.dataDir), auditlog.VerifierFile)
	}
	v, err := readVerifier(f.key)
	if err != nil {
		return err
	}
	pub, _ := os.ReadFile(f.key)
	store, err := openBackend(ctx, f.dataDir, f.database, true)
	if err != nil {
		return err
	}
	defer store.Close()
	l := auditlog.New(auditlog.Config{Tree: store,
		Key: &auditlog.Key{Verifier: v, Public: string(pub)}})
	if err := os.MkdirAll(f.out, 0o755); err != nil {
		return err
	}
	out, err := os.Create(filepath.Join(f.out, "entries.jsonl"))
	if err != nil {
		return err
	}
	defer out.Close()
	sc, err := l.Export(ctx, out)
	if err != nil {
		return fmt.Errorf("failed to export: %v", err)
	}
	if err := out.Close(); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(f.out, "checkpoint"), sc.Note, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(f.out, "key.pub"), pub, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "exported %d entries with proofs against the "+
		"checkpoint of size %d to %s\n", sc.Size, sc.Size, f.out)
	return nil
}

// readVerifier reads a note verifier key file.
func readVerifier(path string) (*audit.Verifier, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("failed to read checkpoint key: %v", err)
	}
	return audit.NewVerifier(strings.TrimSpace(string(b)))
}

// readKept reads checkpoint files an auditor kept.
func readKept(paths []string) ([]auditlog.Sourced, error) {
	var out []auditlog.Sourced
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		out = append(out, auditlog.Sourced{Note: b, From: p})
	}
	return out, nil
}

// apiClient reads the audit endpoints of a running service.
type apiClient struct {
	base string
}

func (c *apiClient) get(ctx context.Context, path string, q url.Values) ([]byte, error) {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return nil, err
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	res, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u, res.Status)
	}
	return b, nil
}

// verifier returns the key in file, or the one the service publishes.
func (c *apiClient) verifier(ctx context.Context, file string) (*audit.Verifier, error) {
	if file != "" {
		return readVerifier(file)
	}
	b, err := c.get(ctx, "/audit/key", nil)
	if err != nil {
		return nil, err
	}
	return audit.NewVerifier(strings.TrimSpace(string(b)))
}

// checkpoints reads every checkpoint the service stored.
func (c *apiClient) checkpoints(ctx context.Context) ([]httpapi.CheckpointRecord, error) {
	var out []httpapi.CheckpointRecord
	after := int64(-1)
	for {
		q := url.Values{"limit": {"1000"}}
		if after >= 0 {
			q.Set("after", fmt.Sprint(after))
		}
		b, err := c.get(ctx, "/audit/checkpoints", q)
		if err != nil {
			return nil, err
		}
		var page []httpapi.CheckpointRecord
		if err := json.Unmarshal(b, &page); err != nil {
			return nil, fmt.Errorf("failed to read checkpoints: %v", err)
		}
		out = append(out, page...)
		if len(page) < 1000 {
			return out, nil
		}
		after = page[len(page)-1].Size
	}
}

// entries reads the entries from 0 to n-1.
func (c *apiClient) entries(ctx context.Context, n int64) ([]audit.Entry, error) {
	var out []audit.Entry
	for int64(len(out)) < n {
		q := url.Values{"from": {fmt.Sprint(len(out))},
			"limit": {fmt.Sprint(min(1000, n-int64(len(out))))}}
		b, err := c.get(ctx, "/audit/entries", q)
		if err != nil {
			return nil, err
		}
		var page []audit.Entry
		if err := json.Unmarshal(b, &page); err != nil {
			return nil, fmt.Errorf("failed to read entries: %v", err)
		}
		if len(page) == 0 {
			break
		}
		out = append(out, page...)
	}
	return out, nil
}
