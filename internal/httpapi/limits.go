package httpapi

import (
	"container/list"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Rate is a limit of N requests per period, refilled continuously (a token
// bucket of N tokens). The zero Rate means no limit.
type Rate struct {
	N   int
	Per time.Duration
}

// ParseRate reads a rate written N/s, N/m or N/h; "0" or "off" means no
// limit.
func ParseRate(s string) (Rate, error) {
	if s == "0" || s == "off" {
		return Rate{}, nil
	}
	n, unit, ok := strings.Cut(s, "/")
	per := map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour}[unit]
	v, err := strconv.Atoi(n)
	if !ok || per == 0 || err != nil || v < 1 || v > 1_000_000 {
		return Rate{}, fmt.Errorf("invalid rate %q: want N/s, N/m or N/h with N from 1 to 1000000, or off", s)
	}
	return Rate{N: v, Per: per}, nil
}

// String writes r as ParseRate reads it.
func (r Rate) String() string {
	if r.N == 0 {
		return "off"
	}
	unit := map[time.Duration]string{time.Second: "s", time.Minute: "m", time.Hour: "h"}[r.Per]
	if unit == "" {
		return strconv.Itoa(r.N) + "/" + r.Per.String()
	}
	return strconv.Itoa(r.N) + "/" + unit
}

// Limits are the request limits. Each applies per key: the client IP on
// every route but /health and /ready, the caller on every authenticated
// request, and the sub on /mint.
type Limits struct {
	PerIP     Rate
	PerCaller Rate
	PerSub    Rate
	// MaxKeys bounds the keys each limit tracks; zero means
	// DefaultMaxLimitKeys.
	MaxKeys int
}

// DefaultMaxLimitKeys is how many keys (IPs, callers, subs) each limit
// tracks at most.
const DefaultMaxLimitKeys = 10000

// limiter is a token bucket per key, in golang.org/x/time/rate, with the
// least recently used key evicted when there are too many.
//
// NOTE: eviction forgets a bucket, which refills it. The evicted key is the
// one idle longest, whose bucket has most likely refilled anyway; an
// attacker who wants to reset their own bucket must first make MaxKeys other
// keys busier, which the other limits throttle.
type limiter struct {
	name string // the policy name in RateLimit fields
	rate Rate
	max  int

	mu   sync.Mutex
	keys map[string]*list.Element // of *bucket
	lru  list.List                // front: most recently used
}

type bucket struct {
	key string
	lim *rate.Limiter
}

func newLimiter(name string, r Rate, max int) *limiter {
	if r.N == 0 {
		return nil
	}
	if max <= 0 {
		max = DefaultMaxLimitKeys
	}
	return &limiter{name: name, rate: r, max: max, keys: make(map[string]*list.Element)}
}

// limitState is what a limit says about one request, for the RateLimit
// fields.
type limitState struct {
	policy    string
	quota     int
	window    time.Duration
	remaining int
	// reset is how long until a request would be allowed again, when
	// remaining is 0, or until the bucket is full otherwise.
	reset time.Duration
}

// allow takes one token of key's bucket at now, if it has one.
func (l *limiter) allow(key string, now time.Time) (limitState, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(key)
	ok := b.lim.AllowN(now, 1)
	tokens := b.lim.TokensAt(now)
	st := limitState{policy: l.name, quota: l.rate.N, window: l.rate.Per,
		remaining: int(math.Max(0, math.Floor(tokens)))}
	perToken := float64(l.rate.Per) / float64(l.rate.N)
	if st.remaining == 0 {
		st.reset = time.Duration((1 - tokens) * perToken)
	} else {
		st.reset = time.Duration((float64(l.rate.N) - tokens) * perToken)
	}
	return st, ok
}

func (l *limiter) bucket(key string) *bucket {
	if e, ok := l.keys[key]; ok {
		l.lru.MoveToFront(e)
		return e.Value.(*bucket)
	}
	if len(l.keys) >= l.max {
		old := l.lru.Back()
		l.lru.Remove(old)
		delete(l.keys, old.Value.(*bucket).key)
	}
	per := rate.Limit(float64(l.rate.N) / l.rate.Per.Seconds())
	b := &bucket{key: key, lim: rate.NewLimiter(per, l.rate.N)}
	l.keys[key] = l.lru.PushFront(b)
	return b
}

// len returns how many keys are tracked.
func (l *limiter) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys)
}

// limitError is a refusal by a limit: a 429 with the limit's fields.
type limitError struct{ st limitState }

func (e *limitError) Error() string { return "rate limit " + e.st.policy + " exceeded" }

// seconds rounds d up to whole seconds, at least 1.
func seconds(d time.Duration) int64 {
	s := int64(math.Ceil(d.Seconds()))
	return max(s, 1)
}

// setLimitFields writes the RateLimit-Policy and RateLimit fields of the
// IETF httpapi draft "RateLimit header fields for HTTP" for st, and
// Retry-After when the request was refused.
func setLimitFields(h http.Header, st limitState, refused bool) {
	name := strconv.Quote(st.policy)
	h.Set("RateLimit-Policy", fmt.Sprintf("%s;q=%d;w=%d", name, st.quota, seconds(st.window)))
	t := int64(math.Ceil(st.reset.Seconds()))
	if refused {
		t = seconds(st.reset)
		h.Set("Retry-After", strconv.FormatInt(t, 10))
	}
	h.Set("RateLimit", fmt.Sprintf("%s;r=%d;t=%d", name, st.remaining, t))
}

// limits is the set of a server's limiters; a nil limiter is off.
type limits struct {
	ip, caller, sub *limiter
}

func newLimits(c Limits) limits {
	return limits{
		ip:     newLimiter("ip", c.PerIP, c.MaxKeys),
		caller: newLimiter("caller", c.PerCaller, c.MaxKeys),
		sub:    newLimiter("sub", c.PerSub, c.MaxKeys),
	}
}

// check takes a token of l for key and records the state in w's fields:
// the tightest limit of the request is the one reported. A refusal is a
// *limitError.
func check(w http.ResponseWriter, l *limiter, key string, now time.Time) error {
	if l == nil {
		return nil
	}
	st, ok := l.allow(key, now)
	if !ok {
		setLimitFields(w.Header(), st, true)
		return &limitError{st}
	}
	if prev := w.Header().Get("RateLimit"); prev == "" || remainingOf(prev) > st.remaining {
		setLimitFields(w.Header(), st, false)
	}
	return nil
}

// remainingOf reads r from a RateLimit field this package wrote.
func remainingOf(field string) int {
	_, rest, _ := strings.Cut(field, ";r=")
	r, _, _ := strings.Cut(rest, ";")
	n, err := strconv.Atoi(r)
	if err != nil {
		return math.MaxInt
	}
	return n
}
