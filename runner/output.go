package runner

import (
	"context"
	"encoding/json"
	"sync"
	"unicode/utf8"

	"github.com/devmesh/devmesh/audit"
	"github.com/devmesh/devmesh/sandbox"
)

// ChunkBytes bounds the data of one terminal.output event.
const ChunkBytes = 8 << 10

// TerminalOutput is the payload of a terminal.output event of a run:
// bytes of one stream at Offset of the run's combined output. Data holds
// them when they are valid UTF-8, DataBase64 otherwise.
type TerminalOutput struct {
	RunID      string         `json:"run_id"`
	Attempt    int            `json:"attempt"`
	Stream     sandbox.Stream `json:"stream"`
	Offset     int64          `json:"offset"`
	Data       string         `json:"data,omitempty"`
	DataBase64 []byte         `json:"data_base64,omitempty"`
}

// recorder gathers a run's output as the sandbox delivers it. The sink
// only appends in memory, so it never blocks the run on the database;
// flush moves what gathered into terminal.output events and the run
// row. Memory is bounded by the run's output limit, which the driver
// enforces before calling the sink.
type recorder struct {
	run     string
	attempt int

	mu        sync.Mutex // guards the fields below
	pending   []TerminalOutput
	offset    int64
	kept      []byte // the first OutputCap bytes, for the run row
	truncated bool
	changed   bool
}

func (rec *recorder) sink(s sandbox.Stream, p []byte) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if room := OutputCap - len(rec.kept); room > 0 {
		rec.kept = append(rec.kept, p[:min(room, len(p))]...)
		rec.changed = true
	}
	for len(p) > 0 {
		n := rec.appendChunk(s, p)
		p = p[n:]
	}
	if rec.offset > OutputCap && !rec.truncated {
		rec.truncated, rec.changed = true, true
	}
}

// appendChunk adds up to ChunkBytes of p to the last pending chunk of
// stream s or a new one, and returns how many bytes it took.
func (rec *recorder) appendChunk(s sandbox.Stream, p []byte) int {
	last := len(rec.pending) - 1
	if last < 0 || rec.pending[last].Stream != s || len(rec.pending[last].DataBase64) >= ChunkBytes {
		rec.pending = append(rec.pending, TerminalOutput{RunID: rec.run,
			Attempt: rec.attempt, Stream: s, Offset: rec.offset})
		last++
	}
	c := &rec.pending[last]
	n := min(ChunkBytes-len(c.DataBase64), len(p))
	c.DataBase64 = append(c.DataBase64, p[:n]...)
	rec.offset += int64(n)
	return n
}

// take returns the pending chunks as audit entries and the row output,
// if it changed since the last take.
func (rec *recorder) take(sub string) ([]audit.Entry, []byte, bool, error) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	entries := make([]audit.Entry, 0, len(rec.pending))
	for _, c := range rec.pending {
		if utf8.Valid(c.DataBase64) {
			c.Data, c.DataBase64 = string(c.DataBase64), nil
		}
		payload, err := json.Marshal(c)
		if err != nil {
			return nil, nil, false, err
		}
		entries = append(entries, audit.Entry{SubmissionID: sub,
			Kind: audit.KindTerminalOutput, Actor: audit.ActorRunner, Payload: payload})
	}
	rec.pending = nil
	var out []byte
	if rec.changed {
		out, rec.changed = append([]byte(nil), rec.kept...), false
	}
	return entries, out, rec.truncated, nil
}

// output returns the kept output and whether it was cut at OutputCap.
func (rec *recorder) output() ([]byte, bool) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]byte(nil), rec.kept...), rec.truncated
}

// flush appends the pending chunks to the log and stores the row output.
func (rec *recorder) flush(ctx context.Context, w *Worker, sub string) error {
	entries, out, truncated, err := rec.take(sub)
	if err != nil {
		return err
	}
	if len(entries) > 0 {
		if _, err := w.audit.Append(ctx, entries...); err != nil {
			return err
		}
	}
	if out != nil {
		return w.runs.progress(ctx, rec.run, rec.attempt, out, truncated)
	}
	return nil
}
