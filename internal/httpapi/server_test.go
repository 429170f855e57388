package httpapi

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentmint/agentmint/internal/keys"
	"github.com/agentmint/agentmint/internal/metrics"
	"github.com/agentmint/agentmint/internal/sqlite"
)

// newTestAPI serves the API on a random loopback port with a real SQLite
// store in a temporary directory.
func newTestAPI(t *testing.T) (url string, store *sqlite.Store) {
	t.Helper()
	dir := t.TempDir()
	store, err := sqlite.Open(filepath.Join(dir, "ledger.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	ring, err := keys.Open(filepath.Join(dir, "keys"), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	api := New(Config{
		Store: store, Keys: ring, Meter: metrics.New(),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Issuer: "agentmint",
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: api}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String(), store
}

func postJSON(t *testing.T, url, body string) (int, string) {
	t.Helper()
	res, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestStoreDownFailsClosed: with the ledger gone, a valid token is not
// accepted, /proxy answers 503 and /ready reports it.
func TestStoreDownFailsClosed(t *testing.T) {
	url, store := newTestAPI(t)
	status, body := postJSON(t, url+"/mint", `{"sub":"alice","action":"delete:user:789"}`)
	if status != 200 {
		t.Fatalf("mint: %d %s", status, body)
	}
	tok := body[strings.Index(body, `"token":"`)+9:]
	tok = tok[:strings.IndexByte(tok, '"')]

	store.Close()
	status, body = postJSON(t, url+"/proxy", `{"token":"`+tok+`"}`)
	if status != 503 || !strings.Contains(body, `"code":"unavailable"`) {
		t.Errorf("proxy with the store closed: %d %s", status, body)
	}
	res, err := http.Get(url + "/ready")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 503 {
		t.Errorf("/ready with the store closed: %d", res.StatusCode)
	}
}
