package client_test

import (
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/agentmint/agentmint/client"
)

// provider is a resource provider on a random loopback port: one route
// guarded by the middleware, whose handler counts its runs.
type provider struct {
	URL  string
	runs atomic.Int64
	seen atomic.Pointer[http.Request]
}

func startProvider(t *testing.T, c *client.Client, action string, opts ...client.MiddlewareOption) *provider {
	t.Helper()
	p := &provider{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.runs.Add(1)
		p.seen.Store(r)
		a, ok := client.Approval(r.Context())
		if !ok {
			http.Error(w, "no approval", 500)
			return
		}
		io.WriteString(w, a.Sub+" approved "+a.Action+" "+a.JTI)
	})
	mux := http.NewServeMux()
	mux.Handle("POST /refunds", c.Middleware(action, opts...)(h))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	p.URL = "http://" + ln.Addr().String() + "/refunds"
	return p
}

// call posts to the provider with one header and returns status and body.
func call(t *testing.T, url, header, value string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("POST", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if header != "" {
		req.Header.Set(header, value)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func TestMiddleware(t *testing.T) {
	s := startService(t)
	c := newClient(t, s)
	p := startProvider(t, c, "refund:order:123")
	m := mint(t, c, client.MintRequest{Action: "refund:order:123"})

	// 1. The first presentation runs the handler with the approval, and
	// the handler does not see the token.
	status, body := call(t, p.URL, "Authorization", "AgentMint "+m.Token)
	if status != 200 || body != "alice@example.com approved refund:order:123 "+m.JTI {
		t.Fatalf("first presentation: %d %q", status, body)
	}
	if r := p.seen.Load(); r.Header.Get("Authorization") != "" {
		t.Error("the handler saw the token")
	}

	// 2. The second is refused without running it.
	status, body = call(t, p.URL, "Authorization", "AgentMint "+m.Token)
	wantRefusal(t, status, body, 409, "token_used", m.Token)
	if n := p.runs.Load(); n != 1 {
		t.Errorf("handler ran %d times, want 1", n)
	}

	// 3. Other failures, none of which runs the handler.
	other := mint(t, c, client.MintRequest{Action: "refund:order:999"})
	status, body = call(t, p.URL, "Authorization", "AgentMint "+other.Token)
	wantRefusal(t, status, body, 403, "forbidden", other.Token)
	status, body = call(t, p.URL, "Authorization", "Bearer "+m.Token)
	wantRefusal(t, status, body, 401, "invalid_token", m.Token)
	status, body = call(t, p.URL, "", "")
	wantRefusal(t, status, body, 401, "invalid_token", "")
	bad := tamper(m.Token)
	status, body = call(t, p.URL, "Authorization", "AgentMint "+bad)
	wantRefusal(t, status, body, 401, "invalid_token", bad)
	if n := p.runs.Load(); n != 1 {
		t.Errorf("handler ran %d times, want 1", n)
	}

	// 4. The token refused for the wrong action was not consumed.
	op := startProvider(t, c, "refund:order:999")
	if status, body := call(t, op.URL, "Authorization", "agentmint "+other.Token); status != 200 {
		t.Errorf("token after a mismatch: %d %s", status, body)
	}

	// 5. With the service down, nothing is accepted.
	fresh := mint(t, c, client.MintRequest{Action: "refund:order:123"})
	s.Stop()
	status, body = call(t, p.URL, "Authorization", "AgentMint "+fresh.Token)
	wantRefusal(t, status, body, 503, "unavailable", fresh.Token)
}

func wantRefusal(t *testing.T, status int, body string, wantStatus int, code, tok string) {
	t.Helper()
	if status != wantStatus || !strings.Contains(body, `"code":"`+code+`"`) {
		t.Errorf("status %d body %s, want %d %s", status, body, wantStatus, code)
	}
	if tok != "" && strings.Contains(body, tok) {
		t.Error("the answer echoes the token")
	}
}

func TestMiddlewareHeaderAndAudience(t *testing.T) {
	s := startService(t)
	c := newClient(t, s)
	p := startProvider(t, c, "refund:order:123",
		client.TokenHeader("X-AgentMint-Token"), client.Audience("payments"))
	m := mint(t, c, client.MintRequest{Action: "refund:order:123", Aud: "shipping"})
	status, body := call(t, p.URL, "X-AgentMint-Token", m.Token)
	wantRefusal(t, status, body, 403, "forbidden", m.Token)

	m = mint(t, c, client.MintRequest{Action: "refund:order:123", Aud: "payments"})
	if status, body := call(t, p.URL, "X-AgentMint-Token", m.Token); status != 200 {
		t.Fatalf("token in X-AgentMint-Token: %d %s", status, body)
	}
	if r := p.seen.Load(); r.Header.Get("X-AgentMint-Token") != "" {
		t.Error("the handler saw the token")
	}
}

// TestMiddlewareConcurrent presents one token in many requests at once:
// exactly one runs the handler, the others get 409.
func TestMiddlewareConcurrent(t *testing.T) {
	s := startService(t)
	c := newClient(t, s)
	p := startProvider(t, c, "deploy:prod")
	m := mint(t, c, client.MintRequest{Action: "deploy:prod"})

	const n = 20
	var wg sync.WaitGroup
	statuses := make(chan int, n)
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			req, _ := http.NewRequest("POST", p.URL, nil)
			req.Header.Set("Authorization", "AgentMint "+m.Token)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			res.Body.Close()
			statuses <- res.StatusCode
		}()
	}
	close(start)
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for st := range statuses {
		count[st]++
	}
	if count[200] != 1 || count[409] != n-1 {
		t.Errorf("statuses %v, want one 200 and %d 409", count, n-1)
	}
	if runs := p.runs.Load(); runs != 1 {
		t.Errorf("handler ran %d times, want 1", runs)
	}
}
