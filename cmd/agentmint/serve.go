package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/agentmint/agentmint/internal/callers"
	"github.com/agentmint/agentmint/internal/httpapi"
	"github.com/agentmint/agentmint/internal/keys"
	"github.com/agentmint/agentmint/internal/ledger"
	"github.com/agentmint/agentmint/internal/metrics"
	"github.com/agentmint/agentmint/internal/passkey"
	"github.com/agentmint/agentmint/internal/postgres"
	"github.com/agentmint/agentmint/internal/sqlite"
)

// serveConfig is the configuration of `agentmint serve`.
type serveConfig struct {
	Addr      string
	DataDir   string
	KeysDir   string
	Database  string
	Issuer    string
	LogLevel  slog.Level
	LogFormat string
	// ShutdownTimeout bounds how long in-flight requests may take to
	// finish after SIGINT or SIGTERM.
	ShutdownTimeout time.Duration
	// DebugAddr, if set, serves Go's profiler on a loopback address.
	DebugAddr string
	// PruneEvery is how often expired jtis are pruned.
	PruneEvery time.Duration
	// Audit configures the audit log.
	Audit auditConfig
	// KeyPoll is how often the key directory is read again, so that a
	// rotation made by `agentmint keys rotate` or another replica takes
	// effect without a signal. SIGHUP reloads at once.
	KeyPoll time.Duration
	exposure
	// WebAuthn configures passkeys; they are off unless its RPID is set.
	WebAuthn webauthnConfig
}

// serveHooks let tests reach into a running server.
type serveHooks struct {
	now        func() time.Time  // the clock; nil means time.Now
	ready      func(addr string) // called with the listening address
	pruneEvery time.Duration     // how often to prune; zero means 30s
}

func parseServeConfig(args []string, stderr io.Writer) (serveConfig, error) {
	c := serveConfig{ShutdownTimeout: 15 * time.Second, PruneEvery: 30 * time.Second}
	fs := newFlagSet("serve", stderr)
	fs.StringVar(&c.Addr, "addr", envOr("AGENTMINT_ADDR", ":3000"),
		"address to listen on (env AGENTMINT_ADDR)")
	fs.StringVar(&c.DataDir, "data-dir", envOr("AGENTMINT_DATA_DIR", "./agentmint-data"),
		"directory for keys and the ledger (env AGENTMINT_DATA_DIR)")
	fs.StringVar(&c.KeysDir, "keys-dir", envOr("AGENTMINT_KEYS_DIR", ""),
		"directory of the signing keys, shared by replicas (env AGENTMINT_KEYS_DIR; default DATA-DIR/keys)")
	fs.StringVar(&c.Database, "database", envOr("AGENTMINT_DATABASE", ""),
		"postgres://... to share the ledger between replicas (env AGENTMINT_DATABASE; default SQLite in the data directory)")
	fs.StringVar(&c.Issuer, "issuer", envOr("AGENTMINT_ISSUER", "agentmint"),
		"the iss of minted tokens, and the only one accepted (env AGENTMINT_ISSUER)")
	level := fs.String("log-level", envOr("AGENTMINT_LOG_LEVEL", "info"),
		"debug, info, warn or error (env AGENTMINT_LOG_LEVEL)")
	fs.StringVar(&c.DebugAddr, "debug-addr", envOr("AGENTMINT_DEBUG_ADDR", ""),
		"loopback address to serve Go's profiler on, e.g. 127.0.0.1:6060 (env AGENTMINT_DEBUG_ADDR)")
	fs.StringVar(&c.LogFormat, "log-format", envOr("AGENTMINT_LOG_FORMAT", "auto"),
		"text, json, or auto: text on a terminal (env AGENTMINT_LOG_FORMAT)")
	addAuditFlags(fs, &c.Audit)
	fs.DurationVar(&c.KeyPoll, "key-poll", envDuration("AGENTMINT_KEY_POLL", 5*time.Second),
		"how often to reread the key directory for rotations, at most 60s (env AGENTMINT_KEY_POLL)")
	c.exposure.register(fs)
	c.WebAuthn.flags(fs)
	if err := parseFlags(fs, args); err != nil {
		return c, err
	}
	if err := c.exposure.parse(); err != nil {
		return c, err
	}
	if err := c.LogLevel.UnmarshalText([]byte(*level)); err != nil {
		return c, fmt.Errorf("invalid log level %q: want debug, info, warn or error", *level)
	}
	if c.KeysDir == "" {
		c.KeysDir = filepath.Join(c.DataDir, "keys")
	}
	return c, c.validate()
}

