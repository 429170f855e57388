// Package bench is AgentMint's load generator: it mints tokens through a
// running server, presents each once to /proxy at a chosen concurrency,
// and reports throughput and exact latency percentiles per endpoint next
// to the machine's bare Ed25519 rates measured in the same run.
//
// Latencies are kept, one time.Duration (8 bytes) per request, and sorted
// at the end, so percentiles are exact; minted tokens are kept too (about
// 300 bytes each) until they are presented. A run of a million requests
// per endpoint thus holds about 300 MB; a 10-second run on a small
// machine, well under 50 MB.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sort"
	"strings"
	"time"
)

// Config is one run.
type Config struct {
	// URL is the server's base URL, e.g. http://127.0.0.1:3000.
	URL string
	// Clients is the number of concurrent keep-alive connections.
	Clients int
	// Duration bounds each endpoint's phase when Count is zero.
	Duration time.Duration
	// Count, when positive, is the number of requests per endpoint.
	Count int
	// APIKey, when not empty, is sent as a bearer token.
	APIKey string
	// PID, when positive, is the server process whose memory is sampled.
	PID int
	// BareTime is how long each bare Ed25519 rate is measured.
	BareTime time.Duration
	// Progress, when not nil, gets a single updating line (a terminal).
	Progress io.Writer
}

// MaxDuration bounds Duration: every token must still be valid when it
// is presented, and the longest lifetime is five minutes.
const MaxDuration = 2 * time.Minute

// MaxCount bounds Count, so that a run's memory stays bounded.
const MaxCount = 1_000_000

func (c *Config) validate() error {
	switch {
	case c.URL == "":
		return errors.New("--url is required")
	case !strings.HasPrefix(c.URL, "http://") && !strings.HasPrefix(c.URL, "https://"):
		return fmt.Errorf("--url %q must start with http:// or https://", c.URL)
	case c.Clients < 1 || c.Clients > 1024:
		return errors.New("-c must be from 1 to 1024")
	case c.Count < 0 || c.Count > MaxCount:
		return fmt.Errorf("-n must be from 1 to %d", MaxCount)
	case c.Count == 0 && (c.Duration <= 0 || c.Duration > MaxDuration):
		return fmt.Errorf("-d must be positive and at most %v", MaxDuration)
	case c.BareTime <= 0 || c.BareTime > 10*time.Second:
		return errors.New("--bare-time must be positive and at most 10s")
	}
	return nil
}

// Result is what a run measured.
type Result struct {
	URL      string   `json:"url"`
	Clients  int      `json:"clients"`
	Machine  Machine  `json:"machine"`
	Bare     Bare     `json:"bare"`
	Mint     Endpoint `json:"mint"`
	Proxy    Endpoint `json:"proxy"`
	Memory   *Memory  `json:"server_memory,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
}

// Machine describes where the run happened.
type Machine struct {
	CPUs       int    `json:"cpus"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	CPUModel   string `json:"cpu_model,omitempty"`
	GoVersion  string `json:"go_version"`
	Platform   string `json:"platform"`
}

// Endpoint is one endpoint's figures.
type Endpoint struct {
	Path     string  `json:"path"`
	Requests int     `json:"requests"`
	OK       int     `json:"ok"`
	Seconds  float64 `json:"seconds"`
	PerSec   float64 `json:"per_second"`
	// OfBare is PerSec as a fraction of the matching bare Ed25519 rate:
	// verify for /proxy, sign for /mint.
	OfBare float64 `json:"fraction_of_bare"`
	// Status counts the answers other than 200 by status code.
	Status map[int]int `json:"non_200,omitempty"`
	// Errors counts requests that got no answer at all.
	Errors    int       `json:"transport_errors,omitempty"`
	FirstErr  string    `json:"first_error,omitempty"`
	Latencies Latencies `json:"latency_ms"`
	// CPU is the CPU time used during the phase, when it could be read.
	CPU *CPU `json:"cpu,omitempty"`
}

// CPU splits a phase's CPU time between the load generator and, with
// --pid, the server: on a shared machine the cost of a request is
// steadier than its rate.
type CPU struct {
	// ClientCores and ServerCores are CPU seconds per second of the phase.
	ClientCores float64 `json:"client_cores"`
	ServerCores float64 `json:"server_cores,omitempty"`
	// ServerMicros is the server's CPU time per request, in microseconds.
	ServerMicros float64 `json:"server_us_per_request,omitempty"`
}

