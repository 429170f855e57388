// Package metrics records AgentMint's counters and latencies with the
// Prometheus client, on a registry of the service's own.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Prometheus implements the service's meter.
type Prometheus struct {
	reg      *prometheus.Registry
	minted   prometheus.Counter
	verified prometheus.Counter
	replays  prometheus.Counter
	rejected *prometheus.CounterVec
	dropped  *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// New returns a meter with every series registered, including the Go
// runtime and process collectors.
func New() *Prometheus {
	p := &Prometheus{
		reg: prometheus.NewRegistry(),
		minted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "agentmint_tokens_minted_total",
			Help: "Tokens minted.",
		}),
		verified: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "agentmint_tokens_verified_total",
			Help: "Tokens verified and consumed.",
		}),
		replays: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "agentmint_token_replays_total",
			Help: "Presentations of a token that was already used.",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agentmint_tokens_rejected_total",
			Help: "Tokens refused, by reason.",
		}, []string{"reason"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agentmint_audit_rejections_dropped_total",
			Help: "Rejections counted in a summary audit entry instead " +
				"of an entry each, by reason.",
		}, []string{"reason"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "agentmint_http_request_duration_seconds",
			Help: "Time to answer a request, by route and status code.",
			Buckets: []float64{
				.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05,
				.1, .25, .5, 1,
			},
		}, []string{"route", "code"}),
	}
	p.reg.MustRegister(p.minted, p.verified, p.replays, p.rejected, p.dropped, p.latency,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return p
}

// Minted counts a minted token.
func (p *Prometheus) Minted() { p.minted.Inc() }

// Verified counts a verified and consumed token.
func (p *Prometheus) Verified() { p.verified.Inc() }

// Replayed counts a presentation of a used token.
func (p *Prometheus) Replayed() { p.replays.Inc() }

// Rejected counts a refused token by reason.
func (p *Prometheus) Rejected(reason string) {
	p.rejected.WithLabelValues(reason).Inc()
}

// RejectionDropped counts a rejection left out of the audit log.
func (p *Prometheus) RejectionDropped(reason string) {
	p.dropped.WithLabelValues(reason).Inc()
}

// ObserveRequest records one request's latency under its route pattern.
func (p *Prometheus) ObserveRequest(route string, status int, d time.Duration) {
	p.latency.WithLabelValues(route, strconv.Itoa(status)).Observe(d.Seconds())
}

// Handler serves the registry in the Prometheus text format.
func (p *Prometheus) Handler() http.Handler {
	return promhttp.HandlerFor(p.reg, promhttp.HandlerOpts{})
}
