package sandbox

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

func TestCaptureKeepsAtMostTheLimitAcrossStreams(t *testing.T) {
	var sunk int
	full := 0
	c := NewCapture(10, func(_ Stream, p []byte) { sunk += len(p) }, func() { full++ })
	c.Copy(Stdout, strings.NewReader("123456"))
	c.Copy(Stderr, strings.NewReader("abcdefgh"))
	out, errOut, truncated := c.Result()
	if string(out) != "123456" || string(errOut) != "abcd" || !truncated {
		t.Errorf("got %q %q %v, want %q %q true", out, errOut, truncated, "123456", "abcd")
	}
	if sunk != 10 || full != 1 {
		t.Errorf("sink got %d bytes and onFull ran %d times, want 10 and 1", sunk, full)
	}
}

func TestCaptureUnderLimitIsNotTruncated(t *testing.T) {
	c := NewCapture(100, nil, func() { t.Error("onFull called under the limit") })
	c.Copy(Stdout, strings.NewReader("hello"))
	if out, _, truncated := c.Result(); string(out) != "hello" || truncated {
		t.Errorf("got %q %v, want %q false", out, truncated, "hello")
	}
}

// TestCaptureDrainsAFloodInBoundedMemory reads 64 MiB through a 1 KiB
// budget; the kept buffer never grows past the budget.
func TestCaptureDrainsAFloodInBoundedMemory(t *testing.T) {
	c := NewCapture(1024, nil, nil)
	flood := io.LimitReader(zeros{}, 64<<20)
	c.Copy(Stdout, flood)
	out, _, truncated := c.Result()
	if len(out) != 1024 || cap(out) > 4096 || !truncated {
		t.Errorf("kept %d bytes (cap %d), truncated %v; want 1024 and true", len(out), cap(out), truncated)
	}
	if !bytes.Equal(out, make([]byte, 1024)) {
		t.Error("kept bytes differ from input")
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }
