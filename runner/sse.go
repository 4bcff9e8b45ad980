package runner

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Bounds of one event stream. A run ends within the task's wall time
// (at most ten minutes) plus its wait in the queue; a stream that
// outlives maxStream ends with the run's current status, and the client
// may reconnect with Last-Event-ID.
const (
	maxStream      = 30 * time.Minute
	heartbeatEvery = 15 * time.Second
)

// OutputEvent is the data of an "output" event: bytes of the run's
// output from Offset on.
type OutputEvent struct {
	Offset int    `json:"offset"`
	Data   string `json:"data"`
}

// stream serves run as Server-Sent Events: "output" events carrying new
// output as it is stored (each with its end offset as the event id),
// then one "status" event with the final RunView. It polls the run row,
// so it works whichever process runs the job.
func (a *API) stream(w http.ResponseWriter, r *http.Request, run Run) error {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	sent := resumeOffset(r, len(run.Output))
	ctx := r.Context()
	deadline := time.Now().Add(maxStream)
	tick := time.NewTicker(a.poll)
	defer tick.Stop()
	lastWrite := time.Now()
	for {
		n, err := writeOutput(w, run, sent)
		if err != nil {
			return nil // the client is gone
		}
		if n > 0 {
			sent += n
			lastWrite = time.Now()
		}
		if run.Done() || time.Now().After(deadline) {
			return writeEvent(w, rc, "status", "", viewRun(run))
		}
		if time.Since(lastWrite) > heartbeatEvery {
			fmt.Fprint(w, ": keep-alive\n\n")
			lastWrite = time.Now()
		}
		if rc.Flush() != nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		next, err := a.runs.get(ctx, run.SubmissionID, run.ID)
		if err != nil {
			a.log.WarnContext(ctx, "run stream: read run", "run", run.ID, "err", err)
			return nil // headers are out; the client reconnects
		}
		run = next
	}
}

// resumeOffset is where a reconnecting client left off, from its
// Last-Event-ID, or 0.
func resumeOffset(r *http.Request, have int) int {
	n, err := strconv.Atoi(r.Header.Get("Last-Event-ID"))
	if err != nil || n < 0 || n > have {
		return 0
	}
	return n
}

// writeOutput sends run's output after offset from as one event and
// returns how many bytes it sent. Until the run is done it holds back a
// trailing incomplete UTF-8 sequence, which the next poll completes. An
// attempt that restarted the run shortens its output; the stream then
// restarts from offset 0 of the new attempt's output.
func writeOutput(w http.ResponseWriter, run Run, from int) (int, error) {
	out := run.Output
	if from > len(out) {
		from = 0
	}
	chunk := out[from:]
	if !run.Done() {
		chunk = completeRunes(chunk)
	}
	if len(chunk) == 0 {
		return 0, nil
	}
	ev := OutputEvent{Offset: from, Data: strings.ToValidUTF8(string(chunk), "\uFFFD")}
	id := strconv.Itoa(from + len(chunk))
	if err := writeEvent(w, nil, "output", id, ev); err != nil {
		return 0, err
	}
	return len(chunk), nil
}

// completeRunes drops a trailing partial UTF-8 sequence of at most three
// bytes; invalid bytes elsewhere are left for ToValidUTF8.
func completeRunes(b []byte) []byte {
	for i := 1; i <= 3 && i <= len(b); i++ {
		c := b[len(b)-i]
		if c < utf8.RuneSelf {
			return b
		}
		if utf8.RuneStart(c) {
			if !utf8.FullRune(b[len(b)-i:]) {
				return b[:len(b)-i]
			}
			return b
		}
	}
	return b
}

// writeEvent writes one SSE event with JSON data and flushes it when rc
// is set.
func writeEvent(w http.ResponseWriter, rc *http.ResponseController, event, id string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString("event: " + event + "\n")
	if id != "" {
		b.WriteString("id: " + id + "\n")
	}
	b.WriteString("data: ")
	b.Write(data)
	b.WriteString("\n\n")
	if _, err := fmt.Fprint(w, b.String()); err != nil {
		return err
	}
	if rc != nil {
		return rc.Flush()
	}
	return nil
}
