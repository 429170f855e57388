package main

import (
	"fmt"
	"io"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/agentmint/agentmint/internal/keys"
)

func runKeys(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: agentmint keys list|rotate [--data-dir DIR]")
		return errUsage
	}
	fs := newFlagSet("keys "+args[0], stderr)
	dataDir := fs.String("data-dir", envOr("AGENTMINT_DATA_DIR", "./agentmint-data"),
		"directory for keys and the ledger (env AGENTMINT_DATA_DIR)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	dir := filepath.Join(*dataDir, "keys")
	switch args[0] {
	case "list":
		return listKeys(dir, stdout)
	case "rotate":
		k, err := keys.Generate(dir, time.Now())
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "new current key %s\n", k.ID)
		fmt.Fprintln(stdout, "running servers sign with it within --key-poll (default 5s), or at once on SIGHUP")
		return nil
	}
	fmt.Fprintf(stderr, "unknown keys command %q: want list or rotate\n", args[0])
	return errUsage
}

func listKeys(dir string, stdout io.Writer) error {
	ks, err := keys.Load(dir)
	if err != nil {
		return err
	}
	if len(ks) == 0 {
		fmt.Fprintf(stdout, "no keys in %s: `agentmint serve` creates the first\n", dir)
		return nil
	}
	now := time.Now()
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tSTATE\tCREATED\tRETIRES")
	for i := len(ks) - 1; i >= 0; i-- {
		k := ks[i]
		retires := "-"
		if t := k.RetiresAt(); !t.IsZero() {
			retires = t.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.ID, k.State(now),
			k.Created.UTC().Format(time.RFC3339), retires)
	}
	return tw.Flush()
}
