package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/agentmint/agentmint/internal/audit"
	"github.com/agentmint/agentmint/internal/auditlog"
	"github.com/agentmint/agentmint/internal/httpapi"
	"github.com/agentmint/agentmint/internal/keys"
	"github.com/agentmint/agentmint/internal/ledger"
)

// auditConfig is the audit log's part of serveConfig.
type auditConfig struct {
	// Origin names the log in its checkpoints and its key.
	Origin string
	// KeyDir holds the checkpoint key; replicas share it.
	KeyDir string
	// Interval and Entries: a checkpoint is signed when the log has grown
	// and Interval has passed, or Entries entries were added.
	Interval time.Duration
	Entries  int64
	// RejectRate and RejectBurst bound the rejections logged one by one.
	RejectRate  float64
	RejectBurst int
}

// addAuditFlags defines the audit flags of serve on fs.
func addAuditFlags(fs *flag.FlagSet, c *auditConfig) {
	fs.StringVar(&c.Origin, "audit-origin", envOr("AGENTMINT_AUDIT_ORIGIN", ""),
		"name of the audit log in its checkpoints; fixed by the audit key "+
			"once generated (default agentmint/HOSTNAME for a new key; env "+
			"AGENTMINT_AUDIT_ORIGIN)")
	fs.StringVar(&c.KeyDir, "audit-key-dir", envOr("AGENTMINT_AUDIT_KEY_DIR", ""),
		"directory of the checkpoint key, shared by replicas "+
			"(default DATA-DIR/audit; env AGENTMINT_AUDIT_KEY_DIR)")
	fs.DurationVar(&c.Interval, "checkpoint-interval",
		envDuration("AGENTMINT_CHECKPOINT_INTERVAL", auditlog.DefaultInterval),
		"sign a checkpoint this often when the log grew "+
			"(env AGENTMINT_CHECKPOINT_INTERVAL)")
	fs.Int64Var(&c.Entries, "checkpoint-entries",
		envInt("AGENTMINT_CHECKPOINT_ENTRIES", auditlog.DefaultEntries),
		"or after this many new entries (env AGENTMINT_CHECKPOINT_ENTRIES)")
	fs.Float64Var(&c.RejectRate, "audit-reject-rate",
		envFloat("AGENTMINT_AUDIT_REJECT_RATE", httpapi.DefaultRejectRate),
		"rejections per second, per class, logged one by one; the rest "+
			"are counted in a summary entry (env AGENTMINT_AUDIT_REJECT_RATE)")
	fs.IntVar(&c.RejectBurst, "audit-reject-burst",
		int(envInt("AGENTMINT_AUDIT_REJECT_BURST", httpapi.DefaultRejectBurst)),
		"burst of rejections logged one by one "+
			"(env AGENTMINT_AUDIT_REJECT_BURST)")
}

func (c *auditConfig) validate() error {
	switch {
	case c.Interval < 100*time.Millisecond:
		return errors.New("--checkpoint-interval must be at least 100ms")
	case c.Entries < 1:
		return errors.New("--checkpoint-entries must be at least 1")
	case !(c.RejectRate > 0) || c.RejectBurst < 1:
		return errors.New("--audit-reject-rate and --audit-reject-burst " +
			"must be positive")
	}
	return nil
}

// envDuration, envInt and envFloat read a default from the environment;
// a malformed value is kept as the zero value, which validate refuses.
func envDuration(name string, def time.Duration) time.Duration {
	v, ok := os.LookupEnv(name)
	if !ok {
		return def
	}
	d, _ := time.ParseDuration(v)
	return d
}

func envInt(name string, def int64) int64 {
	v, ok := os.LookupEnv(name)
	if !ok {
		return def
	}
	n, _ := strconv.ParseInt(v, 10, 64)
	return n
}

func envFloat(name string, def float64) float64 {
	v, ok := os.LookupEnv(name)
	if !ok {
		return def
	}
	f, _ := strconv.ParseFloat(v, 64)
	return f
}

// auditDir is where the checkpoint key and the mirrored checkpoint live.
func auditDir(dataDir string) string { return filepath.Join(dataDir, "audit") }

