package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/agentmint/agentmint/client"
)

func ExampleNew() {
	c, err := client.New("https://agentmint.example.com",
		client.WithAPIKey(os.Getenv("AGENTMINT_API_KEY")),
		client.WithHTTPClient(&http.Client{Timeout: 5 * time.Second}))
	if err != nil {
		log.Fatal(err)
	}
	_ = c

	_, err = client.New("agentmint.example.com")
	fmt.Println(err)
	// Output:
	// agentmint: invalid base URL "agentmint.example.com": want http(s)://host[:port][/path]
}

func ExampleClient_Mint() {
	c, _ := client.New("http://localhost:3000", client.WithAPIKey(os.Getenv("AGENTMINT_API_KEY")))

	// After alice clicked "approve" in your app:
	m, err := c.Mint(context.Background(), client.MintRequest{
		Sub:     "alice@company.com",
		Action:  "refund:order:123",
		TTL:     2 * time.Minute,
		Details: map[string]any{"amount": 50, "currency": "USD"},
	})
	if err != nil {
		log.Fatal(err)
	}
	// Hand m.Token to the agent; log only the jti.
	log.Printf("minted %s, expires %s", m.JTI, m.ExpiresAt)
}

func ExampleClient_Verify() {
	c, _ := client.New("http://localhost:3000", client.WithAPIKey(os.Getenv("AGENTMINT_API_KEY")))
	tok := os.Getenv("TOKEN") // the token the agent presented

	v, err := c.Verify(context.Background(), tok, client.ForAction("refund:order:123"))
	switch {
	case errors.Is(err, client.ErrTokenUsed):
		log.Print("replay refused")
	case errors.Is(err, client.ErrTokenExpired):
		log.Print("approval expired: ask again")
	case err != nil:
		log.Printf("refused: %v", err)
	default:
		log.Printf("%s approved %s (audit #%d)", v.Sub, v.Action, v.AuditIndex)
	}
}

func ExampleClient_VerifyOffline() {
	c, _ := client.New("http://localhost:3000", client.WithIssuer("agentmint"))
	tok := os.Getenv("TOKEN")

	// Offline verification checks signature and claims but cannot detect
	// a replay: record claims.ID yourself if that matters.
	claims, err := c.VerifyOffline(context.Background(), tok, client.ForAction("report:read"))
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("%s approved %s", claims.Subject, claims.Action)
}

func ExampleClient_Middleware() {
	c, _ := client.New("http://localhost:3000", client.WithAPIKey(os.Getenv("AGENTMINT_API_KEY")))

	refund := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, _ := client.Approval(r.Context())
		fmt.Fprintf(w, "refund approved by %s (%s)\n", a.Sub, a.JTI)
	})
	mux := http.NewServeMux()
	// Agents send "Authorization: AgentMint <token>".
	mux.Handle("POST /refunds/123", c.Middleware("refund:order:123")(refund))
	log.Fatal(http.ListenAndServe("127.0.0.1:8080", mux))
}

func ExampleApproval() {
	handler := func(w http.ResponseWriter, r *http.Request) {
		a, ok := client.Approval(r.Context())
		if !ok {
			http.Error(w, "not behind the AgentMint middleware", 500)
			return
		}
		log.Printf("jti %s: %s approved %s with details %s", a.JTI, a.Sub, a.Action, a.Details)
	}
	_ = handler
}

func ExampleTokenHeader() {
	c, _ := client.New("http://localhost:3000")
	mw := c.Middleware("deploy:prod",
		client.TokenHeader("X-AgentMint-Token"), client.Audience("deployer"))
	_ = mw
}

func ExampleWithKeyRefreshInterval() {
	c, _ := client.New("http://localhost:3000",
		client.WithKeyRefreshInterval(30*time.Second),
		client.WithClock(time.Now))
	_ = c
}

func ExampleAPIError() {
	var err error = &client.APIError{Status: 409, Code: "token_used", Detail: "token already used"}
	fmt.Println(errors.Is(err, client.ErrTokenUsed))
	var ae *client.APIError
	if errors.As(err, &ae) {
		fmt.Println(ae.Status, ae.Code)
	}
	fmt.Println(err)
	// Output:
	// true
	// 409 token_used
	// agentmint: 409 token_used: token already used
}

func ExampleForAudience() {
	c, _ := client.New("http://localhost:3000")
	_, err := c.Verify(context.Background(), os.Getenv("TOKEN"),
		client.ForAction("refund:order:123"), client.ForAudience("payments"))
	if errors.Is(err, client.ErrForbidden) {
		log.Print("token minted for another action or audience; not consumed")
	}
}

func ExampleForAction() {
	c, _ := client.New("http://localhost:3000")
	if _, err := c.Verify(context.Background(), os.Getenv("TOKEN"),
		client.ForAction("deploy:prod:api:v2.1.0")); err != nil {
		log.Fatal(err)
	}
}

func ExampleAudience() {
	c, _ := client.New("http://localhost:3000")
	http.Handle("POST /payouts", c.Middleware("payout:create",
		client.Audience("payments"))(http.NotFoundHandler()))
}

func ExampleWithAPIKey() {
	// The key is a secret: read it from the environment or a file.
	c, _ := client.New("http://localhost:3000", client.WithAPIKey(os.Getenv("AGENTMINT_API_KEY")))
	_ = c
}

func ExampleWithHTTPClient() {
	c, _ := client.New("http://localhost:3000",
		client.WithHTTPClient(&http.Client{Timeout: 2 * time.Second}))
	_ = c
}

func ExampleWithIssuer() {
	// The server's --issuer; VerifyOffline refuses tokens of any other.
	c, _ := client.New("https://agentmint.example.com",
		client.WithIssuer("https://agentmint.example.com"))
	_ = c
}

func ExampleWithClock() {
	// Check tokens as of a moment other than now, e.g. in tests.
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c, _ := client.New("http://localhost:3000", client.WithClock(func() time.Time { return at }))
	_ = c
}
