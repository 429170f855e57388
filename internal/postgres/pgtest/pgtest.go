// Package pgtest gives tests an empty PostgreSQL database of their own on
// the server that AGENTMINT_TEST_POSTGRES names.
package pgtest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Env is the variable that names the test server, as a postgres:// url
// with a database the tests may connect to in order to create others.
const Env = "AGENTMINT_TEST_POSTGRES"

var seq atomic.Int64

// Server returns the url of the test server, or skips the test.
func Server(t testing.TB) string {
	t.Helper()
	u := os.Getenv(Env)
	if u == "" {
		t.Skip(Env + " is not set; .ci/run sets it to the local PostgreSQL")
	}
	return u
}

// FreshDatabase creates an empty database for the test, drops it when the
// test ends, and returns its url.
func FreshDatabase(t testing.TB) string {
	t.Helper()
	base := Server(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("failed to reach the test PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	name := fmt.Sprintf("agentmint_test_%d_%d", os.Getpid(), seq.Add(1))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			return
		}
		defer conn.Close(ctx)
		conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}
