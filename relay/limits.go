package relay

import (
	"sync"
	"time"

	"github.com/devmesh/devmesh/internal/errs"
)

// limiter enforces per-submission limits on requests in flight and on
// the request rate (a token bucket refilled continuously). It is held in
// memory: with several replicas each enforces its own share.
//
// TODO: share the limits between replicas through the database; today
// a submission may get MaxConcurrent requests in flight per replica.
// The token budget itself is shared (the ledger is in the database).
type limiter struct {
	maxInFlight int
	perMinute   float64
	now         func() time.Time

	mu sync.Mutex // guards subs
	// subs holds only submissions with requests in flight or an unfilled
	// bucket, so memory stays bounded by recent activity.
	subs map[string]*subLimit
}

type subLimit struct {
	inFlight int
	tokens   float64
	at       time.Time
}

func newLimiter(maxInFlight, perMinute int, now func() time.Time) *limiter {
	return &limiter{maxInFlight: maxInFlight, perMinute: float64(perMinute),
		now: now, subs: map[string]*subLimit{}}
}

// acquire admits one request of sub or says how long to wait. The caller
// must call the returned release exactly once.
func (l *limiter) acquire(sub string) (release func(), retryAfter time.Duration, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	s := l.subs[sub]
	if s == nil {
		if len(l.subs) >= maxTracked {
			l.sweep(now)
		}
		s = &subLimit{tokens: l.perMinute, at: now}
		l.subs[sub] = s
	}
	s.tokens = min(l.perMinute, s.tokens+now.Sub(s.at).Minutes()*l.perMinute)
	s.at = now
	if s.inFlight >= l.maxInFlight {
		return nil, time.Second, errs.E(errs.Exhausted,
			"too many AI requests in flight for this submission (limit %d)", l.maxInFlight)
	}
	if s.tokens < 1 {
		wait := time.Duration((1 - s.tokens) / l.perMinute * float64(time.Minute))
		return nil, wait, errs.E(errs.Exhausted,
			"too many AI requests for this submission (limit %d per minute)", int(l.perMinute))
	}
	s.tokens--
	s.inFlight++
	var once sync.Once
	return func() { once.Do(func() { l.release(sub) }) }, 0, nil
}

// maxTracked is how many submissions the limiter tracks before it drops
// the idle ones with full buckets, which carry no state worth keeping.
const maxTracked = 4096

// sweep drops idle submissions whose buckets have refilled. l.mu must
// be held.
func (l *limiter) sweep(now time.Time) {
	for sub, s := range l.subs {
		if s.inFlight == 0 && s.tokens+now.Sub(s.at).Minutes()*l.perMinute >= l.perMinute {
			delete(l.subs, sub)
		}
	}
}

func (l *limiter) release(sub string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.subs[sub]
	s.inFlight--
	if s.inFlight == 0 && s.tokens+l.now().Sub(s.at).Minutes()*l.perMinute >= l.perMinute {
		delete(l.subs, sub)
	}
}
