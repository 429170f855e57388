package bench

// The load generator speaks HTTP/1.1 itself, one goroutine per keep-alive
// connection, instead of using net/http's client. The reason is the
// measurement: the generator shares the machine's cores with the server
// it measures, and net/http's client (a reader and a writer goroutine per
// connection, a Request and a Response per call) cost about 70 us of CPU
// per request here, a quarter of the server's own. Like wrk and
// redis-benchmark, this client writes a prepared request and reads the
// answer in place. It is strict: anything but a plain answer with a
// Content-Length or a chunked body is an error, not a guess.

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// Limits on what the client reads from a server.
const (
	maxHeaderBytes = 64 << 10
	maxBodyBytes   = 1 << 20
)

// requestTimeout bounds one request, from the write to the last byte.
const requestTimeout = 30 * time.Second

// target is where requests go, parsed once from --url.
type target struct {
	addr   string      // host:port to dial
	host   string      // the Host header
	prefix string      // the URL's path, without a trailing slash
	tls    *tls.Config // nil for http
}

func parseTarget(raw string) (*target, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("invalid --url %q: want http://host:port or https://host:port", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("invalid --url %q: no query, fragment or user info", raw)
	}
	t := &target{host: u.Host, prefix: u.EscapedPath()}
	for len(t.prefix) > 0 && t.prefix[len(t.prefix)-1] == '/' {
		t.prefix = t.prefix[:len(t.prefix)-1]
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	t.addr = net.JoinHostPort(u.Hostname(), port)
	if u.Scheme == "https" {
		t.tls = &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}
	}
	return t, nil
}

// request renders one request. body may be nil (no body).
func (t *target) request(method, path, apiKey string, body []byte) []byte {
	var b bytes.Buffer
	b.WriteString(method + " " + t.prefix + path + " HTTP/1.1\r\nHost: " + t.host +
		"\r\nUser-Agent: agentmint-bench\r\n")
	if apiKey != "" {
		b.WriteString("Authorization: Bearer " + apiKey + "\r\n")
	}
	if body != nil {
		b.WriteString("Content-Type: application/json\r\nContent-Length: " +
			strconv.Itoa(len(body)) + "\r\n")
	}
	b.WriteString("\r\n")
	b.Write(body)
	return b.Bytes()
}

// wireConn is one keep-alive connection, used by one goroutine.
type wireConn struct {
	t    *target
	mu   sync.Mutex // guards writes of c, and its reads by interrupt
	c    net.Conn
	r    *bufio.Reader
	body []byte // the last answer's body; reused
}

// roundTrip sends req and reads the answer. The body is valid until the
// next call. After an error the connection is closed; the next call dials
// again.
func (w *wireConn) roundTrip(req []byte) (int, []byte, error) {
	if w.c == nil {
		if err := w.dial(); err != nil {
			return 0, nil, err
		}
	}
	w.c.SetDeadline(time.Now().Add(requestTimeout))
	if _, err := w.c.Write(req); err != nil {
		w.close()
		return 0, nil, err
	}
	a, err := readAnswer(w.r, w.body[:0])
	if err != nil {
		w.close()
		return 0, nil, err
	}
	w.body = a.body
	if !a.keepAlive {
		w.close()
	}
	return a.status, a.body, nil
}

func (w *wireConn) dial() error {
	c, err := net.DialTimeout("tcp", w.t.addr, 10*time.Second)
	if err != nil {
		return err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	if w.t.tls != nil {
		c = tls.Client(c, w.t.tls)
	}
	w.mu.Lock()
	w.c = c
	w.mu.Unlock()
	if w.r == nil {
		w.r = bufio.NewReaderSize(c, 16<<10)
	} else {
		w.r.Reset(c)
	}
	return nil
}

func (w *wireConn) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.c != nil {
		w.c.Close()
		w.c = nil
	}
}

// interrupt makes a request in progress on another goroutine fail now.
func (w *wireConn) interrupt() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.c != nil {
		w.c.SetDeadline(time.Unix(1, 0))
	}
}

// answer is a parsed HTTP/1.x response.
type answer struct {
	status    int
	body      []byte
	keepAlive bool
}

var errMalformed = errors.New("malformed HTTP response")

func malformed(what string) error { return fmt.Errorf("%w: %s", errMalformed, what) }

