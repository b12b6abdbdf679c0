package api

import (
	"math"
	"sync"
	"time"
)

// Failed sign-ins allowed per client address: a burst of loginBurst, then
// one more every loginRefill.
const (
	loginBurst     = 10
	loginRefill    = 30 * time.Second
	maxLoginBucket = 10000 // addresses tracked before full buckets are dropped
)

// loginLimiter is an in-memory token bucket per client address, spent by
// failed sign-ins only. Each node counts alone, so a cluster of n nodes lets
// n times as many guesses through: enough to stop guessing at scale.
type loginLimiter struct {
	mu      sync.Mutex
	burst   float64
	refill  time.Duration
	now     func() time.Time
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLoginLimiter(burst int, refill time.Duration, now func() time.Time) *loginLimiter {
	return &loginLimiter{burst: float64(burst), refill: refill, now: now, buckets: map[string]*bucket{}}
}

// wait is zero when addr may try to sign in, else how long until it may.
func (l *loginLimiter) wait(addr string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, seen := l.buckets[addr]; !seen {
		return 0
	}
	b := l.bucket(addr)
	if b.tokens >= 1 {
		return 0
	}
	return time.Duration(math.Ceil((1 - b.tokens) * float64(l.refill)))
}

// fail spends one token of addr.
func (l *loginLimiter) fail(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(addr)
	b.tokens = max(b.tokens-1, 0)
	if len(l.buckets) > maxLoginBucket {
		l.dropFull()
	}
}

// bucket returns addr's bucket refilled up to now (l.mu held).
func (l *loginLimiter) bucket(addr string) *bucket {
	now := l.now()
	b, ok := l.buckets[addr]
	if !ok {
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[addr] = b
	}
	b.tokens = min(l.burst, b.tokens+float64(now.Sub(b.at))/float64(l.refill))
	b.at = now
	return b
}

// dropFull forgets the addresses whose bucket has refilled: they are
// indistinguishable from new ones (l.mu held).
func (l *loginLimiter) dropFull() {
	now := l.now()
	for addr, b := range l.buckets {
		if b.tokens+float64(now.Sub(b.at))/float64(l.refill) >= l.burst {
			delete(l.buckets, addr)
		}
	}
}
