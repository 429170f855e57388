package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/agentmint/agentmint/client"
	"github.com/agentmint/agentmint/token"
)

// clientFlags are the flags every client command shares.
type clientFlags struct {
	url, apiKey string
}

func addClientFlags(fs *flag.FlagSet) *clientFlags {
	var f clientFlags
	fs.StringVar(&f.url, "url", envOr("AGENTMINT_URL", "http://localhost:3000"),
		"base URL of the AgentMint service (env AGENTMINT_URL)")
	fs.StringVar(&f.apiKey, "api-key", "",
		"API key, sent as Authorization: Bearer (env AGENTMINT_API_KEY, preferred: flags show in ps)")
	return &f
}

func (f *clientFlags) client(opts ...client.Option) (*client.Client, error) {
	key := f.apiKey
	if key == "" {
		key = os.Getenv("AGENTMINT_API_KEY")
	}
	if key != "" {
		opts = append(opts, client.WithAPIKey(key))
	}
	return client.New(f.url, opts...)
}

// runMint mints a token and prints it: the one place the CLI prints a
// token.
func runMint(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("mint", stderr)
	cf := addClientFlags(fs)
	sub := fs.String("sub", "", "who approved, such as alice@company.com (required)")
	action := fs.String("action", "", "the approved action, such as refund:order:123 (required)")
	ttl := fs.Int("ttl", 0, "lifetime in seconds, 1 to 300 (default: the service's, 60)")
	aud := fs.String("aud", "", "bind the token to this audience")
	details := fs.String("details", "", `JSON object of parameters, such as '{"amount":50}'`)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *sub == "" || *action == "" {
		fmt.Fprintln(stderr, "mint needs --sub and --action")
		return errUsage
	}
	if flagSet(fs, "ttl") && (*ttl < 1 || *ttl > 300) {
		fmt.Fprintln(stderr, "--ttl must be a whole number of seconds from 1 to 300")
		return errUsage
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	req := client.MintRequest{Sub: *sub, Action: *action, Aud: *aud,
		TTL: time.Duration(*ttl) * time.Second}
	if *details != "" {
		if !json.Valid([]byte(*details)) {
			return errors.New("--details is not valid JSON")
		}
		req.Details = json.RawMessage(*details)
	}
	m, err := c.Mint(ctx, req)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, m.Token)
	return nil
}

// runVerify verifies a token online (consuming it) or offline, prints the
// claims as JSON, and fails on any rejection.
func runVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("verify", stderr)
	cf := addClientFlags(fs)
	offline := fs.Bool("offline", false,
		"check against the published keys without consuming (cannot detect a replay)")
	action := fs.String("action", "", "require the token to be for this action")
	aud := fs.String("aud", "", "require the token to be for this audience")
	issuer := fs.String("issuer", envOr("AGENTMINT_ISSUER", client.DefaultIssuer),
		"the issuer to require offline (env AGENTMINT_ISSUER)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: agentmint verify [flags] TOKEN|-   (- reads the token from stdin)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	tok, err := readToken(fs.Arg(0))
	if err != nil {
		return err
	}
	c, err := cf.client(client.WithIssuer(*issuer))
	if err != nil {
		return err
	}
	var opts []client.VerifyOption
	if *action != "" {
		opts = append(opts, client.ForAction(*action))
	}
	if *aud != "" {
		opts = append(opts, client.ForAudience(*aud))
	}

	var out any
	if *offline {
		out, err = c.VerifyOffline(ctx, tok, opts...)
	} else {
		out, err = c.Verify(ctx, tok, opts...)
	}
	if err != nil {
		return rejection(err)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// readToken returns arg, or the first line of stdin if arg is "-", so that
// a token need not appear in the process list.
func readToken(arg string) (string, error) {
	if arg != "-" {
		return arg, nil
	}
	line, err := bufio.NewReader(io.LimitReader(os.Stdin, token.MaxTokenSize+2)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("failed to read token from stdin: %v", err)
	}
	return strings.TrimSpace(line), nil
}

// rejection says why a token was refused, by code and reason, never
// repeating the token.
func rejection(err error) error {
	var ae *client.APIError
	var te *token.Error
	switch {
	case errors.As(err, &te):
		return errors.New("token rejected offline: reason " + string(te.Reason))
	case errors.Is(err, client.ErrUnavailable):
		return err
	case errors.As(err, &ae) && ae.Code != "":
		msg := "token rejected: " + ae.Code
		if ae.Reason != "" {
			msg += " (reason " + ae.Reason + ")"
		}
		return errors.New(msg)
	}
	return err
}

// flagSet reports whether the command line gave the flag name.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
