package audit

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/devmesh/devmesh/store"
)

func editorEvent(id, op string) ClientEvent {
	return ClientEvent{ID: id, Kind: KindEditorOps, Payload: json.RawMessage(op)}
}

func TestIngestAcksAfterDurabilityAndIsIdempotent(t *testing.T) {
	forBackends(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		ct := time.Date(2026, 1, 2, 3, 4, 5, 6789, time.UTC)
		batch := IngestRequest{Events: []ClientEvent{
			editorEvent("e1", `{"op":"create","file":"a.py","content":"x = 1\n"}`),
			{ID: "e2", Kind: KindTerminalInput, Time: &ct, Payload: json.RawMessage(`{"data":"ls\r"}`)},
			{ID: "e3", Kind: KindUIBlur, Payload: json.RawMessage(`{}`)},
			{ID: "e4", Kind: KindUIPaste, Payload: json.RawMessage(`{"file":"a.py","length":5}`)},
		}}
		var first IngestResponse
		if st, body := e.do(t, "POST", "/api/v1/session/events", "candidate:"+e.sub, batch, &first); st != 200 {
			t.Fatalf("ingest: %d %s", st, body)
		}
		for i, a := range first.Acks {
			if a.ID != batch.Events[i].ID || a.Seq != int64(i+1) {
				t.Errorf("ack %d = %+v, want id %s seq %d", i, a, batch.Events[i].ID, i+1)
			}
			ev, err := EventAt(t.Context(), db, a.Index)
			if err != nil || ev.SubmissionID != e.sub || ev.ClientID != a.ID || ev.Actor != ActorCandidate {
				t.Errorf("stored event %d = %+v, %v", a.Index, ev, err)
			}
		}
		var again IngestResponse
		e.do(t, "POST", "/api/v1/session/events", "candidate:"+e.sub, batch, &again)
		if fmt.Sprint(again) != fmt.Sprint(first) {
			t.Errorf("retry acks = %+v, want the originals %+v", again, first)
		}
		evs, _ := ReadEvents(t.Context(), db, e.sub, 0, 100)
		if len(evs) != 4 {
			t.Errorf("stored %d events after a retry, want 4", len(evs))
		}
		if evs[1].ClientTime == nil || !evs[1].ClientTime.Equal(ct.Truncate(time.Microsecond)) {
			t.Errorf("client time = %v, want %v", evs[1].ClientTime, ct)
		}
	})
}

func TestIngestRefuses(t *testing.T) {
	e := newEnv(t, mustSQLite(t))
	ok := []ClientEvent{editorEvent("e1", `{"op":"create","file":"a.py"}`)}
	tests := []struct {
		name   string
		token  string
		body   any
		status int
		msg    string
	}{
		{"no token", "", IngestRequest{Events: ok}, 401, ""},
		{"recruiter token", "recruiter:" + e.org, IngestRequest{Events: ok}, 401, ""},
		{"server-only kind", "candidate:" + e.sub, IngestRequest{Events: []ClientEvent{ok[0],
			{ID: "x", Kind: KindRunFinished, Payload: json.RawMessage(`{}`)}}}, 400, "event 1: field kind"},
		{"bad editor op", "candidate:" + e.sub, IngestRequest{Events: []ClientEvent{
			editorEvent("x", `{"file":"a.py","changes":[{"from":3,"to":1,"insert":""}]}`)}}, 400, "event 0: field payload"},
		{"missing id", "candidate:" + e.sub, IngestRequest{Events: []ClientEvent{editorEvent("", `{"op":"delete","file":"a"}`)}}, 400, "event 0: field id"},
		{"unknown member", "candidate:" + e.sub, map[string]any{"events": ok, "x": 1}, 400, "unknown field"},
		{"empty batch", "candidate:" + e.sub, IngestRequest{}, 400, "0 events"},
		{"huge terminal input", "candidate:" + e.sub, IngestRequest{Events: []ClientEvent{{ID: "t", Kind: KindTerminalInput,
			Payload: json.RawMessage(`{"data":"` + strings.Repeat("a", MaxTerminalBytes+1) + `"}`)}}}, 400, "event 0: field payload: data"},
		{"unknown submission", "candidate:sub_nope", IngestRequest{Events: ok}, 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, body := e.do(t, "POST", "/api/v1/session/events", tt.token, tt.body, nil)
			if st != tt.status || !strings.Contains(string(body), tt.msg) {
				t.Errorf("status %d %s; want %d mentioning %q", st, body, tt.status, tt.msg)
			}
		})
	}
	if size, _, _ := e.log.Head(t.Context()); size != 0 {
		t.Errorf("tree size %d after refused batches, want 0", size)
	}
}

func TestIngestRefusesClosedSubmissions(t *testing.T) {
	db := mustSQLite(t)
	e := newEnv(t, db)
	body := IngestRequest{Events: []ClientEvent{editorEvent("e1", `{"op":"create","file":"a.py"}`)}}
	if _, err := db.Advance(t.Context(), e.sub, store.StateOpen, store.StateSubmitted); err != nil {
		t.Fatal(err)
	}
	if st, b := e.do(t, "POST", "/api/v1/session/events", "candidate:"+e.sub, body, nil); st != 409 {
		t.Errorf("submitted submission: %d %s, want 409", st, b)
	}

	// A log whose clock is past the deadline.
	l := mustLog(t, db, Options{Signer: testSigner(t), Now: func() time.Time { return time.Now().Add(2 * time.Hour) }})
	_, sub := mustOpenSubmission(t, db, "hash-2")
	late := &env{db: db, log: l, url: serve(t, l)}
	if st, b := late.do(t, "POST", "/api/v1/session/events", "candidate:"+sub, body, nil); st != 409 {
		t.Errorf("past deadline: %d %s, want 409", st, b)
	}
}

// FuzzDecodeBatch checks that the ingest decoder never panics and that
// whatever it accepts is within bounds and re-encodes to a batch it
// accepts again.
func FuzzDecodeBatch(f *testing.F) {
	f.Add([]byte(`{"events":[{"id":"a","kind":"editor.ops","payload":{"op":"create","file":"x"}}]}`))
	f.Add([]byte(`{"events":[{"id":"b","kind":"terminal.input","time":"2026-01-01T00:00:00Z","payload":{"data":"ls"}}]}`))
	f.Add([]byte(`{"events":[{"id":"c","kind":"ui.paste","payload":{"file":"x","length":3}},{"id":"d","kind":"ui.focus","payload":{}}]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		evs, err := DecodeBatch(in)
		if err != nil {
			return
		}
		if len(evs) == 0 || len(evs) > MaxBatchEvents {
			t.Fatalf("accepted %d events", len(evs))
		}
		again, err := json.Marshal(IngestRequest{Events: evs})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeBatch(again); err != nil {
			t.Fatalf("re-encoded batch %s refused: %v", again, err)
		}
		for _, e := range evs {
			if _, err := checkEntry(clientEntries("s", []ClientEvent{e})[0]); err != nil {
				t.Fatalf("accepted event the log refuses: %v", err)
			}
		}
	})
}
