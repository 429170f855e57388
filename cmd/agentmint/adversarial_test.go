package main

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"hash"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentmint/agentmint/internal/keys"
)

var b64u = base64.RawURLEncoding

// victim is a real token minted by the server under test, taken apart, so
// that an attack can reuse its claims and jti.
type victim struct {
	tok     string
	jti     string
	h, p, s string     // the three segments as sent
	claims  claimsList // the decoded claims, in canonical order
	kid     string
	priv    ed25519.PrivateKey // the server's signing key
	pub     ed25519.PublicKey
}

// claimsList is an ordered JSON object, so that attacks can reorder,
// repeat, drop or respell members.
type claimsList []claim

type claim struct{ name, raw string }

func (cl claimsList) json() string {
	parts := make([]string, len(cl))
	for i, c := range cl {
		parts[i] = strconv.Quote(c.name) + ":" + c.raw
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// with returns the claims with name set to raw (appended if absent).
func (cl claimsList) with(name, raw string) claimsList {
	out := append(claimsList(nil), cl...)
	for i := range out {
		if out[i].name == name {
			out[i].raw = raw
			return out
		}
	}
	return append(out, claim{name, raw})
}

// without returns the claims without name.
func (cl claimsList) without(name string) claimsList {
	var out claimsList
	for _, c := range cl {
		if c.name != name {
			out = append(out, c)
		}
	}
	return out
}

func (cl claimsList) get(name string) string {
	for _, c := range cl {
		if c.name == name {
			return c.raw
		}
	}
	return ""
}

func (cl claimsList) date(name string) int64 {
	n, _ := strconv.ParseInt(cl.get(name), 10, 64)
	return n
}

func (v *victim) header() string {
	return `{"alg":"EdDSA","kid":"` + v.kid + `","typ":"agentmint+jwt"}`
}

// sign makes a compact token of header and payload signed by key.
func sign(header, payload string, key ed25519.PrivateKey) string {
	in := b64u.EncodeToString([]byte(header)) + "." + b64u.EncodeToString([]byte(payload))
	return in + "." + b64u.EncodeToString(ed25519.Sign(key, []byte(in)))
}

// hmacToken signs header and payload with HMAC under secret.
func hmacToken(header, payload string, h func() hash.Hash, secret []byte) string {
	in := b64u.EncodeToString([]byte(header)) + "." + b64u.EncodeToString([]byte(payload))
	m := hmac.New(h, secret)
	m.Write([]byte(in))
	return in + "." + b64u.EncodeToString(m.Sum(nil))
}

// serverKey reads the server's current signing key from its data
// directory, as an attacker who somehow knew it would not, so that claim
// attacks carry a valid signature and reach the check they target.
func serverKey(t *testing.T, dataDir string) ed25519.PrivateKey {
	t.Helper()
	ks, err := keys.Load(filepath.Join(dataDir, "keys"))
	if err != nil || len(ks) == 0 {
		t.Fatalf("load keys: %v", err)
	}
	b, err := os.ReadFile(ks[len(ks)-1].Path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(ed25519.PrivateKey)
}

func (s *testServer) victim(t *testing.T, priv ed25519.PrivateKey) *victim {
	t.Helper()
	tok, jti := s.mint(t, "alice@company.com", "refund:order:123:amount:50")
	v := &victim{tok: tok, jti: jti, priv: priv, pub: priv.Public().(ed25519.PublicKey)}
	parts := strings.Split(tok, ".")
	v.h, v.p, v.s = parts[0], parts[1], parts[2]
	v.kid = keys.Thumbprint(v.pub)
	pb, _ := b64u.DecodeString(v.p)
	d := json.NewDecoder(strings.NewReader(string(pb)))
	d.Token() // {
	for d.More() {
		name, _ := d.Token()
		var raw json.RawMessage
		if err := d.Decode(&raw); err != nil {
			t.Fatal(err)
		}
		v.claims = append(v.claims, claim{name.(string), string(raw)})
	}
	if v.claims.json() != string(pb) {
		t.Fatalf("claims round trip: %s != %s", v.claims.json(), pb)
	}
	return v
}

// recorder is a loopback listener that counts every connection made to
// it: jku, x5u and hostile kid values point at it, and nothing may dial.
type recorder struct {
	url   string
	conns atomic.Int64
}

func startRecorder(t *testing.T) *recorder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{url: "http://" + ln.Addr().String() + "/keys.json"}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.conns.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return r
}

// attack builds a hostile token from a freshly minted victim.
type attack struct {
	name  string
	build func(v *victim) string
	code  string // the problem code; "" means invalid_token
}

func TestAdversarial(t *testing.T) {
	s := startServer(t, serverOpts{args: []string{"--limit-ip", "off"}})
	priv := serverKey(t, s.DataDir)
	rec := startRecorder(t)
	attacks := adversarialAttacks(t, rec)
	if len(attacks) < 40 {
		t.Fatalf("only %d attacks", len(attacks))
	}
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			v := s.victim(t, priv)
			bad := a.build(v)
			if bad == v.tok {
				t.Fatal("the attack is the real token")
			}
			// Every hostile token is a 401, however malformed: never a 2xx,
			// a 409 (consumed) or a 5xx.
			r := s.proxy(t, bad)
			code := "invalid_token"
			if a.code != "" {
				code = a.code
			}
			wantProblem(t, r, 401, code)
			if strings.Contains(string(r.Body), v.jti) {
				t.Errorf("the refusal echoes the jti: %s", r.Body)
			}

			// The real token sharing the jti was not consumed.
			r = s.proxy(t, v.tok)
			if r.Status != 200 || r.JSON(t)["jti"] != v.jti {
				t.Fatalf("the real token after the attack: %d %s", r.Status, r.Body)
			}
		})
	}
	if n := rec.conns.Load(); n != 0 {
		t.Fatalf("the server made %d outbound connections to URLs in tokens", n)
	}
}

