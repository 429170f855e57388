// Package web holds the pages AgentMint serves, embedded in the binary.
package web

import (
	"embed"
	"io/fs"
)

//go:embed webauthn
var files embed.FS

// Passkey is the passkey page, served at /webauthn/: index.html, its
// script and its style sheet. It loads nothing from elsewhere and runs no
// inline script, so that it works under a Content-Security-Policy of
// script-src 'self'.
var Passkey fs.FS

func init() {
	sub, err := fs.Sub(files, "webauthn")
	if err != nil {
		panic(err)
	}
	Passkey = sub
}
