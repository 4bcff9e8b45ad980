package relay

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
)

// maxSSELine bounds one line of an upstream event stream, so a provider
// (or something impersonating one) cannot make the relay buffer without
// limit.
const maxSSELine = 4 << 20

// sseEvent is one server-sent event.
type sseEvent struct {
	Event string
	Data  []byte
}

// sseReader reads server-sent events (the subset providers use: event
// and data fields; comments and other fields are skipped).
type sseReader struct {
	sc *bufio.Scanner
}

func newSSEReader(r io.Reader) *sseReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxSSELine)
	return &sseReader{sc: sc}
}

// Next returns the next event, or io.EOF at the end of the stream. A
// stream that ends in the middle of an event yields
// io.ErrUnexpectedEOF.
func (r *sseReader) Next() (sseEvent, error) {
	var ev sseEvent
	started := false
	for r.sc.Scan() {
		line := r.sc.Bytes()
		if len(line) == 0 {
			if started {
				return ev, nil
			}
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "event":
			ev.Event, started = string(value), true
		case "data":
			if ev.Data != nil {
				ev.Data = append(ev.Data, '\n')
			}
			ev.Data, started = append(ev.Data, value...), true
		}
	}
	if err := r.sc.Err(); err != nil {
		return ev, fmt.Errorf("read event stream: %w", err)
	}
	if started {
		return ev, io.ErrUnexpectedEOF
	}
	return ev, io.EOF
}

// sseWriter writes server-sent events to a client and flushes each.
type sseWriter struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	buf []byte
}

func newSSEWriter(w http.ResponseWriter) *sseWriter {
	return &sseWriter{w: w, rc: http.NewResponseController(w)}
}

// start sends the response headers of an event stream.
func (s *sseWriter) start() error {
	h := s.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	s.w.WriteHeader(http.StatusOK)
	return s.rc.Flush()
}

// send writes one event; name may be empty.
func (s *sseWriter) send(name string, data []byte) error {
	s.buf = s.buf[:0]
	if name != "" {
		s.buf = append(s.buf, "event: "...)
		s.buf = append(s.buf, name...)
		s.buf = append(s.buf, '\n')
	}
	s.buf = append(s.buf, "data: "...)
	s.buf = append(s.buf, data...)
	s.buf = append(s.buf, "\n\n"...)
	if _, err := s.w.Write(s.buf); err != nil {
		return err
	}
	return s.rc.Flush()
}

// eventQueue holds events a provider stream decoded but has not handed
// out yet: one upstream message can yield several relay events.
type eventQueue struct {
	pending []Event
	done    bool // the upstream stream ended normally
}

// next returns the first pending event, calling read for more while
// there is none; io.EOF once the stream is done and drained.
func (q *eventQueue) next(read func() error) (Event, error) {
	for len(q.pending) == 0 {
		if q.done {
			return Event{}, io.EOF
		}
		if err := read(); err != nil {
			return Event{}, err
		}
	}
	e := q.pending[0]
	q.pending = q.pending[1:]
	return e, nil
}
