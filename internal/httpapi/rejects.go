package httpapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/agentmint/agentmint/internal/audit"
	"github.com/agentmint/agentmint/token"
)

// Defaults of Config.RejectRate and Config.RejectBurst.
const (
	DefaultRejectRate  = 10
	DefaultRejectBurst = 100
)

// auditReason maps a token rejection to the reason its audit entry
// records. The token package distinguishes more cases than the audit
// log's fixed set of reasons.
func auditReason(r token.Reason) string {
	switch r {
	case token.ReasonExpired, token.ReasonNotYetValid:
		return audit.ReasonExpired
	case token.ReasonUnknownKey:
		return audit.ReasonUnknownKey
	case token.ReasonBadSignature:
		return audit.ReasonBadSignature
	case token.ReasonActionMismatch, token.ReasonAudienceMismatch:
		return audit.ReasonBindingMismatch
	}
	// Malformed, invalid claims, wrong issuer.
	return audit.ReasonMalformed
}

// The classes of rejections, each with a bucket of its own, so that a
// flood of garbage does not crowd out the record of signed tokens being
// replayed or misused.
const (
	classUnsigned = iota // anyone can send these: no valid signature
	classSigned          // a token we signed: expired, replayed, misused
)

// rejectClass returns the class of a rejection with an audit reason.
func rejectClass(reason string) int {
	switch reason {
	case audit.ReasonMalformed, audit.ReasonUnknownKey,
		audit.ReasonBadSignature, audit.ReasonThrottled:
		// Throttles are counted with garbage: a flood of them must not
		// crowd out the entries of replayed or misused real tokens.
		return classUnsigned
	}
	return classSigned
}

// rejectLimiter decides which rejections get an audit entry of their own:
// a token bucket per class, refilled at rate per second up to burst.
// Rejections over the limit are counted by reason and written later as
// one summary entry, at most one per flush.
type rejectLimiter struct {
	mu      sync.Mutex
	rate    float64
	burst   float64
	now     func() time.Time
	tokens  [2]float64
	last    [2]time.Time
	dropped map[string]int64
}

func newRejectLimiter(rate float64, burst int, now func() time.Time) *rejectLimiter {
	if rate <= 0 {
		rate = DefaultRejectRate
	}
	if burst <= 0 {
		burst = DefaultRejectBurst
	}
	l := &rejectLimiter{rate: rate, burst: float64(burst), now: now,
		dropped: map[string]int64{}}
	l.tokens = [2]float64{l.burst, l.burst}
	return l
}

// allow takes a token from the bucket of reason's class, or counts the
// rejection as dropped.
func (l *rejectLimiter) allow(reason string) bool {
	c := rejectClass(reason)
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if !l.last[c].IsZero() {
		elapsed := now.Sub(l.last[c]).Seconds()
		l.tokens[c] = min(l.burst, l.tokens[c]+max(elapsed, 0)*l.rate)
	}
	l.last[c] = now
	if l.tokens[c] >= 1 {
		l.tokens[c]--
		return true
	}
	l.dropped[reason]++
	return false
}

// take returns the dropped counts and resets them.
func (l *rejectLimiter) take() map[string]int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.dropped) == 0 {
		return nil
	}
	d := l.dropped
	l.dropped = map[string]int64{}
	return d
}

// recordRejection appends a rejected entry for a refused token, unless the
// rate limit says to only count it. c holds the claims when the signature
// verified. The token is refused whatever happens here.
func (s *Server) recordRejection(ctx context.Context, reason string,
	c *token.Claims) {
	if !s.rejects.allow(reason) {
		s.meter.RejectionDropped(reason)
		return
	}
	e := audit.Entry{Time: s.now(), Event: audit.EventRejected,
		Reason: reason, Caller: callerName(ctx)}
	if c != nil {
		e.JTI, e.Sub, e.Action, e.Aud = c.ID, c.Subject, c.Action, c.Audience
	}
	if _, err := s.store.Append(ctx, e); err != nil {
		s.log.WarnContext(ctx, "failed to log rejection",
			slog.String("request_id", requestID(ctx)),
			slog.String("error", err.Error()))
	}
}

// FlushRejections appends one summary entry of the rejections dropped
// since the last flush, if there were any. The server calls it
// periodically and at shutdown, so the log grows by at most one summary
// per call however many rejections arrive.
func (s *Server) FlushRejections(ctx context.Context) error {
	d := s.rejects.take()
	if d == nil {
		return nil
	}
	ev, err := json.Marshal(d) // keys sorted, compact
	if err != nil {
		return err
	}
	_, err = s.store.Append(ctx, audit.Entry{Time: s.now(),
		Event: audit.EventRejectionsDropped, Evidence: ev})
	if err != nil {
		// Keep the counts for the next flush.
		s.rejects.mu.Lock()
		for k, v := range d {
			s.rejects.dropped[k] += v
		}
		s.rejects.mu.Unlock()
	}
	return err
}
