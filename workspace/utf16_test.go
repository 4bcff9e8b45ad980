package workspace

import (
	"testing"
	"unicode/utf16"
)

// refByteOffsets is the obvious implementation: walk every rune.
func refByteOffsets(s string, p int) (int, bool) {
	units := 0
	for b, r := range s {
		if units == p {
			return b, true
		}
		if units > p {
			return 0, false
		}
		units += len(utf16.Encode([]rune{r}))
	}
	return len(s), units == p
}

// FuzzByteOffsets checks the ASCII fast path against a rune-by-rune walk.
func FuzzByteOffsets(f *testing.F) {
	f.Add("hello, world", 5)
	f.Add("naïve café 😀 done", 13)
	f.Add("😀😀", 1)
	f.Add("aaaaaaaaaaaaaaaaaaaaaaé", 22)
	f.Fuzz(func(t *testing.T, s string, p int) {
		if p < 0 || p > 1<<16 {
			return
		}
		got, _, err := byteOffsets(s, []int{p})
		want, ok := refByteOffsets(s, p)
		if ok != (err == nil) {
			t.Fatalf("byteOffsets(%q, %d) error %v, reference ok=%v", s, p, err, ok)
		}
		if ok && got[0] != want {
			t.Fatalf("byteOffsets(%q, %d) = %d, want %d", s, p, got[0], want)
		}
	})
}