func (c *serveConfig) validate() error {
	switch {
	case c.Addr == "":
		return errors.New("--addr must not be empty")
	case c.DataDir == "":
		return errors.New("--data-dir must not be empty")
	case c.Database != "" && !strings.HasPrefix(c.Database, "postgres://") &&
		!strings.HasPrefix(c.Database, "postgresql://"):
		return errors.New("--database must be a postgres:// url")
	case c.Issuer == "" || len(c.Issuer) > 256:
		return errors.New("--issuer must be 1 to 256 characters")
	case c.KeyPoll <= 0 || c.KeyPoll > keys.Propagation:
		// A server may sign with a superseded key until it polls; the
		// keyring's retirement schedule allows for Propagation.
		return fmt.Errorf("--key-poll (env AGENTMINT_KEY_POLL) must be a duration more than 0 and at most %v", keys.Propagation)
	}
	switch c.LogFormat {
	case "auto", "text", "json":
	default:
		return fmt.Errorf("invalid log format %q: want text, json or auto", c.LogFormat)
	}
	_, port, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("invalid --addr %q: %v", c.Addr, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("invalid --addr %q: the port must be a number from 0 to 65535", c.Addr)
	}
	if err := c.Audit.validate(); err != nil {
		return err
	}
	return c.WebAuthn.validate()
}

func newLogger(c serveConfig, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	format := c.LogFormat
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok {
			if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
				format = "text"
			}
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer, hooks serveHooks) error {
	// 1. Configuration, checked before anything starts.
	cfg, err := parseServeConfig(args, stderr)
	if err != nil {
		return err
	}
	now := hooks.now
	if now == nil {
		now = time.Now
	}
	log := newLogger(cfg, stderr)
	tuneGC(os.Getenv)
	tuneProcs(os.Getenv)
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	if hooks.pruneEvery > 0 {
		cfg.PruneEvery = hooks.pruneEvery
	}

	// 2. The data directory; with SQLite, locked so that no second
	// process writes the ledger.
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("failed to create data directory: %v", err)
	}
	if cfg.Database == "" {
		unlock, err := lockDir(cfg.DataDir)
		if err != nil {
			return err
		}
		defer unlock()
	}

	// 3. The signing keys: loaded, or generated on first start.
	ring, err := keys.Open(cfg.KeysDir, now)
	if err != nil {
		return err
	}

	// 4. The store.
	store, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()

	// 5. The audit log: its tree caught up and checked, the current
	// signing key recorded.
	alog, err := openAuditLog(ctx, cfg, store, log, now)
	if err != nil {
		return err
	}
	recordKeyRotation(ctx, store, ring, now, log)

	// 6. Passkeys, if configured, and the HTTP server, with a warning if
	// it takes requests without keys.
	passkeys, err := newPasskeys(cfg.WebAuthn, store, log, now)
	if err != nil {
		return err
	}
	if err := warnIfOpen(ctx, store, cfg.exposure, log); err != nil {
		return err
	}
	api := httpapi.New(httpapi.Config{
		Store: store, Keys: ring, Meter: metrics.New(), Log: log,
		Issuer: cfg.Issuer, Now: now, Audit: alog,
		RejectRate: cfg.Audit.RejectRate, RejectBurst: cfg.Audit.RejectBurst,
		Callers: store, MetricsPublic: cfg.MetricsPublic,
		LocalNets: cfg.LocalNets, TrustedProxies: cfg.TrustedProxies,
		Limits:   cfg.Limits,
		Passkeys: passkeys,
	})
	srv := &http.Server{
		Handler:           api,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("failed to listen: %v", err)
	}
	addr := ln.Addr()
	ln, scheme, err := cfg.tlsListener(ln)
	if err != nil {
		return err
	}
	stopDebug, err := serveDebug(cfg.DebugAddr, log)
	if err != nil {
		return err
	}
	defer stopDebug()
	printBanner(stdout, scheme, addr)
	log.Info("serving", slog.String("addr", ln.Addr().String()),
		slog.String("scheme", scheme),
		slog.String("data_dir", cfg.DataDir), slog.String("kid", ring.Current().ID))
	if hooks.ready != nil {
		hooks.ready(ln.Addr().String())
	}

	// 7. Serve until a signal or ctx ends it; prune, reload keys and
	// keep the audit tree up to date meanwhile; sign a last checkpoint.
	work := startAuditWork(alog, api, cfg.Audit.Interval, log)
	defer work.finish(log)
	return serveUntilDone(ctx, hup, srv, ln, store, ring, cfg, log, now, passkeys)
}

func serveUntilDone(ctx context.Context, hup <-chan os.Signal, srv *http.Server,
	ln net.Listener, store ledger.Store, ring *keys.Ring, cfg serveConfig,
	log *slog.Logger, now func() time.Time, passkeys *passkey.Service) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	prune := time.NewTicker(cfg.PruneEvery)
	defer prune.Stop()
	poll := time.NewTicker(cfg.KeyPoll)
	defer poll.Stop()
	for {
		select {
		case err := <-errc:
			return fmt.Errorf("server stopped: %v", err)
		case <-hup:
			reloadKeys(ring, log)
			recordKeyRotation(ctx, store, ring, now, log)
		case <-poll.C:
			if reloadKeys(ring, log) {
				recordKeyRotation(ctx, store, ring, now, log)
			}
		case <-prune.C:
			pruneLedger(ctx, store, now, log)
			prunePasskeys(ctx, passkeys, log)
		case <-ctx.Done():
			log.Info("shutting down: finishing in-flight requests")
			sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil {
				log.Warn("shutdown incomplete", slog.String("error", err.Error()))
			}
			log.Info("stopped")
			return nil
		}
	}
}

