package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// mintBody is the request of every /mint: the longest lifetime, so that
// tokens minted at the start of a run are still valid when presented.
var mintBody = []byte(`{"sub":"bench@agentmint.local","action":"bench:proxy","ttl_seconds":300}`)

type client struct {
	t      *target
	apiKey string
	conns  []wireConn // one per worker
	mint   []byte     // the /mint request, rendered once
}

func newClient(cfg Config) (*client, error) {
	t, err := parseTarget(cfg.URL)
	if err != nil {
		return nil, err
	}
	c := &client{t: t, apiKey: cfg.APIKey, conns: make([]wireConn, cfg.Clients)}
	for i := range c.conns {
		c.conns[i].t = t
	}
	c.mint = t.request("POST", "/mint", cfg.APIKey, mintBody)
	return c, nil
}

func (c *client) close() {
	for i := range c.conns {
		c.conns[i].close()
	}
}

func (c *client) ping() error {
	w := &wireConn{t: c.t}
	defer w.close()
	status, _, err := w.roundTrip(c.t.request("GET", "/health", "", nil))
	if err != nil {
		return fmt.Errorf("server at %s does not answer: %v", c.t.addr, err)
	}
	if status != 200 {
		return fmt.Errorf("server at %s: GET /health answered %d", c.t.addr, status)
	}
	return nil
}

// mintPhase mints tokens and returns those it got.
func (c *client) mintPhase(ctx context.Context, cfg Config, e *Endpoint) []string {
	perWorker := make([][]string, cfg.Clients)
	limit := cfg.Count
	if limit == 0 {
		limit = MaxCount
	}
	*e = c.phase(ctx, cfg, "/mint", limit, func(w, _ int) (int, error) {
		status, b, err := c.conns[w].roundTrip(c.mint)
		if err != nil || status != http.StatusOK {
			return status, err
		}
		var m struct{ Token string }
		if err := json.Unmarshal(b, &m); err != nil || m.Token == "" {
			return status, fmt.Errorf("/mint answered 200 without a token")
		}
		perWorker[w] = append(perWorker[w], m.Token)
		return status, nil
	})
	var toks []string
	for _, ts := range perWorker {
		toks = append(toks, ts...)
	}
	return toks
}

// proxyPhase presents each token once.
func (c *client) proxyPhase(ctx context.Context, cfg Config, toks []string, e *Endpoint) {
	*e = c.phase(ctx, cfg, "/proxy", len(toks), func(w, i int) (int, error) {
		// Tokens are base64url and dots: nothing to escape.
		body := []byte(`{"token":"` + toks[i] + `"}`)
		status, _, err := c.conns[w].roundTrip(c.t.request("POST", "/proxy", c.apiKey, body))
		return status, err
	})
}

// worker is one client's record.
type worker struct {
	lat      []time.Duration
	ok       int
	status   map[int]int
	errs     int
	firstErr error
}

// phase runs send on cfg.Clients workers for at most limit requests and,
// without a count, at most cfg.Duration. send gets the worker's number
// and the request's.
func (c *client) phase(ctx context.Context, cfg Config, path string, limit int,
	send func(w, i int) (int, error)) Endpoint {
	var next, done atomic.Int64
	workers := make([]worker, cfg.Clients)
	start := time.Now()
	deadline := start.Add(cfg.Duration)
	stopProgress := showProgress(cfg.Progress, path, start, &done)
	defer context.AfterFunc(ctx, func() {
		for i := range c.conns {
			c.conns[i].interrupt()
		}
	})()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			r := &workers[w]
			r.status = map[int]int{}
			for {
				i := int(next.Add(1) - 1)
				if i >= limit || ctx.Err() != nil ||
					cfg.Count == 0 && time.Now().After(deadline) {
					return
				}
				t0 := time.Now()
				status, err := send(w, i)
				r.lat = append(r.lat, time.Since(t0))
				done.Add(1)
				r.record(status, err)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	stopProgress()
	return summarizePhase(path, workers, elapsed)
}

func (r *worker) record(status int, err error) {
	switch {
	case err != nil:
		r.errs++
		if r.firstErr == nil {
			r.firstErr = err
		}
	case status == http.StatusOK:
		r.ok++
	default:
		r.status[status]++
	}
}

func summarizePhase(path string, workers []worker, elapsed time.Duration) Endpoint {
	e := Endpoint{Path: path, Seconds: elapsed.Seconds()}
	var all []time.Duration
	for _, w := range workers {
		all = append(all, w.lat...)
		e.OK += w.ok
		e.Errors += w.errs
		if w.firstErr != nil && e.FirstErr == "" {
			e.FirstErr = w.firstErr.Error()
		}
		for code, n := range w.status {
			if e.Status == nil {
				e.Status = map[int]int{}
			}
			e.Status[code] += n
		}
	}
	e.Requests = len(all)
	e.PerSec = float64(e.Requests) / elapsed.Seconds()
	e.Latencies = summarize(all)
	return e
}

// showProgress updates the progress line four times a second until the
// returned function is called.
func showProgress(w io.Writer, path string, start time.Time, done *atomic.Int64) func() {
	if w == nil {
		return func() {}
	}
	stop := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				el := time.Since(start).Seconds()
				n := done.Load()
				progress(w, fmt.Sprintf("%-7s %9d requests  %9.0f/s  %5.1f s",
					path, n, float64(n)/el, el))
			}
		}
	}()
	return func() { close(stop); <-finished }
}
