package relay

import (
	"testing"
	"time"

	"github.com/devmesh/devmesh/internal/errs"
)

func TestLimiterRefillsAndForgetsIdleSubmissions(t *testing.T) {
	now := time.Unix(0, 0)
	l := newLimiter(2, 60, func() time.Time { return now })
	var releases []func()
	for i := range 60 {
		rel, _, err := l.acquire("sub")
		if err != nil {
			t.Fatalf("request %d of 60: %v", i, err)
		}
		rel()
		releases = append(releases, rel)
	}
	if _, wait, err := l.acquire("sub"); !errs.Is(err, errs.Exhausted) || wait <= 0 {
		t.Fatalf("61st request in a minute: err %v wait %v, want exhausted with a wait", err, wait)
	}
	now = now.Add(time.Second)
	rel, _, err := l.acquire("sub")
	if err != nil {
		t.Fatalf("after a second's refill: %v", err)
	}
	rel()
	rel() // releasing twice must not free a second slot
	for i := range maxTracked + 10 {
		r, _, err := l.acquire(string(rune('a'+i%26)) + time.Duration(i).String())
		if err != nil {
			t.Fatal(err)
		}
		r()
		now = now.Add(time.Minute)
	}
	if len(l.subs) > maxTracked {
		t.Fatalf("limiter tracks %d submissions, want at most %d", len(l.subs), maxTracked)
	}
}