func adversarialAttacks(t *testing.T, rec *recorder) []attack {
	attacker := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	attackerPub := attacker.Public().(ed25519.PublicKey)
	attackerKid := keys.Thumbprint(attackerPub)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	hdr := func(v *victim, members string) string {
		return `{"alg":"EdDSA","kid":"` + v.kid + `","typ":"agentmint+jwt",` + members + `}`
	}
	withHeader := func(header string) func(v *victim) string {
		return func(v *victim) string {
			return sign(strings.ReplaceAll(header, "KID", v.kid), v.claims.json(), v.priv)
		}
	}
	withClaims := func(f func(v *victim) claimsList) func(v *victim) string {
		return func(v *victim) string { return sign(v.header(), f(v).json(), v.priv) }
	}
	withSig := func(f func(v *victim, sig []byte) []byte) func(v *victim) string {
		return func(v *victim) string {
			sig, _ := b64u.DecodeString(v.s)
			return v.h + "." + v.p + "." + b64u.EncodeToString(f(v, sig))
		}
	}

	var as []attack
	add := func(name string, f func(v *victim) string) {
		as = append(as, attack{name: name, build: f})
	}

	// alg none, in any case, with and without a signature.
	for _, alg := range []string{"none", "None", "NONE", "nOnE"} {
		add("alg-"+alg, func(v *victim) string {
			h := `{"alg":"` + alg + `","kid":"` + v.kid + `","typ":"agentmint+jwt"}`
			return b64u.EncodeToString([]byte(h)) + "." + v.p + "."
		})
	}
	add("alg-none-real-signature", func(v *victim) string {
		h := `{"alg":"none","kid":"` + v.kid + `","typ":"agentmint+jwt"}`
		return b64u.EncodeToString([]byte(h)) + "." + v.p + "." + v.s
	})

	// HMAC with every public form of the key as the secret.
	forms := map[string]func(v *victim) []byte{
		"raw": func(v *victim) []byte { return v.pub },
		"x":   func(v *victim) []byte { return []byte(b64u.EncodeToString(v.pub)) },
		"jwk": func(v *victim) []byte { b, _ := json.Marshal(keys.PublicJWK(v.pub)); return b },
		"jwk-thumb": func(v *victim) []byte {
			return []byte(`{"crv":"Ed25519","kty":"OKP","x":"` + b64u.EncodeToString(v.pub) + `"}`)
		},
		"spki-der": func(v *victim) []byte { b, _ := x509.MarshalPKIXPublicKey(v.pub); return b },
		"spki-pem": func(v *victim) []byte {
			b, _ := x509.MarshalPKIXPublicKey(v.pub)
			return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: b})
		},
	}
	for form, secret := range forms {
		for alg, h := range map[string]func() hash.Hash{"HS256": sha256.New, "HS512": sha512.New} {
			add("hmac-"+alg+"-"+form, func(v *victim) string {
				header := `{"alg":"` + alg + `","kid":"` + v.kid + `","typ":"agentmint+jwt"}`
				return hmacToken(header, v.claims.json(), h, secret(v))
			})
		}
	}

	// Another algorithm, an attacker's key, the real kid.
	add("ES256-attacker-key", func(v *victim) string {
		header := `{"alg":"ES256","kid":"` + v.kid + `","typ":"agentmint+jwt"}`
		in := b64u.EncodeToString([]byte(header)) + "." + b64u.EncodeToString([]byte(v.claims.json()))
		sum := sha256.Sum256([]byte(in))
		r, s, err := ecdsa.Sign(rand.Reader, ecKey, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		sig := append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
		return in + "." + b64u.EncodeToString(sig)
	})
	add("attacker-key-real-kid", func(v *victim) string {
		return sign(v.header(), v.claims.json(), attacker)
	})
	add("attacker-key-own-kid", func(v *victim) string {
		return sign(`{"alg":"EdDSA","kid":"`+attackerKid+`","typ":"agentmint+jwt"}`,
			v.claims.json(), attacker)
	})

	// Hostile kid values.
	for name, kid := range map[string]string{
		"empty": `""`, "traversal": `"../../keys/current.pem"`,
		"sql": `"' OR '1'='1"`, "url": strconv.Quote(rec.url),
		"nul": `"\u0000"`, "long": `"` + strings.Repeat("A", 600) + `"`,
		"number": `1`, "array": `["x"]`, "null": `null`,
	} {
		add("kid-"+name, func(v *victim) string {
			return sign(`{"alg":"EdDSA","kid":`+kid+`,"typ":"agentmint+jwt"}`, v.claims.json(), v.priv)
		})
	}

	// Keys and key locations in the header: embedded jwk, jku, x5u, x5c.
	attackerJWK, _ := json.Marshal(keys.PublicJWK(attackerPub))
	add("embedded-jwk", func(v *victim) string {
		return sign(hdr(v, `"jwk":`+string(attackerJWK)), v.claims.json(), attacker)
	})
	add("embedded-jwk-attacker-kid", func(v *victim) string {
		h := `{"alg":"EdDSA","jwk":` + string(attackerJWK) + `,"kid":"` + attackerKid + `","typ":"agentmint+jwt"}`
		return sign(h, v.claims.json(), attacker)
	})
	add("jku", func(v *victim) string {
		return sign(hdr(v, `"jku":`+strconv.Quote(rec.url)), v.claims.json(), attacker)
	})
	add("jku-real-signature", func(v *victim) string {
		return sign(hdr(v, `"jku":`+strconv.Quote(rec.url)), v.claims.json(), v.priv)
	})
	add("x5u", func(v *victim) string {
		return sign(hdr(v, `"x5u":`+strconv.Quote(rec.url)), v.claims.json(), attacker)
	})
	add("x5c", func(v *victim) string {
		return sign(hdr(v, `"x5c":["`+base64.StdEncoding.EncodeToString(attackerPub)+`"]`),
			v.claims.json(), attacker)
	})

	// Header members the profile forbids, signed by the real key so that
	// only the header check can refuse them.
	add("crit", withHeader(`{"alg":"EdDSA","crit":["exp"],"kid":"KID","typ":"agentmint+jwt"}`))
	add("b64-false", withHeader(`{"alg":"EdDSA","b64":false,"crit":["b64"],"kid":"KID","typ":"agentmint+jwt"}`))
	add("zip", withHeader(`{"alg":"EdDSA","kid":"KID","typ":"agentmint+jwt","zip":"DEF"}`))
	add("typ-missing", withHeader(`{"alg":"EdDSA","kid":"KID"}`))
	add("typ-JWT", withHeader(`{"alg":"EdDSA","kid":"KID","typ":"JWT"}`))
	add("typ-upper", withHeader(`{"alg":"EdDSA","kid":"KID","typ":"AGENTMINT+JWT"}`))
	add("typ-at+jwt", withHeader(`{"alg":"EdDSA","kid":"KID","typ":"at+jwt"}`))
	add("dup-alg-none-last", withHeader(`{"alg":"EdDSA","alg":"none","kid":"KID","typ":"agentmint+jwt"}`))
	add("dup-alg-eddsa-last", withHeader(`{"alg":"none","alg":"EdDSA","kid":"KID","typ":"agentmint+jwt"}`))
	add("dup-kid", withHeader(`{"alg":"EdDSA","kid":"x","kid":"KID","typ":"agentmint+jwt"}`))
	add("case-variant-Alg", withHeader(`{"Alg":"none","alg":"EdDSA","kid":"KID","typ":"agentmint+jwt"}`))
	add("case-variant-KID", withHeader(`{"alg":"EdDSA","KID":"KID","typ":"agentmint+jwt"}`))
	add("header-reordered", withHeader(`{"kid":"KID","alg":"EdDSA","typ":"agentmint+jwt"}`))
	add("header-whitespace", withHeader(`{ "alg": "EdDSA", "kid": "KID", "typ": "agentmint+jwt" }`))
	add("header-escaped", withHeader(`{"alg":"Ed\u0044SA","kid":"KID","typ":"agentmint+jwt"}`))

	// The JSON serializations.
	add("json-flattened", func(v *victim) string {
		return `{"payload":"` + v.p + `","protected":"` + v.h + `","signature":"` + v.s + `"}`
	})
	add("json-general", func(v *victim) string {
		return `{"payload":"` + v.p + `","signatures":[{"protected":"` + v.h + `","signature":"` + v.s + `"}]}`
	})

	// Whitespace, padding and non-canonical base64.
	add("leading-space", func(v *victim) string { return " " + v.tok })
	add("trailing-newline", func(v *victim) string { return v.tok + "\n" })
	add("inner-space", func(v *victim) string { return v.h + ". " + v.p + "." + v.s })
	add("padding", func(v *victim) string { return v.tok + "==" })
	add("padding-header", func(v *victim) string { return v.h + "=." + v.p + "." + v.s })
	add("std-alphabet", func(v *victim) string {
		sig, _ := b64u.DecodeString(v.s)
		return v.h + "." + v.p + "." + base64.StdEncoding.EncodeToString(sig)
	})
	add("non-canonical-trailing-bits", func(v *victim) string {
		// 64 bytes are 86 characters; the last carries 4 unused bits.
		last := strings.IndexByte(b64alphabet, v.s[len(v.s)-1])
		return v.h + "." + v.p + "." + v.s[:len(v.s)-1] + string(b64alphabet[last^1])
	})
	add("four-segments", func(v *victim) string { return v.tok + "." + v.s })
	add("two-segments", func(v *victim) string { return v.h + "." + v.p })

	// Signatures: truncated, extended, zero, malleated, of another token.
	add("sig-truncated", withSig(func(v *victim, s []byte) []byte { return s[:63] }))
	add("sig-extended", withSig(func(v *victim, s []byte) []byte { return append(s, 0) }))
	add("sig-zero", withSig(func(v *victim, s []byte) []byte { return make([]byte, 64) }))
	add("sig-empty", withSig(func(v *victim, s []byte) []byte { return nil }))
	add("sig-S-plus-L", withSig(func(v *victim, s []byte) []byte { return addL(s) }))
	add("sig-bit-flip", withSig(func(v *victim, s []byte) []byte {
		c := append([]byte(nil), s...)
		c[5] ^= 1
		return c
	}))
	add("sig-of-other-claims", func(v *victim) string {
		other := sign(v.header(), v.claims.with("sub", `"mallory@company.com"`).json(), v.priv)
		return v.h + "." + v.p + "." + other[strings.LastIndexByte(other, '.')+1:]
	})

	// Claims, validly signed, each breaking one rule.
	for _, name := range []string{"iss", "sub", "action", "jti", "iat", "exp"} {
		add("claim-missing-"+name, withClaims(func(v *victim) claimsList { return v.claims.without(name) }))
	}
	add("claim-dup-sub", withClaims(func(v *victim) claimsList {
		return append(v.claims, claim{"sub", `"mallory@company.com"`})
	}))
	add("claim-dup-jti", withClaims(func(v *victim) claimsList {
		return append(v.claims, claim{"jti", `"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"`})
	}))
	add("claim-case-variant-SUB", withClaims(func(v *victim) claimsList {
		return append(v.claims, claim{"SUB", `"mallory@company.com"`})
	}))
	add("claim-unknown-admin", withClaims(func(v *victim) claimsList {
		return append(v.claims, claim{"admin", `true`})
	}))
	add("claim-reordered", withClaims(func(v *victim) claimsList {
		c := append(claimsList(nil), v.claims...)
		c[0], c[1] = c[1], c[0]
		return c
	}))
	add("claim-exp-float", withClaims(func(v *victim) claimsList {
		return v.claims.with("exp", strconv.FormatInt(v.claims.date("exp"), 10)+".5")
	}))
	add("claim-exp-exponent", withClaims(func(v *victim) claimsList {
		return v.claims.with("exp", "1.8e9")
	}))
	add("claim-exp-string", withClaims(func(v *victim) claimsList {
		return v.claims.with("exp", strconv.Quote(strconv.FormatInt(v.claims.date("exp"), 10)))
	}))
	add("claim-exp-null", withClaims(func(v *victim) claimsList { return v.claims.with("exp", "null") }))
	add("claim-exp-huge", withClaims(func(v *victim) claimsList {
		return v.claims.with("exp", "99999999999999999999")
	}))
	add("claim-exp-year-10000", withClaims(func(v *victim) claimsList {
		return v.claims.with("iat", "253402300700").with("exp", "253402300800")
	}))
	add("claim-iat-negative", withClaims(func(v *victim) claimsList {
		return v.claims.with("iat", "-1").with("exp", "59")
	}))
	add("claim-lifetime-301", withClaims(func(v *victim) claimsList {
		return v.claims.with("exp", strconv.FormatInt(v.claims.date("iat")+301, 10))
	}))
	add("claim-lifetime-day", withClaims(func(v *victim) claimsList {
		return v.claims.with("exp", strconv.FormatInt(v.claims.date("iat")+86400, 10))
	}))
	add("claim-lifetime-zero", withClaims(func(v *victim) claimsList {
		return v.claims.with("exp", v.claims.get("iat"))
	}))
	add("claim-iat-future", withClaims(func(v *victim) claimsList {
		iat := time.Now().Unix() + 120
		return v.claims.with("iat", strconv.FormatInt(iat, 10)).
			with("exp", strconv.FormatInt(iat+60, 10))
	}))
	add("claim-expired", withClaims(func(v *victim) claimsList {
		iat := time.Now().Unix() - 600
		return v.claims.with("iat", strconv.FormatInt(iat, 10)).
			with("exp", strconv.FormatInt(iat+60, 10))
	}))
	as[len(as)-1].code = "token_expired"
	add("claim-wrong-iss", withClaims(func(v *victim) claimsList {
		return v.claims.with("iss", `"https://evil.example"`)
	}))
	add("claim-iss-case", withClaims(func(v *victim) claimsList {
		return v.claims.with("iss", strings.ToUpper(v.claims.get("iss")))
	}))
	add("claim-sub-escaped", withClaims(func(v *victim) claimsList {
		return v.claims.with("sub", `"alice\u0040company.com"`)
	}))
	add("payload-array", func(v *victim) string { return sign(v.header(), `[`+v.claims.json()+`]`, v.priv) })
	add("oversized", func(v *victim) string {
		return sign(v.header(), v.claims.with("details", `{"x":"`+strings.Repeat("a", 2000)+`"}`).json(), v.priv)
	})
	return as
}

const b64alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// addL returns the signature with L, the order of the Ed25519 group, added
// to S: the classic malleation, which RFC 8032 verifiers must refuse.
func addL(sig []byte) []byte {
	l, _ := new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)
	le := func(b []byte) *big.Int { // little-endian to big.Int
		r := make([]byte, len(b))
		for i := range b {
			r[len(b)-1-i] = b[i]
		}
		return new(big.Int).SetBytes(r)
	}
	sum := new(big.Int).Add(le(sig[32:]), l).FillBytes(make([]byte, 32))
	out := append([]byte(nil), sig[:32]...)
	for i := range sum {
		out = append(out, sum[len(sum)-1-i])
	}
	return out
}
