package bench

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// WriteText writes res as a table for a reader.
func WriteText(w io.Writer, res *Result, cfg Config) {
	span := fmt.Sprintf("%v per endpoint", cfg.Duration)
	if cfg.Count > 0 {
		span = fmt.Sprintf("%d requests per endpoint", cfg.Count)
	}
	m := res.Machine
	fmt.Fprintf(w, "AgentMint bench: %s, %d clients, %s\n", res.URL, res.Clients, span)
	fmt.Fprintf(w, "machine: %d CPUs (%s), GOMAXPROCS %d, %s %s\n\n",
		m.CPUs, m.CPUModel, m.GOMAXPROCS, m.GoVersion, m.Platform)
	b := res.Bare
	fmt.Fprintf(w, "bare Ed25519 on all cores (%.1f s each, before and after the load):\n"+
		"  verify %.0f/s (%.0f, %.0f), sign %.0f/s (%.0f, %.0f)\n\n",
		b.Seconds, b.VerifyPerSec, b.Before.VerifyPerSec, b.After.VerifyPerSec,
		b.SignPerSec, b.Before.SignPerSec, b.After.SignPerSec)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "endpoint\trequests\tnot 200\treq/s\tof bare\tp50 ms\tp90 ms\tp99 ms\tmax ms\t")
	for _, e := range []Endpoint{res.Mint, res.Proxy} {
		l := e.Latencies
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%.1f%%\t%.3f\t%.3f\t%.3f\t%.3f\t\n",
			e.Path, e.Requests, e.Requests-e.OK, e.PerSec, 100*e.OfBare,
			l.P50, l.P90, l.P99, l.Max)
	}
	tw.Flush()
	fmt.Fprintln(w, "(of bare: /mint against the sign rate, /proxy against the verify rate)")

	for _, e := range []Endpoint{res.Mint, res.Proxy} {
		if e.Failed() {
			fmt.Fprintf(w, "%s failures: %s\n", e.Path, e.describeFailures())
		}
	}
	for _, e := range []Endpoint{res.Mint, res.Proxy} {
		if c := e.CPU; c != nil && c.ServerCores > 0 {
			fmt.Fprintf(w, "%s CPU: server %.2f cores, %.0f us a request; bench client %.2f cores\n",
				e.Path, c.ServerCores, c.ServerMicros, c.ClientCores)
		} else if c != nil {
			fmt.Fprintf(w, "%s CPU: bench client %.2f cores\n", e.Path, c.ClientCores)
		}
	}
	if mem := res.Memory; mem != nil {
		fmt.Fprintf(w, "server memory (pid %d): peak %.1f MiB (VmHWM), max sampled RSS %.1f MiB, at end %.1f MiB\n",
			mem.PID, mem.PeakMiB, mem.MaxSampledMiB, mem.EndMiB)
	}
	for _, s := range res.Warnings {
		fmt.Fprintln(w, "warning:", s)
	}
}
