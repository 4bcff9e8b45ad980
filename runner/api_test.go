package runner

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/devmesh/devmesh/audit"
	"github.com/devmesh/devmesh/blob"
	"github.com/devmesh/devmesh/sandbox"
	"github.com/devmesh/devmesh/store"
	"github.com/devmesh/devmesh/store/storetest"
	"github.com/devmesh/devmesh/task"
)

// solution is a correct rle.py for the sample task.
const solution = `import itertools


def encode(text):
    return "".join(f"{len(list(g))}{c}" for c, g in itertools.groupby(text))


def decode(data):
    out, n = [], ""
    for ch in data:
        if ch.isdigit():
            n += ch
        else:
            out.append(ch * int(n))
            n = ""
    return "".join(out)
`

func starterFile(t testing.TB, b *task.Bundle, path string) string {
	t.Helper()
	f, ok := b.Starter().Get(path)
	if !ok {
		t.Fatalf("starter has no %s", path)
	}
	return f.Content
}

func TestVisibleTestsRunEndToEnd(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			d := mustDriver(t)
			e := newEnv(t, b)
			e.startRunner(d, nil)
			bundle := sampleTask(t, nil)
			sub := e.openSubmission(bundle)
			e.appendOps(sub, replaceFile("rle.py", starterFile(t, bundle, "rle.py"), solution))

			rc := e.createRun(sub, CommandTest)
			v := e.waitRun(sub, rc.RunID, 60*time.Second, isDone)
			if v.Status != StatusFinished || v.Outcome != string(sandbox.OK) || v.ExitCode == nil || *v.ExitCode != 0 {
				t.Fatalf("run ended %s/%s exit %v reason %q output:\n%s", v.Status, v.Outcome, v.ExitCode, v.Reason, v.Output)
			}
			if !strings.Contains(v.Output, "Ran 3 tests") || !strings.Contains(v.Output, "OK") {
				t.Errorf("output lacks the unittest summary:\n%s", v.Output)
			}
			wantSeq := int64(bundle.Starter().Len() + 1) // starter creates, then the edit
			if v.WorkspaceDigest != rc.WorkspaceDigest || v.Seq != rc.Seq || v.Seq != wantSeq {
				t.Errorf("run view digest %s seq %d, created %s seq %d; want equal and seq %d",
					v.WorkspaceDigest, v.Seq, rc.WorkspaceDigest, rc.Seq, wantSeq)
			}
			checkRunEvents(t, e, sub, rc)
		})
	}
}

// checkRunEvents checks the log tells the run's story: a snapshot naming
// the stored tarball, run.started, output, run.finished.
func checkRunEvents(t *testing.T, e *env, sub string, rc RunCreated) {
	t.Helper()
	snaps := e.events(sub, audit.KindWorkspaceSnapshot)
	if len(snaps) != 1 {
		t.Fatalf("got %d workspace.snapshot events, want 1", len(snaps))
	}
	var sp SnapshotPayload
	if err := json.Unmarshal(snaps[0].Payload, &sp); err != nil {
		t.Fatal(err)
	}
	if sp.Digest.String() != rc.WorkspaceDigest || sp.Seq != rc.Seq || sp.Size <= 0 {
		t.Errorf("snapshot %+v, want digest %s seq %d", sp, rc.WorkspaceDigest, rc.Seq)
	}
	d, _ := blob.ParseDigest(rc.WorkspaceDigest)
	if _, err := e.blobs.Stat(context.Background(), sub, d); err != nil {
		t.Errorf("tarball not stored: %v", err)
	}
	for _, k := range []audit.Kind{audit.KindRunStarted, audit.KindTerminalOutput, audit.KindRunFinished} {
		if len(e.events(sub, k)) == 0 {
			t.Errorf("no %s event", k)
		}
	}
	var f Finished
	fin := e.events(sub, audit.KindRunFinished)
	if err := json.Unmarshal(fin[len(fin)-1].Payload, &f); err != nil {
		t.Fatal(err)
	}
	if f.RunID != rc.RunID || f.Status != StatusFinished || f.Outcome != sandbox.OK {
		t.Errorf("run.finished %+v, want run %s finished ok", f, rc.RunID)
	}
}

func TestRunOutcomesAreClassified(t *testing.T) {
	d := mustDriver(t)
	e := newEnv(t, storetest.Backends()[0])
	e.startRunner(d, nil)
	bundle := sampleTask(t, nil)
	sub := e.openSubmission(bundle)

	// The starter raises NotImplementedError: the run command exits 1.
	rc := e.createRun(sub, CommandRun)
	v := e.waitRun(sub, rc.RunID, 60*time.Second, isDone)
	if v.Status != StatusFinished || v.Outcome != string(sandbox.ExitCode) || v.ExitCode == nil || *v.ExitCode != 1 {
		t.Fatalf("run ended %s/%s exit %v, want finished/exit_code 1", v.Status, v.Outcome, v.ExitCode)
	}
	if !strings.Contains(v.Output, "NotImplementedError") {
		t.Errorf("output lacks the traceback:\n%s", v.Output)
	}
}