// readAnswer reads one response from r, appending its body to buf. It
// accepts HTTP/1.0 and 1.1, a Content-Length body, a chunked body (1.1), or a
// body that ends with the connection; it refuses informational answers,
// both framings at once, repeated lengths, folded header lines, and
// headers or bodies over the limits.
func readAnswer(r *bufio.Reader, buf []byte) (answer, error) {
	var a answer
	budget := maxHeaderBytes
	line, err := readLine(r, &budget)
	if err != nil {
		return a, err
	}
	// Status line: HTTP/1.x SP 3DIGIT [SP reason]
	if len(line) < 12 || string(line[:7]) != "HTTP/1." ||
		(line[7] != '0' && line[7] != '1') || line[8] != ' ' ||
		(len(line) > 12 && line[12] != ' ') {
		return a, malformed("status line")
	}
	a.status = 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return a, malformed("status code")
		}
		a.status = a.status*10 + int(c-'0')
	}
	if a.status < 200 {
		return a, malformed("unexpected informational status " + strconv.Itoa(a.status))
	}
	http11 := line[7] == '1'
	a.keepAlive = http11

	length := int64(-1)
	chunked := false
	for {
		line, err := readLine(r, &budget)
		if err != nil {
			return a, err
		}
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			return a, malformed("folded header line")
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return a, malformed("header line without a name")
		}
		name, value := line[:colon], bytes.Trim(line[colon+1:], " \t")
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length >= 0 {
				return a, malformed("repeated Content-Length")
			}
			if length, err = parseLength(value); err != nil {
				return a, err
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			if chunked || !http11 || !bytes.EqualFold(value, []byte("chunked")) {
				return a, malformed("unsupported Transfer-Encoding")
			}
			chunked = true
		case bytes.EqualFold(name, []byte("Connection")):
			switch {
			case bytes.EqualFold(value, []byte("close")):
				a.keepAlive = false
			case bytes.EqualFold(value, []byte("keep-alive")):
				a.keepAlive = true
			}
		}
	}
	if chunked && length >= 0 {
		return a, malformed("both Content-Length and chunked")
	}
	switch {
	case a.status == 204 || a.status == 304:
		a.body = buf[:0]
	case chunked:
		a.body, err = readChunked(r, buf[:0])
	case length >= 0:
		a.body, err = readN(r, buf[:0], length)
	default: // the body ends with the connection
		a.keepAlive = false
		a.body, err = readToEOF(r, buf[:0])
	}
	return a, err
}

// readLine reads a CRLF-terminated line without its CRLF, charging its
// length to budget.
func readLine(r *bufio.Reader, budget *int) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return nil, malformed("header line too long")
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if *budget -= len(line); *budget < 0 {
		return nil, malformed("headers too long")
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return nil, malformed("line not ended by CRLF")
	}
	return line[:len(line)-2], nil
}

func parseLength(v []byte) (int64, error) {
	if len(v) == 0 || len(v) > 10 {
		return 0, malformed("Content-Length")
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, malformed("Content-Length")
		}
		n = n*10 + int64(c-'0')
	}
	if n > maxBodyBytes {
		return 0, malformed("body over " + strconv.Itoa(maxBodyBytes) + " bytes")
	}
	return n, nil
}

func readN(r *bufio.Reader, buf []byte, n int64) ([]byte, error) {
	if int64(len(buf))+n > maxBodyBytes {
		return nil, malformed("body over " + strconv.Itoa(maxBodyBytes) + " bytes")
	}
	start := len(buf)
	buf = append(buf, make([]byte, n)...)
	if _, err := io.ReadFull(r, buf[start:]); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, nil
}

func readChunked(r *bufio.Reader, buf []byte) ([]byte, error) {
	budget := maxHeaderBytes
	for {
		line, err := readLine(r, &budget)
		if err != nil {
			return nil, err
		}
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i] // a chunk extension, ignored
		}
		line = bytes.TrimRight(line, " \t")
		if len(line) == 0 || len(line) > 8 {
			return nil, malformed("chunk size")
		}
		size, err := strconv.ParseUint(string(line), 16, 32)
		if err != nil {
			return nil, malformed("chunk size")
		}
		if size == 0 {
			break
		}
		if buf, err = readN(r, buf, int64(size)); err != nil {
			return nil, err
		}
		if end, err := readLine(r, &budget); err != nil || len(end) != 0 {
			return nil, malformed("chunk not followed by CRLF")
		}
	}
	for { // trailers, ignored
		line, err := readLine(r, &budget)
		if err != nil {
			return nil, err
		}
		if len(line) == 0 {
			return buf, nil
		}
	}
}

func readToEOF(r *bufio.Reader, buf []byte) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxBodyBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxBodyBytes {
		return nil, malformed("body over " + strconv.Itoa(maxBodyBytes) + " bytes")
	}
	return append(buf, b...), nil
}
