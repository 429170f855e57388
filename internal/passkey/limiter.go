package passkey

import (
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
	mu      sync.Mutex
	buckets map[string]bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(l Limit) *limiter {
	return &limiter{limit: l, buckets: map[string]bucket{}}
}

// allow takes a token for key at now. If there is none it returns false
// and how long until there is.
func (l *limiter) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= maxBuckets && !l.evict(now) {
			return false, l.limit.Every
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
// it dropped any.
func (l *limiter) evict(now time.Time) bool {
	n := len(l.buckets)
	for k, b := range l.buckets {
		if l.refill(b, now).tokens >= float64(l.limit.Burst) {
			delete(l.buckets, k)
		}
	}
	return len(l.buckets) < n
}