func TestRunOfAnotherSubmissionIsNotFound(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			bundle := sampleTask(t, nil)
			mine, theirs := e.openSubmission(bundle), e.openSubmission(bundle)
			rc := e.createRun(theirs, CommandRun)
			status, body := e.do("GET", "/api/v1/session/runs/"+rc.RunID, mine, nil)
			if status != http.StatusNotFound {
				t.Fatalf("other submission's run: status %d %s, want 404", status, body)
			}
			if status, _ := e.do("GET", "/api/v1/session/runs/"+rc.RunID, theirs, nil); status != http.StatusOK {
				t.Fatalf("own run: status %d, want 200", status)
			}
		})
	}
}

func TestRunRequestsAreChecked(t *testing.T) {
	e := newEnv(t, storetest.Backends()[0])
	sub := e.openSubmission(sampleTask(t, nil))
	tests := []struct {
		name string
		body any
		want int
	}{
		{"unknown command is refused", map[string]string{"command": "rm"}, http.StatusBadRequest},
		{"an argv is refused", map[string]any{"command": "run", "argv": []string{"sh"}}, http.StatusBadRequest},
		{"no body means run", nil, http.StatusAccepted},
		{"test is accepted", map[string]string{"command": "test"}, http.StatusAccepted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if status, body := e.do("POST", "/api/v1/session/runs", sub, tt.body); status != tt.want {
				t.Fatalf("status %d %s, want %d", status, body, tt.want)
			}
		})
	}
	if status, _ := e.do("POST", "/api/v1/session/runs", "sub_nobody", nil); status != http.StatusUnauthorized {
		t.Errorf("unknown token: status %d, want 401", status)
	}
}

func TestSubmit(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			bundle := sampleTask(t, nil)
			sub := e.openSubmission(bundle)
			e.appendOps(sub, replaceFile("rle.py", starterFile(t, bundle, "rle.py"), solution))

			status, body := e.do("POST", "/api/v1/session/submit", sub, nil)
			if status != http.StatusOK {
				t.Fatalf("submit: status %d %s", status, body)
			}
			var s Submitted
			if err := json.Unmarshal(body, &s); err != nil {
				t.Fatal(err)
			}
			checkSubmitted(t, e, sub, s)

			// The token no longer works, for any candidate route.
			for _, path := range []string{"/api/v1/session/submit", "/api/v1/session/runs"} {
				if status, _ := e.do("POST", path, sub, nil); status != http.StatusUnauthorized {
					t.Errorf("POST %s after submit: status %d, want 401", path, status)
				}
			}
		})
	}
}

func checkSubmitted(t *testing.T, e *env, sub string, s Submitted) {
	t.Helper()
	got, err := e.db.SubmissionByID(context.Background(), sub)
	if err != nil || got.State != store.StateSubmitted {
		t.Fatalf("submission state %q, %v; want submitted", got.State, err)
	}
	evs := e.events(sub, audit.KindSubmissionSubmitted)
	if len(evs) != 1 {
		t.Fatalf("got %d submission.submitted events, want 1", len(evs))
	}
	var p SnapshotPayload
	if err := json.Unmarshal(evs[0].Payload, &p); err != nil {
		t.Fatal(err)
	}
	if p.Digest.String() != s.Digest || p.Seq != s.Seq {
		t.Errorf("submission.submitted %+v, response %+v; want the same digest and seq", p, s)
	}
	d, _ := blob.ParseDigest(s.Digest)
	if _, err := e.blobs.Stat(context.Background(), sub, d); err != nil {
		t.Errorf("final tarball not stored: %v", err)
	}
}

// TestSecondSubmitConflicts bypasses the token check (which already
// refuses a submitted submission's token) to show the state change
// itself admits one submit: the handler sees an open submission only
// once.
func TestSecondSubmitConflicts(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			sub := e.openSubmission(sampleTask(t, nil))
			codes := make(chan int, 4)
			for range 4 {
				go func() {
					rec := newRecorderResponse()
					req := candidateRequest(t, "POST", "/api/v1/session/submit", sub, e.db)
					if err := e.api.submit(rec, req); err != nil {
						codes <- serverStatus(err)
						return
					}
					codes <- rec.code
				}()
			}
			got := map[int]int{}
			for range 4 {
				got[<-codes]++
			}
			if got[http.StatusOK] != 1 || got[http.StatusConflict] != 3 {
				t.Fatalf("racing submits got statuses %v, want one 200 and three 409", got)
			}
			if n := len(e.events(sub, audit.KindSubmissionSubmitted)); n != 1 {
				t.Errorf("got %d submission.submitted events, want 1", n)
			}
		})
	}
}
