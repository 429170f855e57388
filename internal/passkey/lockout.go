package passkey

import "time"

// The lockout policy: MaxFailures failed approvals within FailureWindow
// lock the user out of approving for LockoutDuration.
const (
	MaxFailures     = 5
	FailureWindow   = 15 * time.Minute
	LockoutDuration = 15 * time.Minute
)

// Locked reports whether l locks its user out at now.
func (l Lockout) Locked(now time.Time) bool {
	return now.Before(l.LockedUntil)
}

// afterFailure returns l with one more failure at now. A failure outside
// the window, or after a lockout ended, starts a new window; the
// MaxFailures-th failure within one sets LockedUntil.
func (l Lockout) afterFailure(now time.Time) Lockout {
	if l.Locked(now) {
		return l
	}
	if l.WindowStart.IsZero() || now.Sub(l.WindowStart) >= FailureWindow ||
		!l.LockedUntil.IsZero() {
		l = Lockout{WindowStart: now}
	}
	l.Failures++
	if l.Failures >= MaxFailures {
		l.LockedUntil = now.Add(LockoutDuration)
	}
	return l
}

// Stale reports whether l has nothing left to count at now: no lockout in
// force and its window over. Stores prune stale records.
func (l Lockout) Stale(now time.Time) bool {
	return !l.Locked(now) && now.Sub(l.WindowStart) >= FailureWindow
}
