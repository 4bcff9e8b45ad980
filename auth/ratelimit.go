package auth

import (
	"math"
	"sync"
	"time"
)

// Rate is a token-bucket rate: Burst attempts at once, then one more
// every Every.
type Rate struct {
	Burst int
	Every time.Duration
}

// maxBuckets bounds a limiter's memory. Past it, buckets that have
// refilled are dropped; if none has, new keys are not tracked (their
// attempts are allowed) until some refill, while existing keys stay
// limited. The per-IP limiter still bounds such attempts.
const maxBuckets = 1 << 16

// Limiter is an in-memory set of token buckets, one per key (an account
// or a client address). Each replica limits independently, so N replicas
// allow up to N times the rate. It is safe for concurrent use.
type Limiter struct {
	rate Rate
	now  func() time.Time

	// mu guards buckets.
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time // when tokens was last brought up to date
}

// NewLimiter returns a limiter allowing rate per key, reading time from
// now.
func NewLimiter(rate Rate, now func() time.Time) *Limiter {
	return &Limiter{rate: rate, now: now, buckets: map[string]*bucket{}}
}

// Allow takes one token from key's bucket. When the bucket is empty it
// reports false and how long until a token is available.
func (l *Limiter) Allow(key string) (ok bool, retryAfter time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxBuckets && !l.sweep(now) {
			return true, 0
		}
		b = &bucket{tokens: float64(l.rate.Burst), at: now}
		l.buckets[key] = b
	}
	l.refill(b, now)
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) * float64(l.rate.Every))
	return false, wait
}

func (l *Limiter) refill(b *bucket, now time.Time) {
	if el := now.Sub(b.at); el > 0 {
		b.tokens = math.Min(float64(l.rate.Burst), b.tokens+float64(el)/float64(l.rate.Every))
		b.at = now
	}
}

// sweep drops full buckets and reports whether any space was freed.
func (l *Limiter) sweep(now time.Time) bool {
	before := len(l.buckets)
	for k, b := range l.buckets {
		l.refill(b, now)
		if b.tokens >= float64(l.rate.Burst) {
			delete(l.buckets, k)
		}
	}
	return len(l.buckets) < before
}
