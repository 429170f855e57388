package passkey

import (
	"math"
	"sync"
	"time"
)

// Limit is a token bucket: Burst requests at once, then one every Every.
type Limit struct {
	Burst int
	Every time.Duration
}

// The default limits of the start endpoints.
var (
	DefaultUserLimit = Limit{Burst: 10, Every: 6 * time.Second} // 10 a minute
	DefaultIPLimit   = Limit{Burst: 30, Every: 2 * time.Second} // 30 a minute
)

// maxBuckets bounds a limiter's memory. When it is reached, buckets that
// have refilled are dropped; if none has, the key is refused (fail closed).
const maxBuckets = 100000

// limiter keeps one token bucket per key, in memory. NOTE: each replica
// limits on its own; the lockout, which must hold across replicas, is in
// the store.
type limiter struct {
	limit   Limit
	max     int // buckets kept at most
	mu      sync.Mutex
	buckets map[string]bucket
	// nextEvict is the earliest moment an eviction is tried again: until
	// then a new key on a full limiter is refused without a scan, so that
	// keys sent to fill it cannot make every request walk the whole map.
	nextEvict time.Time
	scans     int // evictions tried, for tests
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(l Limit) *limiter {
	return &limiter{limit: l, max: maxBuckets, buckets: map[string]bucket{}}
}

// allow takes a token for key at now. If there is none it returns false
// and how long until there is.
func (l *limiter) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= l.max && !l.evict(now) {
			return false, l.nextEvict.Sub(now)
		}
		b = bucket{tokens: float64(l.limit.Burst), at: now}
	}
	b = l.refill(b, now)
	if b.tokens < 1 {
		l.buckets[key] = b
		wait := time.Duration((1 - b.tokens) * float64(l.limit.Every))
		return false, wait
	}
	b.tokens--
	l.buckets[key] = b
	return true, 0
}

func (l *limiter) refill(b bucket, now time.Time) bucket {
	if d := now.Sub(b.at); d > 0 {
		b.tokens += float64(d) / float64(l.limit.Every)
		b.at = now
	}
	if max := float64(l.limit.Burst); b.tokens > max {
		b.tokens = max
	}
	return b
}

// evict drops the buckets that are full again at now and reports whether
// it dropped any. A bucket within a millionth of a token of full counts
// as full, so that float rounding does not keep one. After a scan that
// drops nothing, the next waits until the first bucket can be full; after
// any scan, at least one Every, since a scan costs the whole map.
func (l *limiter) evict(now time.Time) bool {
	if now.Before(l.nextEvict) {
		return false
	}
	l.scans++
	n, burst := len(l.buckets), float64(l.limit.Burst)
	full := burst - 1e-6
	soonest := now.Add(time.Duration(burst * float64(l.limit.Every)))
	for k, b := range l.buckets {
		b = l.refill(b, now)
		if b.tokens >= full {
			delete(l.buckets, k)
			continue
		}
		wait := time.Duration(math.Ceil((full - b.tokens) * float64(l.limit.Every)))
		if at := b.at.Add(wait); at.Before(soonest) {
			soonest = at
		}
	}
	l.nextEvict = now.Add(l.limit.Every)
	dropped := len(l.buckets) < n
	if !dropped && soonest.After(l.nextEvict) {
		l.nextEvict = soonest
	}
	return dropped
}