// Failed reports whether any request of e got no 200.
func (e *Endpoint) Failed() bool { return e.OK != e.Requests }

// Run measures the bare rates, then mints tokens and presents each once.
// It returns the result even when requests failed, together with an
// error that says how many.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	// 1. Check the configuration and that the server answers.
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg.URL = strings.TrimRight(cfg.URL, "/")
	c, err := newClient(cfg)
	if err != nil {
		return nil, err
	}
	defer c.close()
	if err := c.ping(); err != nil {
		return nil, err
	}
	res := &Result{URL: cfg.URL, Clients: cfg.Clients, Machine: machine()}

	// 2. The bare Ed25519 rates on all cores, before any load (and again
	// after it).
	progress(cfg.Progress, "measuring bare Ed25519 verify and sign rates...")
	res.Bare.Before = measureBare(cfg.BareTime)

	// 3. The load, with the server's memory sampled meanwhile.
	var mem *sampler
	if cfg.PID > 0 {
		var err error
		if mem, err = startSampler(cfg.PID); err != nil {
			return nil, err
		}
	}
	var toks []string
	measureCPU(cfg.PID, &res.Mint, func() { toks = c.mintPhase(ctx, cfg, &res.Mint) })
	measureCPU(cfg.PID, &res.Proxy, func() { c.proxyPhase(ctx, cfg, toks, &res.Proxy) })
	if mem != nil {
		res.Memory = mem.stop()
	}
	progress(cfg.Progress, "measuring bare Ed25519 rates again...")
	res.Bare.After = measureBare(cfg.BareTime)
	res.Bare.Seconds = cfg.BareTime.Seconds()
	progress(cfg.Progress, "")
	if !res.Bare.combine() {
		res.Warnings = append(res.Warnings, "the bare rates changed by more than 20% "+
			"during the run: something else loads the machine, compare with care")
	}

	// 4. The ratios, and the verdict on the answers.
	res.Mint.OfBare = ratio(res.Mint.PerSec, res.Bare.SignPerSec)
	res.Proxy.OfBare = ratio(res.Proxy.PerSec, res.Bare.VerifyPerSec)
	if n := len(toks); cfg.Count == 0 && res.Proxy.Requests == n && n > 0 &&
		res.Proxy.Seconds < cfg.Duration.Seconds()*0.95 {
		res.Warnings = append(res.Warnings, fmt.Sprintf(
			"/proxy used up all %d minted tokens after %.1f s", n, res.Proxy.Seconds))
	}
	return res, verdict(res)
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// verdict fails a run in which any request got no 200.
func verdict(res *Result) error {
	var bad []string
	for _, e := range []*Endpoint{&res.Mint, &res.Proxy} {
		if e.Failed() {
			bad = append(bad, fmt.Sprintf("%d of %d %s requests failed (%s)",
				e.Requests-e.OK, e.Requests, e.Path, e.describeFailures()))
		}
	}
	if res.Mint.OK == 0 {
		bad = append(bad, "no token was minted")
	}
	if len(bad) > 0 {
		return errors.New(strings.Join(bad, "; "))
	}
	return nil
}

func (e *Endpoint) describeFailures() string {
	var parts []string
	codes := make([]int, 0, len(e.Status))
	for code := range e.Status {
		codes = append(codes, code)
	}
	sort.Ints(codes)
	for _, code := range codes {
		parts = append(parts, fmt.Sprintf("%d %s: %d", code, http.StatusText(code), e.Status[code]))
	}
	if e.Errors > 0 {
		parts = append(parts, fmt.Sprintf("no answer: %d, first: %s", e.Errors, e.FirstErr))
	}
	return strings.Join(parts, ", ")
}

func machine() Machine {
	return Machine{
		CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		CPUModel: cpuModel(), GoVersion: runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH,
	}
}

// progress rewrites the single progress line; an empty msg clears it.
func progress(w io.Writer, msg string) {
	if w == nil {
		return
	}
	fmt.Fprint(w, "\r\033[K"+msg)
}
