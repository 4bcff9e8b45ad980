package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/devmesh/devmesh/internal/errs"
	"github.com/devmesh/devmesh/server"
	"github.com/devmesh/devmesh/store"
	"github.com/devmesh/devmesh/workspace"
)

// Bounds on one ingest request. A batch is what a browser gathers in a
// second or so; the byte bound leaves room for one maximal editor op.
const (
	MaxBatchEvents   = 500
	MaxBatchBytes    = workspace.MaxOpBytes + 1<<20
	MaxTerminalBytes = 64 << 10 // one terminal.input payload's data
)

// ClientEvent is one event as the browser sends it.
type ClientEvent struct {
	ID      string          `json:"id"`             // client event id, unique within the submission
	Kind    Kind            `json:"kind"`           // one of ClientKinds
	Time    *time.Time      `json:"time,omitempty"` // the client's clock, RFC 3339
	Payload json.RawMessage `json:"payload"`
}

// IngestRequest is the body of POST /api/v1/session/events.
type IngestRequest struct {
	Events []ClientEvent `json:"events"`
}

// IngestAck acknowledges one durable client event.
type IngestAck struct {
	ID    string `json:"id"`
	Index int64  `json:"index"`
	Seq   int64  `json:"seq"`
}

// IngestResponse is the reply to an ingest request, one ack per event in
// request order.
type IngestResponse struct {
	Acks []IngestAck `json:"acks"`
}

// ClientKinds are the kinds a candidate's browser may send; every other
// kind is written by the server itself.
var ClientKinds = map[Kind]func([]byte) error{
	KindEditorOps:     checkEditorOps,
	KindTerminalInput: checkTerminalInput,
	KindUIFocus:       checkFocus,
	KindUIBlur:        checkFocus,
	KindUIPaste:       checkPaste,
}

// DecodeBatch parses and validates an ingest body strictly: unknown
// members, trailing data, kinds not in ClientKinds, invalid payloads and
// over-long batches are errors of kind Invalid that name the event index
// and the field.
func DecodeBatch(data []byte) ([]ClientEvent, error) {
	if len(data) > MaxBatchBytes {
		return nil, errs.E(errs.TooLarge, "event batch is %d bytes, over the limit of %d", len(data), MaxBatchBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var req IngestRequest
	if err := dec.Decode(&req); err != nil {
		return nil, errs.E(errs.Invalid, "invalid event batch: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errs.E(errs.Invalid, "invalid event batch: data after the batch")
	}
	if len(req.Events) == 0 || len(req.Events) > MaxBatchEvents {
		return nil, errs.E(errs.Invalid, "invalid event batch: %d events, want 1 to %d", len(req.Events), MaxBatchEvents)
	}
	for i, e := range req.Events {
		if err := checkClientEvent(e); err != nil {
			return nil, errs.E(errs.Invalid, "event %d: %v", i, err)
		}
	}
	return req.Events, nil
}

func checkClientEvent(e ClientEvent) error {
	if err := checkText("id", e.ID, MaxIDBytes, true); err != nil {
		return fmt.Errorf("field id: %w", err)
	}
	check, ok := ClientKinds[e.Kind]
	if !ok {
		return fmt.Errorf("field kind: %q is not a kind clients may send", e.Kind)
	}
	if len(e.Payload) == 0 {
		return errors.New("field payload: missing")
	}
	if err := check(e.Payload); err != nil {
		return fmt.Errorf("field payload: %w", err)
	}
	return nil
}

func checkEditorOps(p []byte) error {
	_, err := workspace.DecodeOp(p)
	return err
}

// strict decodes p into v, rejecting unknown members and trailing data.
func strict(p []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(p))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the payload")
	}
	return nil
}

// terminal.input: {"data": "<what was typed>"}.
func checkTerminalInput(p []byte) error {
	var v struct {
		Data *string `json:"data"`
	}
	if err := strict(p, &v); err != nil {
		return err
	}
	switch {
	case v.Data == nil:
		return errors.New("data: missing")
	case len(*v.Data) > MaxTerminalBytes:
		return fmt.Errorf("data: %d bytes, over the limit of %d", len(*v.Data), MaxTerminalBytes)
	case !utf8.ValidString(*v.Data):
		return errors.New("data: not valid UTF-8")
	}
	return nil
}

// ui.focus and ui.blur: {} or {"target": "<pane name>"}.
func checkFocus(p []byte) error {
	var v struct {
		Target string `json:"target"`
	}
	if err := strict(p, &v); err != nil {
		return err
	}
	return checkText("target", v.Target, MaxNameBytes, false)
}

// ui.paste: {"file": "<path>", "length": <UTF-16 units pasted>}. The
// pasted text itself arrives in the editor.ops event that inserts it.
func checkPaste(p []byte) error {
	var v struct {
		File   string `json:"file"`
		Length *int64 `json:"length"`
	}
	if err := strict(p, &v); err != nil {
		return err
	}
	if v.Length == nil || *v.Length < 0 {
		return errors.New("length: missing or negative")
	}
	return checkText("file", v.File, 4096, true)
}

// ingest appends a candidate's batch to the log of the one submission
// the token is bound to, and answers only after the events are durable.
func (a *API) ingest(w http.ResponseWriter, r *http.Request) error {
	p, ok := server.PrincipalFrom(r.Context())
	if !ok || p.SubmissionID == "" {
		return errs.E(errs.Unauthenticated, "candidate token required")
	}
	body, err := io.ReadAll(r.Body)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return errs.E(errs.TooLarge, "event batch is larger than %d bytes", tooBig.Limit)
	}
	if err != nil {
		return errs.Wrap(errs.Invalid, err, "read event batch")
	}
	events, err := DecodeBatch(body)
	if err != nil {
		return err
	}
	if err := a.checkOpen(r, p.SubmissionID); err != nil {
		return err
	}
	mu := a.edits.of(p.SubmissionID)
	mu.Lock()
	defer mu.Unlock()
	if err := a.checkEdits(r.Context(), p.SubmissionID, events); err != nil {
		return err
	}
	acks, err := a.log.Append(r.Context(), clientEntries(p.SubmissionID, events)...)
	if err != nil {
		return errs.Wrap(errs.Unavailable, err, "events not stored; retry with the same ids")
	}
	resp := IngestResponse{Acks: make([]IngestAck, len(acks))}
	for i, ack := range acks {
		resp.Acks[i] = IngestAck{ID: events[i].ID, Index: ack.Index, Seq: ack.Seq}
	}
	if n := len(acks); n > 0 && crossesSnapshotMark(acks[0].Seq, acks[n-1].Seq) {
		a.snapshotAfter(p.SubmissionID, acks[n-1].Seq)
	}
	return server.WriteJSON(w, http.StatusOK, resp)
}

// checkOpen refuses events for a submission that is not open or whose
// deadline has passed.
func (a *API) checkOpen(r *http.Request, id string) error {
	s, err := a.log.db.SubmissionByID(r.Context(), id)
	if err != nil {
		return err
	}
	if s.State != store.StateOpen {
		return errs.E(errs.Conflict, "submission %q is %s, not open", id, s.State)
	}
	if s.DeadlineAt == nil || !a.log.now().Before(*s.DeadlineAt) {
		return errs.E(errs.Conflict, "submission %q is past its deadline", id)
	}
	return nil
}

func clientEntries(sub string, events []ClientEvent) []Entry {
	out := make([]Entry, len(events))
	for i, e := range events {
		out[i] = Entry{SubmissionID: sub, Kind: e.Kind, Actor: ActorCandidate,
			ClientTime: e.Time, ClientID: e.ID, Payload: e.Payload}
	}
	return out
}
