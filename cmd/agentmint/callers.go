package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/agentmint/agentmint/internal/callers"
)

// runCallers manages API callers. It opens the database directly and does
// not take the data directory's lock, so that it works while a server
// runs: SQLite serialises the writes of both processes, and the server
// looks callers up per request, so changes apply at once.
func runCallers(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: agentmint callers add|list|revoke [flags]")
		return errUsage
	}
	fs := newFlagSet("callers "+args[0], stderr)
	dataDir := fs.String("data-dir", envOr("AGENTMINT_DATA_DIR", "./agentmint-data"),
		"directory for keys and the ledger (env AGENTMINT_DATA_DIR)")
	var name, role string
	if args[0] == "add" || args[0] == "revoke" {
		fs.StringVar(&name, "name", "", "the caller's name: letters, digits and .-_@")
	}
	if args[0] == "add" {
		fs.StringVar(&role, "role", "", "minter, verifier or auditor")
	}
	database := addDatabaseFlag(fs)
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	switch args[0] {
	case "add", "list", "revoke":
	default:
		fmt.Fprintf(stderr, "unknown callers command %q: want add, list or revoke\n", args[0])
		return errUsage
	}

	if *database == "" {
		if err := os.MkdirAll(*dataDir, 0o700); err != nil {
			return fmt.Errorf("failed to create data directory: %v", err)
		}
	}
	store, err := openBackend(ctx, *dataDir, *database, false)
	if err != nil {
		return err
	}
	defer store.Close()
	switch args[0] {
	case "add":
		return addCaller(ctx, store, name, role, stdout)
	case "revoke":
		return revokeCaller(ctx, store, name, stdout)
	}
	return listCallers(ctx, store, stdout)
}

func addCaller(ctx context.Context, store callers.Store, name, role string, stdout io.Writer) error {
	if err := callers.ValidateName(name); err != nil {
		return fmt.Errorf("--name: %v", err)
	}
	r, err := callers.ParseRole(role)
	if err != nil {
		return fmt.Errorf("--role: %v", err)
	}
	key, hash, err := callers.NewKey()
	if err != nil {
		return err
	}
	c := callers.Caller{Name: name, Role: r, KeyHash: hash, Created: time.Now().UTC()}
	if err := store.AddCaller(ctx, c); err != nil {
		if errors.Is(err, callers.ErrExists) {
			return fmt.Errorf("caller %q exists: choose another name", name)
		}
		return err
	}
	fmt.Fprintf(stdout, "added caller %s with role %s; its API key, shown only this once:\n",
		name, r)
	fmt.Fprintln(stdout, key)
	return nil
}

func revokeCaller(ctx context.Context, store callers.Store, name string, stdout io.Writer) error {
	err := store.RevokeCaller(ctx, name, time.Now().UTC())
	switch {
	case errors.Is(err, callers.ErrNotFound):
		return fmt.Errorf("no caller named %q", name)
	case errors.Is(err, callers.ErrRevoked):
		return fmt.Errorf("caller %q was revoked before", name)
	case err != nil:
		return err
	}
	fmt.Fprintf(stdout, "revoked caller %s: its key is refused from now on\n", name)
	return nil
}

func listCallers(ctx context.Context, store callers.Store, stdout io.Writer) error {
	cs, err := store.Callers(ctx)
	if err != nil {
		return err
	}
	if len(cs) == 0 {
		fmt.Fprintln(stdout, "no callers: the server accepts requests without keys "+
			"from loopback only")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tCREATED\tREVOKED")
	for _, c := range cs {
		revoked := "-"
		if !c.Active() {
			revoked = c.Revoked.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Name, c.Role,
			c.Created.Format(time.RFC3339), revoked)
	}
	return tw.Flush()
}
