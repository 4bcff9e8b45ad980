package auth

import (
	"strconv"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	l := NewLimiter(Rate{Burst: 3, Every: 10 * time.Second}, c.Now)
	for i := range 3 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("attempt %d within the burst refused", i+1)
		}
	}
	ok, wait := l.Allow("a")
	if ok || wait != 10*time.Second {
		t.Fatalf("after the burst: ok=%v wait=%s; want refused, 10s", ok, wait)
	}
	if ok, _ := l.Allow("b"); !ok {
		t.Error("another key shares the spent bucket")
	}
	c.Add(10 * time.Second)
	if ok, _ := l.Allow("a"); !ok {
		t.Error("no token after one interval")
	}
	if ok, _ := l.Allow("a"); ok {
		t.Error("two tokens after one interval")
	}
}

func TestLimiterMemoryIsBounded(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	l := NewLimiter(Rate{Burst: 1, Every: time.Second}, c.Now)
	l.Allow("victim") // spent
	for i := range maxBuckets + 10 {
		l.Allow(strconv.Itoa(i))
	}
	if n := len(l.buckets); n > maxBuckets {
		t.Fatalf("%d buckets, want at most %d", n, maxBuckets)
	}
	if ok, _ := l.Allow("victim"); ok {
		t.Error("a spent bucket was dropped to make room")
	}
	c.Add(2 * time.Second)
	l.Allow("newcomer") // triggers a sweep of refilled buckets
	if n := len(l.buckets); n > 2 {
		t.Errorf("%d buckets after every bucket refilled, want the sweep to drop them", n)
	}
}
