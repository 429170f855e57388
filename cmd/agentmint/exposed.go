package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/agentmint/agentmint/internal/callers"
	"github.com/agentmint/agentmint/internal/httpapi"
)

// exposure is the part of serveConfig that makes the service safe to
// expose: TLS, who counts as local, proxies, metrics access and limits.
type exposure struct {
	TLSCert, TLSKey string
	MetricsPublic   bool
	LocalNets       []netip.Prefix // nil: loopback
	TrustedProxies  []netip.Prefix
	Limits          httpapi.Limits

	// the raw flag values, parsed by parse
	localNets, trustedProxies, limitIP, limitCaller, limitSub string
	metricsEnv                                                string
}

// Default limits. NOTE: only the per-IP limit is on by default: it bounds
// what one client can take of a server that handles some thousands of
// requests per second, and it is generous enough for `agentmint bench`
// at low concurrency. Per-caller and per-sub limits depend on the
// integration, so the operator sets them.
const (
	defaultLimitIP     = "1000/s"
	defaultLimitCaller = "off"
	defaultLimitSub    = "off"
)

func (e *exposure) register(fs *flag.FlagSet) {
	fs.StringVar(&e.TLSCert, "tls-cert", envOr("AGENTMINT_TLS_CERT", ""),
		"PEM certificate chain; with --tls-key, serve HTTPS (env AGENTMINT_TLS_CERT)")
	fs.StringVar(&e.TLSKey, "tls-key", envOr("AGENTMINT_TLS_KEY", ""),
		"PEM private key of --tls-cert (env AGENTMINT_TLS_KEY)")
	e.metricsEnv = os.Getenv("AGENTMINT_METRICS_PUBLIC")
	public, _ := strconv.ParseBool(e.metricsEnv)
	fs.BoolVar(&e.MetricsPublic, "metrics-public", public,
		"serve /metrics without a key; otherwise it needs an auditor (env AGENTMINT_METRICS_PUBLIC=true)")
	fs.StringVar(&e.localNets, "local-addrs", envOr("AGENTMINT_LOCAL_ADDRS", ""),
		"comma-separated CIDRs served without a key while no callers exist; "+
			"empty means loopback (env AGENTMINT_LOCAL_ADDRS)")
	fs.StringVar(&e.trustedProxies, "trusted-proxies", envOr("AGENTMINT_TRUSTED_PROXIES", ""),
		"comma-separated CIDRs of proxies whose X-Forwarded-For is believed; "+
			"empty means the client is the TCP peer (env AGENTMINT_TRUSTED_PROXIES)")
	fs.StringVar(&e.limitIP, "limit-ip", envOr("AGENTMINT_LIMIT_IP", defaultLimitIP),
		"requests per client IP, N/s, N/m, N/h or off (env AGENTMINT_LIMIT_IP)")
	fs.StringVar(&e.limitCaller, "limit-caller", envOr("AGENTMINT_LIMIT_CALLER", defaultLimitCaller),
		"requests per caller, N/s, N/m, N/h or off (env AGENTMINT_LIMIT_CALLER)")
	fs.StringVar(&e.limitSub, "limit-sub", envOr("AGENTMINT_LIMIT_SUB", defaultLimitSub),
		"tokens minted per sub, N/s, N/m, N/h or off (env AGENTMINT_LIMIT_SUB)")
}

// parse checks and converts the raw flag values.
func (e *exposure) parse() error {
	var err error
	if e.metricsEnv != "" {
		if _, err := strconv.ParseBool(e.metricsEnv); err != nil {
			return fmt.Errorf("AGENTMINT_METRICS_PUBLIC=%q: want true or false", e.metricsEnv)
		}
	}
	if (e.TLSCert == "") != (e.TLSKey == "") {
		return errors.New("--tls-cert and --tls-key must be given together")
	}
	if e.localNets != "" {
		if e.LocalNets, err = parsePrefixes("--local-addrs", e.localNets); err != nil {
			return err
		}
	}
	if e.TrustedProxies, err = parsePrefixes("--trusted-proxies", e.trustedProxies); err != nil {
		return err
	}
	for _, l := range []struct {
		flag, v string
		dst     *httpapi.Rate
	}{
		{"--limit-ip", e.limitIP, &e.Limits.PerIP},
		{"--limit-caller", e.limitCaller, &e.Limits.PerCaller},
		{"--limit-sub", e.limitSub, &e.Limits.PerSub},
	} {
		if *l.dst, err = httpapi.ParseRate(l.v); err != nil {
			return fmt.Errorf("%s: %v", l.flag, err)
		}
	}
	return nil
}

func parsePrefixes(flag, s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			a, aerr := netip.ParseAddr(f)
			if aerr != nil {
				return nil, fmt.Errorf("%s: %q is not a CIDR or an address", flag, f)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// tlsListener wraps ln in TLS if a certificate is configured. The pair is
// loaded now, so that a bad file stops start-up.
func (e *exposure) tlsListener(ln net.Listener) (net.Listener, string, error) {
	if e.TLSCert == "" {
		return ln, "http", nil
	}
	cert, err := tls.LoadX509KeyPair(e.TLSCert, e.TLSKey)
	if err != nil {
		return nil, "", fmt.Errorf("failed to load TLS certificate: %v", err)
	}
	return tls.NewListener(ln, &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"},
	}), "https", nil
}

// warnIfOpen says loudly at start-up when the server takes requests
// without keys.
func warnIfOpen(ctx context.Context, store callers.Store, e exposure, log *slog.Logger) error {
	has, err := store.HasCallers(ctx)
	if err != nil {
		return err
	}
	if has {
		log.Info("callers configured: every request except /health, /ready and " +
			"/.well-known/jwks.json needs an API key")
		return nil
	}
	local := "loopback addresses"
	if e.LocalNets != nil {
		local = e.localNets
	}
	log.Warn("NO CALLERS ARE CONFIGURED: serving requests without an API key from "+
		local+" only, and 401 to everyone else; create callers with "+
		"`agentmint callers add --name NAME --role minter|verifier|auditor`",
		slog.String("local", local))
	return nil
}
