package httpapi

import (
	"net/netip"
	"strings"
)

// maxForwardedHops bounds the X-Forwarded-For entries examined.
const maxForwardedHops = 16

// clientIP returns the address a request came from: the TCP peer, unless
// the peer is one of the trusted proxies, in which case the X-Forwarded-For
// chain is read from the right and the first address that is not a trusted
// proxy is the client. Without trusted proxies the header is ignored: any
// client can write it. It reports false, with the invalid address, if the
// peer address does not parse, or if a trusted proxy sent no usable chain:
// the client is then unknown, and never taken for the proxy itself (which
// may be local).
func clientIP(remoteAddr string, forwarded []string, trusted []netip.Prefix) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return netip.Addr{}, false
	}
	ip := ap.Addr().Unmap()
	if !inAny(ip, trusted) {
		return ip, true
	}

	// The header may come as several lines; the last entry was added by
	// the nearest proxy. An entry that does not parse ends the walk: what
	// lies left of it cannot be trusted, and the client is unknown.
	hops := strings.Split(strings.Join(forwarded, ","), ",")
	for i, n := len(hops)-1, 0; i >= 0 && n < maxForwardedHops; i, n = i-1, n+1 {
		h, ok := parseHop(strings.TrimSpace(hops[i]))
		if !ok {
			return netip.Addr{}, false
		}
		ip = h
		if !inAny(ip, trusted) {
			return ip, true
		}
	}
	return ip, true
}

// parseHop reads one X-Forwarded-For entry: an address, or an address and
// port as some proxies write it.
func parseHop(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, perr := netip.ParseAddrPort(s)
		if perr != nil {
			return netip.Addr{}, false
		}
		a = ap.Addr()
	}
	if a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

func inAny(ip netip.Addr, nets []netip.Prefix) bool {
	for _, n := range nets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}
