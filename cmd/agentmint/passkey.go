package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/agentmint/agentmint/internal/audit"
	"github.com/agentmint/agentmint/internal/ledger"
	"github.com/agentmint/agentmint/internal/passkey"
	"github.com/agentmint/agentmint/token"
)

// webauthnConfig is the relying party of the passkey endpoints.
type webauthnConfig struct {
	RPID     string
	RPOrigin string
}

func (c *webauthnConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.RPID, "webauthn-rp-id",
		envOr("AGENTMINT_WEBAUTHN_RP_ID", envOr("WEBAUTHN_RP_ID", "")),
		"WebAuthn relying party id, e.g. example.com; enables passkeys "+
			"(env AGENTMINT_WEBAUTHN_RP_ID or WEBAUTHN_RP_ID)")
	fs.StringVar(&c.RPOrigin, "webauthn-rp-origin",
		envOr("AGENTMINT_WEBAUTHN_RP_ORIGIN", envOr("WEBAUTHN_RP_ORIGIN", "")),
		"the origin of the passkey page, e.g. https://example.com "+
			"(env AGENTMINT_WEBAUTHN_RP_ORIGIN or WEBAUTHN_RP_ORIGIN)")
}

// validate checks that the two are given together and agree: the origin
// is https (or http on localhost) and its host is the RP id or under it.
func (c *webauthnConfig) validate() error {
	if c.RPID == "" && c.RPOrigin == "" {
		return nil
	}
	if c.RPID == "" || c.RPOrigin == "" {
		return errors.New("--webauthn-rp-id and --webauthn-rp-origin go together")
	}
	u, err := url.Parse(c.RPOrigin)
	if err != nil || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil {
		return fmt.Errorf("invalid --webauthn-rp-origin %q: want scheme://host[:port]", c.RPOrigin)
	}
	host := u.Hostname()
	switch {
	case u.Scheme != "https" && !(u.Scheme == "http" && host == "localhost"):
		return fmt.Errorf("invalid --webauthn-rp-origin %q: must be https, or http on localhost", c.RPOrigin)
	case host != c.RPID && !strings.HasSuffix(host, "."+c.RPID):
		return fmt.Errorf("--webauthn-rp-origin host %q is not %q or under it", host, c.RPID)
	}
	return nil
}

// newPasskeys returns the passkey service, or nil when passkeys are off.
func newPasskeys(c webauthnConfig, store store, log *slog.Logger,
	now func() time.Time) (*passkey.Service, error) {
	if c.RPID == "" {
		return nil, nil
	}

	log.Info("passkeys enabled", slog.String("rp_id", c.RPID), slog.String("origin", c.RPOrigin))
	return passkey.New(passkey.Config{
		RPID: c.RPID, RPOrigin: c.RPOrigin, Store: store.Passkeys(), Audit: store,
		Log: log, Now: now,
	})
}

func prunePasskeys(ctx context.Context, p *passkey.Service, log *slog.Logger) {
	if p == nil {
		return
	}
	if _, err := p.Prune(ctx); err != nil {
		log.Warn("failed to prune passkey challenges", slog.String("error", err.Error()))
	}
}

func runPasskey(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: agentmint passkey unlock|verify-evidence [flags]")
		return errUsage
	}
	fs := newFlagSet("passkey "+args[0], stderr)
	dataDir := fs.String("data-dir", envOr("AGENTMINT_DATA_DIR", "./agentmint-data"),
		"directory for keys and the ledger (env AGENTMINT_DATA_DIR)")
	var user string
	if args[0] == "unlock" {
		fs.StringVar(&user, "user", "", "the user to unlock (required)")
	}
	database := addDatabaseFlag(fs)
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	switch args[0] {
	case "unlock":
		if token.ValidateSub(user) != nil {
			fmt.Fprintln(stderr, "--user must name a user")
			return errUsage
		}
		return withStore(ctx, *dataDir, *database, func(s store) error {
			return unlockUser(ctx, s, user, stdout)
		})
	case "verify-evidence":
		return withStore(ctx, *dataDir, *database, func(s store) error {
			return verifyPasskeyEvidence(ctx, s, stdout)
		})
	}
	fmt.Fprintf(stderr, "unknown passkey command %q: want unlock or verify-evidence\n", args[0])
	return errUsage
}

// withStore opens the deployment's store for f: the database at url, or
// the data directory's SQLite file, which a running server may hold too
// (SQLite lets both write, one transaction at a time).
func withStore(ctx context.Context, dataDir, url string, f func(store) error) error {
	s, err := openBackend(ctx, dataDir, url, false)
	if err != nil {
		return err
	}
	return errors.Join(f(s), s.Close())
}

func unlockUser(ctx context.Context, s store, user string, stdout io.Writer) error {
	locked, err := passkey.Unlock(ctx, s.Passkeys(), s, user, time.Now())
	if err != nil {
		return err
	}
	if locked {
		fmt.Fprintf(stdout, "unlocked %s\n", user)
	} else {
		fmt.Fprintf(stdout, "%s was not locked out; failure count cleared\n", user)
	}
	return nil
}

// verifyPasskeyEvidence re-checks every passkey approval in the audit log
// (passkey.VerifyEntries).
func verifyPasskeyEvidence(ctx context.Context, s store, stdout io.Writer) error {
	var all []audit.Entry
	for before := int64(0); ; {
		page, err := s.Entries(ctx, ledger.Filter{Before: before, Limit: 1000})
		if err != nil {
			return err
		}
		all = append(all, page...)
		if len(page) < 1000 || page[len(page)-1].Index == 0 {
			break
		}
		before = page[len(page)-1].Index
	}
	slices.Reverse(all)
	n, err := passkey.VerifyEntries(all)
	if err != nil {
		return fmt.Errorf("passkey evidence does not verify: %v", err)
	}
	fmt.Fprintf(stdout, "%d passkey approvals verified\n", n)
	return nil
}
