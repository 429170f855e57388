package httpapi

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode"
)

func TestIsLocal(t *testing.T) {
	narrow := []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}
	for _, tc := range []struct {
		addr string
		nets []netip.Prefix
		want bool
	}{
		{"127.0.0.1", nil, true},
		{"127.0.0.2", nil, true},
		{"::1", nil, true},
		{"::ffff:127.0.0.1", nil, true},
		{"10.0.0.1", nil, false},
		{"192.168.1.1", nil, false},
		{"0.0.0.0", nil, false},
		{"::", nil, false},
		{"203.0.113.7", nil, false},
		{"10.1.2.3", narrow, true},
		{"127.0.0.1", narrow, false},
	} {
		var a netip.Addr
		if tc.addr != "" {
			a = netip.MustParseAddr(tc.addr)
		}
		if got := isLocal(a, tc.nets); got != tc.want {
			t.Errorf("isLocal(%s, %v) = %v", tc.addr, tc.nets, got)
		}
	}
	if isLocal(netip.Addr{}, nil) {
		t.Error("the zero address is local")
	}
}

func TestClientIP(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	for _, tc := range []struct {
		peer    string
		xff     []string
		trusted []netip.Prefix
		want    string
	}{
		{"203.0.113.7:5000", nil, nil, "203.0.113.7"},
		{"203.0.113.7:5000", []string{"127.0.0.1"}, nil, "203.0.113.7"},     // untrusted header
		{"203.0.113.7:5000", []string{"127.0.0.1"}, proxies, "203.0.113.7"}, // peer not a proxy
		{"10.0.0.5:5000", []string{"198.51.100.1"}, proxies, "198.51.100.1"},
		{"10.0.0.5:5000", []string{"127.0.0.1, 198.51.100.1, 10.0.0.9"}, proxies, "198.51.100.1"},
		{"10.0.0.5:5000", []string{"127.0.0.1", "198.51.100.1"}, proxies, "198.51.100.1"},
		{"10.0.0.5:5000", []string{"203.0.113.5:4711"}, proxies, "203.0.113.5"},
		{"10.0.0.5:5000", []string{"[2001:db8::1]:443"}, proxies, "2001:db8::1"},
		{"[::ffff:203.0.113.7]:1", nil, nil, "203.0.113.7"},
		{"[::1]:1", nil, nil, "::1"},
	} {
		ip, ok := clientIP(tc.peer, tc.xff, tc.trusted)
		if !ok || ip.String() != tc.want {
			t.Errorf("clientIP(%q, %q) = %v, %v; want %s", tc.peer, tc.xff, ip, ok, tc.want)
		}
	}
	if _, ok := clientIP("pipe", nil, nil); ok {
		t.Error("clientIP accepted a peer that is not an address")
	}
	// Through a trusted proxy without a usable chain the client is
	// unknown, never the proxy (which may be local).
	for _, xff := range [][]string{nil, {""}, {"unknown"}, {"garbage, 10.0.0.9"}} {
		if ip, ok := clientIP("10.0.0.5:5000", xff, proxies); ok || ip.IsValid() {
			t.Errorf("clientIP through a proxy with %q = %v, %v; want unknown", xff, ip, ok)
		}
	}
}

func FuzzClientIP(f *testing.F) {
	f.Add("10.0.0.5:5000", "127.0.0.1, 198.51.100.1, 10.0.0.9")
	f.Add("[::1]:1", "")
	f.Add("203.0.113.7:80", "::1,,x")
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	f.Fuzz(func(t *testing.T, peer, xff string) {
		ip, ok := clientIP(peer, []string{xff}, proxies)
		if !ok {
			return
		}
		if !ip.IsValid() || ip.Zone() != "" && !strings.Contains(peer, "%") {
			t.Fatalf("clientIP(%q, %q) = %v", peer, xff, ip)
		}
		// Without trusted proxies the header never matters.
		a, _ := clientIP(peer, []string{xff}, nil)
		b, _ := clientIP(peer, nil, nil)
		if a != b {
			t.Fatalf("the header changed the client without trusted proxies: %v %v", a, b)
		}
	})
}

