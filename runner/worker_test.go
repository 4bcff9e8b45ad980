package runner

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/devmesh/devmesh/audit"
	"github.com/devmesh/devmesh/sandbox"
	"github.com/devmesh/devmesh/store/storetest"
)

// withRun returns a manifest edit that makes the task's run command the
// Python program src.
func withRun(src string) func(string) string {
	return func(m string) string {
		q, _ := json.Marshal(src) // a JSON string is a YAML double-quoted string
		return strings.Replace(m, "run: [python3, main.py, aaabccdddd]",
			"run: [python3, -c, "+string(q)+"]", 1)
	}
}

func TestEventStreamDeliversOutputWhileRunning(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			d := mustDriver(t)
			e := newEnv(t, b)
			e.startRunner(d, nil)
			bundle := sampleTask(t, withRun(
				"import time\nfor i in range(5):\n    print('line', i, flush=True)\n    time.sleep(0.3)\n"))
			sub := e.openSubmission(bundle)
			rc := e.createRun(sub, CommandRun)

			req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/session/runs/"+rc.RunID, nil)
			req.Header.Set("Authorization", "Bearer "+sub)
			req.Header.Set("Accept", "text/event-stream")
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			resp, err := http.DefaultClient.Do(req.WithContext(ctx))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
				t.Fatalf("content type %q, want text/event-stream", ct)
			}
			evs, err := readSSE(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			checkStream(t, evs)
		})
	}
}

func checkStream(t *testing.T, evs []sseEvent) {
	t.Helper()
	var out strings.Builder
	outputs := 0
	for _, ev := range evs[:len(evs)-1] {
		if ev.name != "output" {
			t.Fatalf("event %q before the end, want output", ev.name)
		}
		var o OutputEvent
		if err := json.Unmarshal([]byte(ev.data), &o); err != nil {
			t.Fatal(err)
		}
		if o.Offset != out.Len() {
			t.Errorf("output event at offset %d, want %d", o.Offset, out.Len())
		}
		out.WriteString(o.Data)
		outputs++
	}
	want := "line 0\nline 1\nline 2\nline 3\nline 4\n"
	if out.String() != want {
		t.Errorf("streamed output %q, want %q", out.String(), want)
	}
	if outputs < 2 {
		t.Errorf("got %d output events, want the output in several while it ran", outputs)
	}
	last := evs[len(evs)-1]
	var v RunView
	if err := json.Unmarshal([]byte(last.data), &v); err != nil || last.name != "status" {
		t.Fatalf("last event %q %s, want status", last.name, last.data)
	}
	if v.Status != StatusFinished || v.Outcome != string(sandbox.OK) {
		t.Errorf("final status %s/%s, want finished/ok", v.Status, v.Outcome)
	}
}

// TestStoppedRunnerLeavesTheRunRetried cancels a runner in the middle of
// a run, as a shutdown would: the run goes back to queued with the
// reason, and another runner completes it as the job's second attempt.
func TestStoppedRunnerLeavesTheRunRetried(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			d := mustDriver(t)
			e := newEnv(t, b)
			first := e.startRunner(d, nil)
			bundle := sampleTask(t, withRun("import time\nprint('started', flush=True)\ntime.sleep(2)\nprint('done')\n"))
			sub := e.openSubmission(bundle)
			rc := e.createRun(sub, CommandRun)
			e.waitRun(sub, rc.RunID, 30*time.Second, func(v RunView) bool {
				return strings.Contains(v.Output, "started")
			})
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			if err := first.StopNow(ctx); err != nil {
				t.Fatal(err)
			}
			v := e.waitRun(sub, rc.RunID, time.Second, func(RunView) bool { return true })
			if v.Status != StatusQueued || !strings.Contains(v.Reason, "attempt 1 interrupted") {
				t.Fatalf("after the stop: %s %q, want queued with the interruption", v.Status, v.Reason)
			}

			var state string
			e.db.SQL.QueryRowContext(ctx, e.db.Rebind(`SELECT state FROM river_job WHERE id = (SELECT job_id FROM runs WHERE id = ?)`), rc.RunID).Scan(&state)
			if state != "available" && state != "retryable" {
				t.Fatalf("job state %q after the stop, want it back in the queue", state)
			}
			e.startRunner(d, nil)
			v = e.waitRun(sub, rc.RunID, 60*time.Second, isDone)
			if v.Status != StatusFinished || v.Outcome != string(sandbox.OK) || v.Attempt != 2 {
				t.Fatalf("retry ended %s/%s attempt %d (%q), want finished/ok attempt 2", v.Status, v.Outcome, v.Attempt, v.Reason)
			}
			if v.Output != "started\ndone\n" {
				t.Errorf("output %q, want only the second attempt's", v.Output)
			}
			if n := len(e.events(sub, audit.KindRunStarted)); n != 2 {
				t.Errorf("got %d run.started events, want 2 (one per attempt)", n)
			}
		})
	}
}