// store is what serve and the admin commands need of a backend: the
// ledger, the audit tree, the callers and the passkeys.
type store interface {
	ledger.Store
	ledger.AuditTree
	callers.Store
	Passkeys() passkey.Store
}

// openStore opens PostgreSQL when a database url is configured, and the
// SQLite file in the data directory otherwise.
func openStore(ctx context.Context, cfg serveConfig) (store, error) {
	return openBackend(ctx, cfg.DataDir, cfg.Database, false)
}

// openBackend opens the database at url, or else the SQLite file in
// dataDir; readOnly applies to SQLite, which can then be read beside a
// running server without writing.
func openBackend(ctx context.Context, dataDir, url string, readOnly bool) (store, error) {
	if url != "" {
		if !strings.HasPrefix(url, "postgres://") && !strings.HasPrefix(url, "postgresql://") {
			return nil, errors.New("--database must be a postgres:// url")
		}
		return postgres.Open(ctx, url, postgres.Options{})
	}
	return sqlite.Open(dbPath(dataDir), sqlite.Options{ReadOnly: readOnly})
}

// addDatabaseFlag defines --database for an admin command.
func addDatabaseFlag(fs *flag.FlagSet) *string {
	return fs.String("database", envOr("AGENTMINT_DATABASE", ""),
		"postgres://... of a deployment on PostgreSQL (env AGENTMINT_DATABASE; default the SQLite file in --data-dir)")
}

// reloadKeys reads the key directory again, logs when the set changed and
// reports whether it did.
func reloadKeys(ring *keys.Ring, log *slog.Logger) bool {
	before := ring.Keys()
	if err := ring.Reload(); err != nil {
		log.Error("failed to reload keys; keeping the previous set",
			slog.String("error", err.Error()))
		return false
	}
	after := ring.Keys()
	if len(after) == len(before) && after[len(after)-1].ID == before[len(before)-1].ID {
		return false
	}
	log.Info("keys reloaded", slog.String("kid", ring.Current().ID),
		slog.Int("keys", len(after)))
	return true
}

func pruneLedger(ctx context.Context, store ledger.Store, now func() time.Time, log *slog.Logger) {
	for {
		n, err := store.Prune(ctx, now())
		if err != nil {
			log.Warn("failed to prune ledger", slog.String("error", err.Error()))
			return
		}
		if n > 0 {
			log.Debug("pruned expired jtis", slog.Int64("count", n))
		}
		if n < 10000 {
			return
		}
	}
}

// lockDir takes an exclusive lock on dir, released by the returned
// function or when the process dies.
func lockDir(dir string) (func(), error) {
	path := filepath.Join(dir, "lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("failed to open lock file: %v", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("data directory %s is in use by another agentmint process", dir)
	}
	return func() { f.Close() }, nil
}

func printBanner(w io.Writer, scheme string, addr net.Addr) {
	// The lock is two columns wide on a terminal but one rune.
	title := "🔐 AgentMint v" + strings.TrimPrefix(version, "v")
	fmt.Fprintln(w, "╔═══════════════════════════════════════════════════════════╗")
	fmt.Fprintf(w, "║     %-53s║\n", title)
	fmt.Fprintf(w, "║     %-54s║\n", "Cryptographic proof of human authorization")
	fmt.Fprintln(w, "╚═══════════════════════════════════════════════════════════╝")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "✓ Server ready → %s://%s\n", scheme, displayAddr(addr))
}

// displayAddr writes an unspecified listening address as 0.0.0.0, as the
// prototype did.
func displayAddr(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "0.0.0.0"
	}
	return net.JoinHostPort(host, port)
}

// serveGCPercent is the garbage collector's target while serving, unless
// GOGC is set. The server's live heap is a few MiB, so Go's default (100)
// collects very often: at 400, /proxy and /mint took about a tenth less
// CPU per request under `agentmint bench -c 32`, and the peak RSS went
// from 33 to 44 MiB.
const serveGCPercent = 400

// tuneGC sets the collector's target to serveGCPercent unless the
// operator chose one with GOGC.
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(serveGCPercent)
	}
}

// startProcs is GOMAXPROCS as the runtime chose it at start, from the
// cores (and any CPU limit) the process may use.
var startProcs = runtime.GOMAXPROCS(0)

// tuneProcs runs one more P than the runtime's choice, unless the
// operator set GOMAXPROCS. The ledger's writer spends much of each
// group commit in write and fsync system calls; when it comes back, its
// P has often gone to a request, and the whole commit, with every
// request in it, waits in the run queue for a P. With a spare P it
// carries on at once. Under `agentmint bench -c 32` on two cores, in
// three alternating rounds, /proxy went from 7,192, 7,039 and 8,296/s
// with 2 Ps to 7,953, 8,210 and 9,491/s with 3, and its p99 from 11.3,
// 11.1 and 9.6 ms to 9.9, 9.6 and 8.9 ms. NOTE: setting it stops the
// runtime from following later changes to the CPU limit.
func tuneProcs(getenv func(string) string) {
	if getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(startProcs + 1)
	}
}