func TestLogSafe(t *testing.T) {
	for in, want := range map[string]string{
		"curl/8.5":                      "curl/8.5",
		"a\r\nb":                        "ab",
		"a\x00b\x7fc":                   "abc",
		"a\u0085b\u2028c\u2029d":        "abcd",
		"x\u202eevil\u2066":             "xevil",
		"bad\xffutf8":                   "badutf8",
		"é ü 日本":                        "é ü 日本",
		strings.Repeat("a", 300):        strings.Repeat("a", maxLoggedLen),
		strings.Repeat("日", 100) + "\n": strings.Repeat("日", 85),
	} {
		if got := logSafe(in); got != want {
			t.Errorf("logSafe(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzLogSafe(f *testing.F) {
	for _, s := range []string{"a\r\nb", "\u2028", "bad\xff", strings.Repeat("é", 200)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := logSafe(s)
		if len(out) > maxLoggedLen {
			t.Fatalf("%d bytes", len(out))
		}
		for _, r := range out {
			if unsafeRune(r) || unicode.IsControl(r) {
				t.Fatalf("logSafe(%q) kept %q", s, r)
			}
		}
		if logSafe(out) != out {
			t.Fatalf("logSafe is not idempotent on %q", s)
		}
	})
}

func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{"sub":"alice","action":"a:b","ttl_seconds":60,"aud":"x","details":{"n":1}}`,
		`{"token":"a.b.c","action":"x"}`, `{"sub":1}`, `[]`, `{} {}`, `{"x":1}`, `nul`,
		`{"ttl_seconds":1e400}`, `{"details":` + strings.Repeat("[", 100) + `}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, v := range []any{&MintRequest{}, &ProxyRequest{}} {
			err := decodeJSON(body, v)
			if err == nil {
				// What was accepted is one JSON value and re-encodes.
				if !json.Valid(body) {
					t.Fatalf("accepted invalid JSON %q", body)
				}
				if _, err := json.Marshal(v); err != nil {
					t.Fatalf("accepted %q into an unencodable value: %v", body, err)
				}
				continue
			}
			if p := problemFor(err); p.Status != 400 || strings.Contains(p.Detail, string(body)) && len(body) > 8 {
				t.Fatalf("decodeJSON(%q): %d %q", body, p.Status, p.Detail)
			}
		}
	})
}

func TestParseRate(t *testing.T) {
	for in, want := range map[string]Rate{
		"off": {}, "0": {}, "10/s": {10, time.Second}, "3/m": {3, time.Minute}, "1/h": {1, time.Hour},
	} {
		got, err := ParseRate(in)
		if err != nil || got != want {
			t.Errorf("ParseRate(%q) = %v, %v", in, got, err)
		}
		if err == nil && got.String() != in && in != "0" {
			t.Errorf("%v.String() = %q, want %q", got, got.String(), in)
		}
	}
	for _, in := range []string{"", "10", "10/d", "-1/s", "0/s", "1/", "x/s", "2000000/s"} {
		if _, err := ParseRate(in); err == nil {
			t.Errorf("ParseRate(%q) accepted", in)
		}
	}
}

func TestLimiterCountsAndEvicts(t *testing.T) {
	l := newLimiter("ip", Rate{N: 2, Per: time.Minute}, 3)
	now := time.Unix(1767225600, 0)
	for i, want := range []bool{true, true, false} {
		if _, ok := l.allow("a", now); ok != want {
			t.Fatalf("request %d: allowed %v", i+1, ok)
		}
	}
	st, _ := l.allow("a", now)
	if st.remaining != 0 || seconds(st.reset) != 30 {
		t.Errorf("refused state %+v, want 0 remaining, 30 s", st)
	}
	// Memory is bounded: a fourth key evicts the least recently used.
	for _, k := range []string{"b", "c", "d", "e"} {
		l.allow(k, now)
	}
	if n := l.len(); n != 3 {
		t.Fatalf("%d keys tracked, want 3", n)
	}
	if _, ok := l.keys["a"]; ok {
		t.Error("the least recently used key was kept")
	}
	if newLimiter("x", Rate{}, 0) != nil {
		t.Error("a zero rate made a limiter")
	}
}
