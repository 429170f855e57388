package passkey

import (
	"fmt"
	"testing"
	"time"
)

// TestLimiterFullScansRarely fills a limiter with keys that have each
// taken a token, then sends new keys: they are refused (fail closed), and
// the whole map is scanned once, not once a key, until a bucket can be
// full again.
func TestLimiterFullScansRarely(t *testing.T) {
	l := newLimiter(Limit{Burst: 3, Every: time.Second})
	l.max = 1000
	t0 := time.Unix(1_800_000_000, 0)
	for i := range l.max {
		if ok, _ := l.allow(fmt.Sprint("user", i), t0); !ok {
			t.Fatalf("key %d refused while the limiter had room", i)
		}
	}

	// 1. Nothing has refilled: new keys are refused after one scan.
	for i := range 500 {
		at := t0.Add(time.Duration(i) * time.Millisecond)
		if ok, _ := l.allow(fmt.Sprint("new", i), at); ok {
			t.Fatalf("new key %d allowed on a full limiter", i)
		}
	}
	if l.scans != 1 {
		t.Errorf("%d scans for 500 refused keys, want 1", l.scans)
	}
	if len(l.buckets) != l.max {
		t.Errorf("%d buckets, want %d", len(l.buckets), l.max)
	}

	// 2. One Every later every bucket is full again: the next new key
	// drops them all and is allowed.
	if ok, _ := l.allow("late", t0.Add(time.Second)); !ok {
		t.Fatal("new key refused once the buckets had refilled")
	}
	if l.scans != 2 || len(l.buckets) != 1 {
		t.Errorf("%d scans, %d buckets; want 2 and 1", l.scans, len(l.buckets))
	}
}

// TestLimiterEvictWaitsForSoonestFull: a scan that frees nothing puts the
// next one off until the first bucket can be full, even when that is
// later than one Every.
func TestLimiterEvictWaitsForSoonestFull(t *testing.T) {
	l := newLimiter(Limit{Burst: 3, Every: time.Second})
	l.max = 10
	t0 := time.Unix(1_800_000_000, 0)
	for i := range l.max {
		for range 3 { // each bucket emptied: full again after 3 s
			l.allow(fmt.Sprint("user", i), t0)
		}
	}
	for _, d := range []time.Duration{0, time.Second, 2 * time.Second, 2999 * time.Millisecond} {
		ok, wait := l.allow("new", t0.Add(d))
		if ok {
			t.Fatalf("new key allowed at +%v, before any bucket refilled", d)
		}
		// The wait is until the next scan, about +3 s.
		if got := d + wait; got < 2999*time.Millisecond || got > 3*time.Second {
			t.Errorf("at +%v: wait %v, want until about +3s", d, wait)
		}
	}
	if l.scans != 1 {
		t.Errorf("%d scans before the first bucket could be full, want 1", l.scans)
	}
	if ok, _ := l.allow("new", t0.Add(3*time.Second)); !ok {
		t.Error("new key refused once the buckets had refilled")
	}
}

// TestLimiterRefillsAfterEviction: buckets added in the room a scan
// freed can be dropped by the next scan as soon as they are full again,
// one Every later, whatever the buckets that were dropped would have set.
func TestLimiterRefillsAfterEviction(t *testing.T) {
	l := newLimiter(Limit{Burst: 3, Every: time.Second})
	l.max = 10
	t0 := time.Unix(1_800_000_000, 0)
	fill := func(prefix string, at time.Time) {
		t.Helper()
		for i := len(l.buckets); i < l.max; i++ {
			if ok, _ := l.allow(fmt.Sprint(prefix, i), at); !ok {
				t.Fatalf("%s%d refused while the limiter had room", prefix, i)
			}
		}
	}
	fill("first", t0)
	if ok, _ := l.allow("second0", t0.Add(time.Second)); !ok {
		t.Fatal("new key refused once the first buckets had refilled")
	}
	fill("second", t0.Add(time.Second))
	if ok, _ := l.allow("third", t0.Add(2*time.Second)); !ok {
		t.Error("new key refused once the second buckets had refilled")
	}
}

// BenchmarkLimiterFull measures a new key on a full limiter whose
// buckets have not refilled: the request an attack filling the map sends.
func BenchmarkLimiterFull(b *testing.B) {
	l := newLimiter(DefaultUserLimit)
	t0 := time.Unix(1_800_000_000, 0)
	for i := range l.max {
		l.allow(fmt.Sprint("user", i), t0)
	}
	for i := 0; b.Loop(); i++ {
		at := t0.Add(time.Duration(i) * time.Microsecond)
		if ok, _ := l.allow(fmt.Sprint("new", i), at); ok {
			b.Fatal("new key allowed on a full limiter")
		}
	}
}
