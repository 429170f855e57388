package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// findChromium returns the path of a Chromium or Chrome binary, or "".
func findChromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome",
		"google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// freePort returns a loopback port that was free a moment ago. The page
// must be loaded from http://localhost:PORT, and the relying party's
// origin must name that port before the server starts.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestPasskeyBrowser registers a passkey and approves an action on the
// passkey page in headless Chromium, with the DevTools protocol's virtual
// authenticator standing in for a platform authenticator, and presents
// the token to /proxy.
func TestPasskeyBrowser(t *testing.T) {
	chrome := findChromium()
	if chrome == "" {
		t.Skip("no Chromium found (chromium, chromium-browser, google-chrome): " +
			"skipping the browser test; install Debian's chromium package, as .ci/run does")
	}

	// 1. The server, its relying party at http://localhost:PORT.
	port := strconv.Itoa(freePort(t))
	origin := "http://localhost:" + port
	s := startServer(t, serverOpts{args: []string{"--addr", "127.0.0.1:" + port,
		"--webauthn-rp-id", "localhost", "--webauthn-rp-origin", origin}})

	// 2. Headless Chromium with a fresh profile and no background traffic.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	ctx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chrome), chromedp.Headless, chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()))
	defer cancelAlloc()
	ctx, cancelTab := chromedp.NewContext(ctx)
	defer cancelTab()

	// 3. The page, with the action prefilled as a backend would link it,
	// and a virtual authenticator that verifies the user.
	q := url.Values{"user": {"alice@company.com"}, "action": {"refund:order:123:amount:50"},
		"details": {`{"amount":50,"memo":"abc` + "\u202e" + `def"}`}}
	page := origin + "/webauthn/?" + q.Encode()
	if err := chromedp.Do(ctx,
		chromedp.Navigate(page),
		chromedp.WaitVisible(chromedp.CSS("#reg-button")),
		chromedp.Func(func(ctx context.Context, tgt *chromedp.Target) error {
			if _, err := cdp.Call(ctx, tgt, webauthn.Enable, webauthn.EnableParams{}); err != nil {
				return err
			}
			_, err := cdp.Call(ctx, tgt, webauthn.AddVirtualAuthenticator,
				webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
					Protocol:                    webauthn.AuthenticatorProtocolCtap2,
					Transport:                   webauthn.AuthenticatorTransportInternal,
					HasResidentKey:              true,
					HasUserVerification:         true,
					IsUserVerified:              true,
					AutomaticPresenceSimulation: true,
				}})
			return err
		}),
	); err != nil {
		t.Fatalf("failed to open the page: %v\n%s", err, s.Stderr.String())
	}

	// 4. Register a passkey.
	if got := clickAndWait(t, ctx, "#reg-button", "reg-status"); got != "Passkey registered." {
		t.Fatalf("registration: %q\n%s", got, s.Stderr.String())
	}

	// 5. Review the action: shown in full, the hidden character revealed.
	err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("#review-button")),
		chromedp.WaitVisible(chromedp.CSS("#review")))
	if err != nil {
		t.Fatal(err)
	}
	details, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#rv-details")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(details, "abc⟨U+202E⟩def") {
		t.Errorf("the review shows details %q", details)
	}

	// 6. Approve with the passkey and read the token off the page.
	if got := clickAndWait(t, ctx, "#approve-button", "ap-status"); got != "Approved." {
		t.Fatalf("approval: %q\n%s", got, s.Stderr.String())
	}
	tok, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#res-token")))
	if err != nil {
		t.Fatal(err)
	}

	// 7. The token verifies at /proxy, and the evidence offline.
	r := s.proxy(t, strings.TrimSpace(tok))
	if r.Status != 200 {
		t.Fatalf("proxy: %d %s", r.Status, r.Body)
	}
	m := r.JSON(t)
	if m["sub"] != "alice@company.com" || m["action"] != "refund:order:123:amount:50" ||
		fmt.Sprint(m["amr"]) != "[passkey]" {
		t.Errorf("proxy answered %s", r.Body)
	}
	var out bytes.Buffer
	if code := Main(context.Background(), []string{"passkey", "verify-evidence",
		"--data-dir", s.DataDir}, &out, &out); code != 0 {
		t.Errorf("verify-evidence: %s", out.String())
	}
}

// clickAndWait clicks a button and returns the text of the status line
// once it no longer says the ceremony is in progress.
func clickAndWait(t *testing.T, ctx context.Context, button, status string) string {
	t.Helper()
	done := fmt.Sprintf(`(() => { const s = document.getElementById(%q).textContent;
		return s !== "" && !s.endsWith("…") ? s : ""; })()`, status)
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(button))); err != nil {
		t.Fatalf("clicking %s: %v", button, err)
	}
	text, err := chromedp.Run(ctx, chromedp.Poll[string](done,
		chromedp.WithPollingTimeout(30*time.Second)))
	if err != nil {
		t.Fatalf("waiting for %s: %v", status, err)
	}
	return text
}
