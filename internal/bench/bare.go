package bench

import (
	"crypto/ed25519"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Bare is the machine's Ed25519 rates on all cores, with no service
// around them: the physical limit the service is compared with. They are
// measured before and after the load, and the rates are the means, so
// that a change in what else runs on the machine shows.
type Bare struct {
	VerifyPerSec float64 `json:"verify_per_second"`
	SignPerSec   float64 `json:"sign_per_second"`
	Seconds      float64 `json:"seconds_each"`
	Before       Rates   `json:"before"`
	After        Rates   `json:"after"`
}

// Rates is one measurement of the bare rates.
type Rates struct {
	VerifyPerSec float64 `json:"verify_per_second"`
	SignPerSec   float64 `json:"sign_per_second"`
}

// combine sets the means of before and after and reports whether they
// differ by more than a fifth.
func (b *Bare) combine() (steady bool) {
	b.VerifyPerSec = (b.Before.VerifyPerSec + b.After.VerifyPerSec) / 2
	b.SignPerSec = (b.Before.SignPerSec + b.After.SignPerSec) / 2
	near := func(x, y float64) bool { return x <= 1.2*y && y <= 1.2*x }
	return near(b.Before.VerifyPerSec, b.After.VerifyPerSec) &&
		near(b.Before.SignPerSec, b.After.SignPerSec)
}

// bareMessage has the length of a typical token's signing input.
var bareMessage = make([]byte, 190)

func measureBare(d time.Duration) Rates {
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	pub := key.Public().(ed25519.PublicKey)
	sig := ed25519.Sign(key, bareMessage)
	verify := rate(d, func() {
		if !ed25519.Verify(pub, bareMessage, sig) {
			panic("bench: a fresh signature does not verify")
		}
	})
	sign := rate(d, func() { ed25519.Sign(key, bareMessage) })
	return Rates{VerifyPerSec: verify, SignPerSec: sign}
}

// rate runs op on GOMAXPROCS goroutines for d and returns operations per
// second.
func rate(d time.Duration, op func()) float64 {
	var stop atomic.Bool
	var total atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			n := int64(0)
			for !stop.Load() {
				op()
				n++
			}
			total.Add(n)
		})
	}
	time.Sleep(d)
	stop.Store(true)
	wg.Wait()
	return float64(total.Load()) / time.Since(start).Seconds()
}
