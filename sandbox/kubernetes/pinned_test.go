package kubernetes

import (
	"regexp"
	"strings"
	"testing"
)

var digestRef = regexp.MustCompile(`^[^@]+@sha256:[0-9a-f]{64}$`)

// FuzzPinned checks pinned against an independent statement of the rule:
// a non-empty name without '@', then "@sha256:" and 64 lowercase hex
// digits, nothing after.
func FuzzPinned(f *testing.F) {
	f.Add("python@sha256:" + strings.Repeat("0", 64))
	f.Add("python:3.11")
	f.Add("a@sha256:" + strings.Repeat("f", 63) + "g")
	f.Add("a@b@sha256:" + strings.Repeat("1", 64))
	f.Fuzz(func(t *testing.T, image string) {
		if got, want := pinned(image), digestRef.MatchString(image); got != want {
			t.Errorf("pinned(%q) = %v, want %v", image, got, want)
		}
	})
}
