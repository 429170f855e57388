// Command agentmint proves that a human approved one specific action of an
// AI agent: it mints short-lived, single-use Ed25519 tokens naming the
// approver and the action, and verifies and consumes them.
//
// Usage:
//
//	agentmint serve [flags]     run the service
//	agentmint keys list|rotate  manage the signing keys
//	agentmint audit verify|export  check or export the audit log
//	agentmint mint              mint a token through a running service
//	agentmint verify            verify a token, online or offline
//	agentmint callers add|list|revoke  manage API callers and their keys
//	agentmint passkey unlock|verify-evidence  passkey administration
//	agentmint bench [flags]     load a running server and report its speed
//	agentmint version           print the version
//
// Run "agentmint COMMAND -h" for the flags of a command.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.2.0-dev"

func main() {
	os.Exit(Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// Main runs the command line args and returns the exit code, so that the
// whole binary can be driven from a test.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		err = runServe(ctx, rest, stdout, stderr, serveHooks{})
	case "keys":
		err = runKeys(rest, stdout, stderr)
	case "audit":
		err = runAudit(ctx, rest, stdout, stderr)
	case "mint":
		err = runMint(ctx, rest, stdout, stderr)
	case "verify":
		err = runVerify(ctx, rest, stdout, stderr)
	case "callers":
		err = runCallers(ctx, rest, stdout, stderr)
	case "passkey":
		err = runPasskey(ctx, rest, stdout, stderr)
	case "bench":
		err = runBench(ctx, rest, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "agentmint", version)
	case "help", "-h", "-help", "--help":
		usage(stdout)
	default:
		fmt.Fprintf(stderr, "agentmint: unknown command %q\n\n", cmd)
		usage(stderr)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	// Errors of the client package already start with "agentmint: ".
	fmt.Fprintln(stderr, "agentmint:", strings.TrimPrefix(err.Error(), "agentmint: "))
	return 1
}

// errUsage is returned when the command line itself is wrong; the flag
// package has already said what.
var errUsage = errors.New("usage")

func usage(w io.Writer) {
	fmt.Fprint(w, `AgentMint: proof that a human approved one specific action.

Usage:
  agentmint serve [flags]       run the service
  agentmint keys list [flags]   list the signing keys and their states
  agentmint keys rotate [flags] make a new current signing key
  agentmint audit verify [flags] check the audit log: leaves, tree, checkpoints
  agentmint audit export [flags] write the audit log with proofs for auditors
  agentmint mint --sub S --action A [--url U] [--ttl N] [--aud X]
                                mint a token and print it
  agentmint verify [--offline] [--url U] TOKEN|-
                                verify a token (online: consume it) and print its claims
  agentmint callers add --name NAME --role minter|verifier|auditor
                                create an API caller and print its key once
  agentmint callers list|revoke [--name NAME]
                                list callers, or revoke one at once
  agentmint passkey unlock --user USER [flags]
                                lift a user's passkey lockout
  agentmint passkey verify-evidence [flags]
                                re-check every passkey approval in the audit log
  agentmint bench [flags]       load a running server and report its speed
  agentmint version             print the version

Run "agentmint COMMAND -h" for the flags of a command.
`)
}

// newFlagSet returns a flag set that reports errors to stderr and returns
// them instead of exiting.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses args, mapping a bad command line to errUsage.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	return nil
}

// envOr returns the environment variable name, or def if it is unset.
func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}