// dbPath is the SQLite file in the data directory.
func dbPath(dataDir string) string {
	return filepath.Join(dataDir, "agentmint.db")
}

// openAuditLog loads or makes the checkpoint key and starts the log: the
// tree is brought up to date and checked against the mirrored checkpoint.
func openAuditLog(ctx context.Context, cfg serveConfig, store ledger.AuditTree,
	log *slog.Logger, now func() time.Time) (*auditlog.Log, error) {
	dir := auditDir(cfg.DataDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("failed to create audit directory: %v", err)
	}
	keyDir := cfg.Audit.KeyDir
	if keyDir == "" {
		keyDir = dir
	}
	k, err := auditlog.OpenKey(keyDir, cfg.Audit.Origin)
	if err != nil {
		return nil, err
	}
	l := auditlog.New(auditlog.Config{
		Tree: store, Key: k, Mirror: filepath.Join(dir, auditlog.MirrorFile),
		Log: log, Now: now, Interval: cfg.Audit.Interval,
		Entries: cfg.Audit.Entries,
	})
	if err := l.Start(ctx); err != nil {
		return nil, fmt.Errorf("failed to start audit log: %v", err)
	}
	return l, nil
}

// recordKeyRotation appends a key_rotated entry if the current signing key
// is not the one the last such entry names: at the first start, and after
// a reload that found a new key. The check and the append are one
// transaction, so replicas that start at once record the key once.
func recordKeyRotation(ctx context.Context, store ledger.Store,
	ring *keys.Ring, now func() time.Time, log *slog.Logger) {
	kid := ring.Current().ID
	_, err := store.AppendAfter(ctx, audit.EventKeyRotated,
		func(last *audit.Entry) (audit.Entry, bool) {
			var prev struct {
				Kid string `json:"kid"`
			}
			if last != nil {
				json.Unmarshal(last.Evidence, &prev)
			}
			if prev.Kid == kid {
				return audit.Entry{}, false
			}
			ev, _ := json.Marshal(map[string]string{"kid": kid, "previous": prev.Kid})
			if prev.Kid == "" {
				ev, _ = json.Marshal(map[string]string{"kid": kid})
			}
			return audit.Entry{Time: now(), Event: audit.EventKeyRotated,
				Evidence: ev}, true
		})
	if err != nil {
		log.Error("failed to record key rotation", slog.String("error", err.Error()))
	}
}

// auditWork is the audit log's background work while serving.
type auditWork struct {
	log   *auditlog.Log
	api   *httpapi.Server
	every time.Duration
	stop  context.CancelFunc
	done  chan struct{}
}

// startAuditWork runs the tree builder and flushes dropped rejections.
func startAuditWork(l *auditlog.Log, api *httpapi.Server, every time.Duration,
	log *slog.Logger) *auditWork {
	ctx, stop := context.WithCancel(context.Background())
	w := &auditWork{log: l, api: api, every: every, stop: stop,
		done: make(chan struct{})}
	go func() {
		defer close(w.done)
		ran := make(chan struct{})
		go func() { l.Run(ctx); close(ran) }()
		defer func() { <-ran }()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := api.FlushRejections(ctx); err != nil {
					log.Warn("failed to log dropped rejections",
						slog.String("error", err.Error()))
				}
			}
		}
	}()
	return w
}

// finish stops the background work and signs the final checkpoint; called
// after the HTTP server has stopped.
func (w *auditWork) finish(log *slog.Logger) {
	w.stop()
	<-w.done
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.api.FlushRejections(ctx); err != nil {
		log.Warn("failed to log dropped rejections", slog.String("error", err.Error()))
	}
	if _, err := w.log.CatchUp(ctx); err != nil {
		log.Error("failed to update audit tree", slog.String("error", err.Error()))
		return
	}
	c, err := w.log.Sign(ctx)
	if err != nil {
		log.Error("failed to sign checkpoint", slog.String("error", err.Error()))
		return
	}
	log.Info("signed final checkpoint", slog.Int64("size", c.Size))
}
