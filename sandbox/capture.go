package sandbox

import (
	"io"
	"sync"
)

// Capture collects the output of a run under one shared byte budget and
// forwards it to a Sink. Memory stays bounded by the budget whatever the
// command writes: bytes past the budget are read and dropped. It is safe
// for concurrent use by the stdout and stderr readers.
type Capture struct {
	mu        sync.Mutex // guards the fields below and serializes sink calls
	left      int64
	truncated bool
	stdout    []byte
	stderr    []byte
	sink      Sink
	onFull    func()
}

// NewCapture returns a Capture that keeps at most limit bytes, calls sink
// with what it keeps, and calls onFull once, when the budget is exceeded.
func NewCapture(limit int64, sink Sink, onFull func()) *Capture {
	return &Capture{left: limit, sink: sink, onFull: onFull}
}

// Copy reads r until EOF or error, keeping output as stream s.
func (c *Capture) Copy(s Stream, r io.Reader) {
	buf := make([]byte, 32*1024)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			c.Add(s, buf[:n])
		}
		if err != nil {
			return
		}
	}
}

// Add keeps what fits of p as output of stream s.
func (c *Capture) Add(s Stream, p []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	keep := p
	if int64(len(keep)) > c.left {
		keep = keep[:c.left]
	}
	c.left -= int64(len(keep))
	if len(keep) > 0 {
		if s == Stdout {
			c.stdout = append(c.stdout, keep...)
		} else {
			c.stderr = append(c.stderr, keep...)
		}
		if c.sink != nil {
			c.sink(s, keep)
		}
	}
	if len(keep) < len(p) && !c.truncated {
		c.truncated = true
		if c.onFull != nil {
			c.onFull()
		}
	}
}

// Result returns the kept stdout and stderr and whether anything was
// dropped.
func (c *Capture) Result() (stdout, stderr []byte, truncated bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stdout, c.stderr, c.truncated
}
