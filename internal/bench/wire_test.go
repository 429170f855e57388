package bench

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

func read(t *testing.T, raw string) (answer, error) {
	t.Helper()
	return readAnswer(bufio.NewReader(strings.NewReader(raw)), nil)
}

func TestReadAnswer(t *testing.T) {
	for _, tc := range []struct {
		name, raw string
		status    int
		body      string
		keepAlive bool
	}{
		{"length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 200, "hello", true},
		{"no reason", "HTTP/1.1 409\r\ncontent-length: 2\r\n\r\n{}", 409, "{}", true},
		{"close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx", 200, "x", false},
		{"1.0", "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", 200, "x", false},
		{"1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx", 200, "x", true},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"3;ext=1\r\nabc\r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n", 200, "abc0123456789", true},
		{"to EOF", "HTTP/1.1 200 OK\r\n\r\nall of it", 200, "all of it", false},
		{"no content", "HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n", 204, "", true},
	} {
		a, err := read(t, tc.raw)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if a.status != tc.status || string(a.body) != tc.body || a.keepAlive != tc.keepAlive {
			t.Errorf("%s: got %d %q keep-alive %v; want %d %q %v", tc.name,
				a.status, a.body, a.keepAlive, tc.status, tc.body, tc.keepAlive)
		}
	}
}

func TestReadAnswerRefuses(t *testing.T) {
	for name, raw := range map[string]string{
		"empty":            "",
		"not HTTP":         "SSH-2.0-OpenSSH\r\n\r\n",
		"HTTP/2":           "HTTP/2.0 200 OK\r\n\r\n",
		"bad code":         "HTTP/1.1 2x0 OK\r\n\r\n",
		"informational":    "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
		"bare LF":          "HTTP/1.1 200 OK\nContent-Length: 0\n\n",
		"folded":           "HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n",
		"nameless":         "HTTP/1.1 200 OK\r\n: x\r\n\r\n",
		"two lengths":      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
		"signed length":    "HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\nx",
		"huge length":      "HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n",
		"both framings":    "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"gzip":             "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
		"short body":       "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc",
		"bad chunk size":   "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"chunk without LF": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n0\r\n\r\n",
		"no end":           "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n",
		"long headers":     "HTTP/1.1 200 OK\r\n" + strings.Repeat("X: "+strings.Repeat("a", 1000)+"\r\n", 70) + "\r\n",
	} {
		if a, err := read(t, raw); err == nil {
			t.Errorf("%s: accepted as %d %q", name, a.status, a.body)
		}
	}
}

func TestReadAnswerKeepsAlive(t *testing.T) {
	// Two answers back to back on one connection, the second reusing the
	// first's buffer.
	r := bufio.NewReader(strings.NewReader(
		"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none" +
			"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\ntwo\r\n0\r\n\r\n"))
	a, err := readAnswer(r, nil)
	if err != nil || string(a.body) != "one" {
		t.Fatalf("first: %q %v", a.body, err)
	}
	b, err := readAnswer(r, a.body[:0])
	if err != nil || string(b.body) != "two" {
		t.Fatalf("second: %q %v", b.body, err)
	}
	if _, err := readAnswer(r, nil); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("after the last: %v, want unexpected EOF", err)
	}
}

func TestParseTarget(t *testing.T) {
	for raw, want := range map[string]target{
		"http://127.0.0.1:3000":      {addr: "127.0.0.1:3000", host: "127.0.0.1:3000"},
		"http://localhost/":          {addr: "localhost:80", host: "localhost"},
		"https://example.com/mint/":  {addr: "example.com:443", host: "example.com", prefix: "/mint"},
		"http://[::1]:3000/a%20b///": {addr: "[::1]:3000", host: "[::1]:3000", prefix: "/a%20b"},
	} {
		got, err := parseTarget(raw)
		if err != nil {
			t.Errorf("%s: %v", raw, err)
			continue
		}
		if got.addr != want.addr || got.host != want.host || got.prefix != want.prefix {
			t.Errorf("%s: got %+v", raw, got)
		}
		if (got.tls != nil) != strings.HasPrefix(raw, "https") {
			t.Errorf("%s: tls %v", raw, got.tls)
		}
	}
	for _, raw := range []string{"", "ftp://x", "http://", "http://x/?q=1", "http://u:p@x/", "://"} {
		if _, err := parseTarget(raw); err == nil {
			t.Errorf("%q accepted", raw)
		}
	}
}

// FuzzReadAnswer checks the load generator's response reader against
// net/http's: whatever both accept, they must read the same status and
// body; and it must never read more than its limit.
func FuzzReadAnswer(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"))
	f.Add([]byte("HTTP/1.1 409 Conflict\r\nContent-Type: application/problem+json\r\nContent-Length: 2\r\n\r\n{}"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x\r\nabc\r\n0\r\nT: 1\r\n\r\n"))
	f.Add([]byte("HTTP/1.0 200 OK\r\n\r\nto the end"))
	f.Add([]byte("HTTP/1.1 204 No Content\r\n\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		a, err := readAnswer(bufio.NewReader(bytes.NewReader(raw)), nil)
		if err != nil {
			return
		}
		if len(a.body) > maxBodyBytes {
			t.Fatalf("read a body of %d bytes", len(a.body))
		}
		res, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
		if err != nil {
			return
		}
		body, err := io.ReadAll(res.Body)
		if err != nil {
			return
		}
		if res.StatusCode != a.status || !bytes.Equal(body, a.body) {
			t.Fatalf("read %d %q; net/http read %d %q", a.status, a.body, res.StatusCode, body)
		}
	})
}