// TestLostJobFailsTheRun simulates what River's rescuer does to a job
// whose runner died during its last attempt (it discards the job) and
// checks the sweep fails the run with a reason instead of leaving it
// running forever.
func TestLostJobFailsTheRun(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			sub := e.openSubmission(sampleTask(t, nil))
			rc := e.createRun(sub, CommandRun)
			ctx := t.Context()
			if _, err := e.db.SQL.ExecContext(ctx, e.db.Rebind(`UPDATE runs SET status = ?, attempt = ?
				WHERE id = ?`), StatusRunning, MaxAttempts, rc.RunID); err != nil {
				t.Fatal(err)
			}
			if _, err := e.db.SQL.ExecContext(ctx, e.db.Rebind(`UPDATE river_job SET state = 'discarded', finalized_at = ?
				WHERE id = (SELECT job_id FROM runs WHERE id = ?)`), time.Now().UTC(), rc.RunID); err != nil {
				t.Fatal(err)
			}
			sw := &sweeper{db: e.db, audit: e.log, log: e.logger}
			if n, err := sw.sweep(ctx); err != nil || n != 1 {
				t.Fatalf("sweep = %d, %v; want 1", n, err)
			}
			v := e.waitRun(sub, rc.RunID, time.Second, func(RunView) bool { return true })
			if v.Status != StatusFailed || v.Reason != lostReason {
				t.Fatalf("run %s %q, want failed with %q", v.Status, v.Reason, lostReason)
			}
			if len(e.events(sub, audit.KindRunFinished)) != 1 {
				t.Error("no run.finished event for the lost run")
			}
			if n, _ := sw.sweep(ctx); n != 0 {
				t.Errorf("second sweep failed %d runs, want 0", n)
			}
		})
	}
}

// failingPreflightDriver is a test fake whose isolation probes fail; it
// must never be asked to run anything.
type failingPreflightDriver struct{ t *testing.T }

func (d failingPreflightDriver) Preflight(context.Context) ([]sandbox.ProbeResult, error) {
	return []sandbox.ProbeResult{{Name: "network", Detail: "reachable"}}, errors.New("probe network failed")
}

func (d failingPreflightDriver) Run(context.Context, sandbox.Job) (sandbox.Result, error) {
	d.t.Error("a driver that failed its preflight was asked to run a job")
	return sandbox.Result{}, errors.New("refused")
}

func TestFailedPreflightRefusesJobs(t *testing.T) {
	e := newEnv(t, storetest.Backends()[0])
	deps := Deps{DB: e.db, Blobs: e.blobs, Audit: e.log, Driver: failingPreflightDriver{t}, Log: e.logger}
	if r, err := Start(t.Context(), deps); err == nil || !strings.Contains(err.Error(), "preflight failed") {
		if r != nil {
			r.StopNow(t.Context())
		}
		t.Fatalf("Start = %v, want a preflight error", err)
	}
	deps.InsecureDriver = true
	r, err := Start(t.Context(), deps)
	if err != nil {
		t.Fatalf("Start with an insecure driver: %v", err)
	}
	r.StopNow(t.Context())
}
