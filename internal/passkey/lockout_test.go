package passkey

import (
	"testing"
	"time"
)

func TestLockoutPolicy(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	var l Lockout
	for i := 1; i < MaxFailures; i++ {
		l = l.afterFailure(t0.Add(time.Duration(i) * time.Minute))
		if l.Failures != i || l.Locked(t0.Add(time.Duration(i)*time.Minute)) {
			t.Fatalf("after %d failures: %+v", i, l)
		}
	}
	at := t0.Add(10 * time.Minute)
	l = l.afterFailure(at)
	if !l.Locked(at) || !l.LockedUntil.Equal(at.Add(LockoutDuration)) {
		t.Fatalf("after %d failures: %+v", MaxFailures, l)
	}
	if l.afterFailure(at.Add(time.Minute)) != l {
		t.Error("a failure while locked changed the record")
	}
	end := at.Add(LockoutDuration)
	if l.Locked(end) {
		t.Error("still locked when the lockout ended")
	}
	if n := l.afterFailure(end); n.Failures != 1 || n.Locked(end) {
		t.Errorf("the first failure after a lockout: %+v", n)
	}

	// Failures further apart than the window never lock.
	l = Lockout{}
	for i := range 3 * MaxFailures {
		now := t0.Add(time.Duration(i) * (FailureWindow / (MaxFailures - 1)))
		l = l.afterFailure(now)
		if l.Locked(now) {
			t.Fatalf("locked by failure %d spread over the window: %+v", i, l)
		}
	}
	if !l.Stale(t0.Add(100 * FailureWindow)) {
		t.Error("an old record is not stale")
	}
}

func TestLimiter(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	l := newLimiter(Limit{Burst: 3, Every: 10 * time.Second})
	for i := range 3 {
		if ok, _ := l.allow("a", t0); !ok {
			t.Fatalf("request %d refused", i)
		}
	}
	ok, wait := l.allow("a", t0)
	if ok || wait != 10*time.Second {
		t.Errorf("fourth request: %v, wait %v", ok, wait)
	}
	if ok, _ := l.allow("b", t0); !ok {
		t.Error("another key was refused")
	}
	if ok, _ := l.allow("a", t0.Add(10*time.Second)); !ok {
		t.Error("refused after the refill")
	}
}
