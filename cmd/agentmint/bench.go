package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"time"

	"github.com/agentmint/agentmint/internal/bench"
)

// runBench is `agentmint bench`: the load generator against a running
// server.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	// 1. Flags.
	cfg := bench.Config{BareTime: 1500 * time.Millisecond}
	fs := newFlagSet("bench", stderr)
	fs.StringVar(&cfg.URL, "url", envOr("AGENTMINT_URL", "http://127.0.0.1:3000"),
		"base URL of the server (env AGENTMINT_URL)")
	fs.IntVar(&cfg.Clients, "c", 32, "concurrent clients (keep-alive connections)")
	fs.DurationVar(&cfg.Duration, "d", 10*time.Second,
		"how long to load each endpoint, at most 2m (ignored with -n)")
	fs.IntVar(&cfg.Count, "n", 0, "requests per endpoint instead of a duration")
	fs.StringVar(&cfg.APIKey, "api-key", os.Getenv("AGENTMINT_API_KEY"),
		"API key sent as a bearer token (env AGENTMINT_API_KEY)")
	fs.IntVar(&cfg.PID, "pid", 0, "server process whose memory to sample (Linux)")
	fs.DurationVar(&cfg.BareTime, "bare-time", cfg.BareTime,
		"how long to measure each bare Ed25519 rate")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}

	// 2. Progress only on a terminal.
	if isTerminal(stderr) {
		cfg.Progress = stderr
	}

	// 3. Run, then report even a failed run before failing.
	res, err := bench.Run(ctx, cfg)
	if res == nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if jerr := enc.Encode(res); jerr != nil {
			return jerr
		}
	} else {
		bench.WriteText(stdout, res, cfg)
	}
	return err
}

// isTerminal reports whether w is a character device such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
