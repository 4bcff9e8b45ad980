package aca

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/appcontainers/armappcontainers/v3"

	"github.com/devmesh/devmesh/internal/errs"
	"github.com/devmesh/devmesh/sandbox"
)

func mustRun(t *testing.T, h *harness, j sandbox.Job) sandbox.Result {
	t.Helper()
	res, err := h.d.Run(t.Context(), j)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res
}

func deref(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

func strs(ps []*string) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = deref(p)
	}
	return out
}

func envOf(c *armappcontainers.JobExecutionContainer) []string {
	var out []string
	for _, e := range c.Env {
		if e.SecretRef != nil {
			out = append(out, deref(e.Name)+" secretRef="+*e.SecretRef)
			continue
		}
		out = append(out, deref(e.Name)+"="+deref(e.Value))
	}
	return out
}

func TestRunSucceeds(t *testing.T) {
	h := newHarness(t)
	h.logs.logs = Logs{Stdout: []byte("hi\n"), Stderr: []byte("warn\n"), ExitCode: 0}
	var streamed bytes.Buffer
	j := testJob("run-ok")
	j.Output = func(_ sandbox.Stream, b []byte) { streamed.Write(b) }

	res := mustRun(t, h, j)

	if res.Outcome != sandbox.OK || res.ExitCode != 0 {
		t.Fatalf("got outcome %q exit %d (%s), want ok 0", res.Outcome, res.ExitCode, res.Detail)
	}
	if string(res.Stdout) != "hi\n" || string(res.Stderr) != "warn\n" {
		t.Errorf("got stdout %q stderr %q, want %q %q", res.Stdout, res.Stderr, "hi\n", "warn\n")
	}
	if streamed.String() != "hi\nwarn\n" {
		t.Errorf("sink got %q, want both streams", streamed.String())
	}
	if res.Duration <= 0 {
		t.Errorf("got duration %v, want > 0", res.Duration)
	}
	if len(h.arm.stops) != 0 {
		t.Errorf("got stops %q of a finished execution, want none", h.arm.stops)
	}
	if got := string(h.stager.archives["run-ok"]); got != "fake tar.gz bytes" {
		t.Errorf("staged archive %q, want the job's workspace", got)
	}
	if !slices.Contains(h.stager.removed, "run-ok") {
		t.Errorf("staged workspace not removed: removed %q", h.stager.removed)
	}
	if ttl := h.stager.ttls["run-ok"]; ttl < j.Limits.WallTime || ttl > time.Hour {
		t.Errorf("staged URL ttl %v, want at least the wall time and under an hour", ttl)
	}
	if want := []string{fakeJob + "-exec1/run"}; !slices.Equal(h.logs.calls, want) {
		t.Errorf("logs read for %q, want %q", h.logs.calls, want)
	}
}

// TestRunSendsTemplateOverride checks the body the SDK sent, as the
// fake decoded it: pinned image, argv untouched by any shell parsing,
// the runtime's explicit environment and nothing else, resources from
// the memory limit, and the workspace URL on the init container only.
func TestRunSendsTemplateOverride(t *testing.T) {
	h := newHarness(t)
	j := testJob("run-tmpl")
	j.Limits.MemoryBytes = 1536 * sandbox.MiB
	mustRun(t, h, j)

	if len(h.arm.starts) != 1 {
		t.Fatalf("got %d starts, want 1", len(h.arm.starts))
	}
	tmpl := h.arm.starts[0]
	if len(tmpl.Containers) != 1 || len(tmpl.InitContainers) != 1 {
		t.Fatalf("got %d containers, %d init containers, want 1 and 1",
			len(tmpl.Containers), len(tmpl.InitContainers))
	}
	main, fetch := tmpl.Containers[0], tmpl.InitContainers[0]
	rt := sandbox.Runtimes["python"]
	checks := []struct {
		name      string
		got, want any
	}{
		{"main name", deref(main.Name), "run"},
		{"main image", deref(main.Image), rt.Image},
		{"main command", strs(main.Command), []string{"/bin/sh", "-c", runScript, "devmesh-run"}},
		{"main args", strs(main.Args), j.Command},
		{"main env", envOf(main), rt.Env},
		{"main cpu", *main.Resources.CPU, 0.75},
		{"main memory", deref(main.Resources.Memory), "1.5Gi"},
		{"init name", deref(fetch.Name), "fetch"},
		{"init image", deref(fetch.Image), fetchImage},
		{"init env", envOf(fetch), []string{workspaceURLVar + "=" + sasURL("run-tmpl")}},
	}
	for _, c := range checks {
		if !equal(c.got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
}

func equal(a, b any) bool {
	as, aok := a.([]string)
	bs, bok := b.([]string)
	if aok && bok {
		return slices.Equal(as, bs)
	}
	return a == b
}

func TestRunFailedExecution(t *testing.T) {
	tests := []struct {
		name       string
		logs       Logs
		wantCode   int
		wantDetail string
	}{
		{"exit code from logs", Logs{Stderr: []byte("boom\n"), ExitCode: 3}, 3, ""},
		{"no exit code reported", Logs{ExitCode: -1}, -1, detailNoExitCode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.arm.script = finishAfter(2, armappcontainers.JobExecutionRunningStateFailed)
			h.logs.logs = tt.logs
			res := mustRun(t, h, testJob("run-fail"))
			if res.Outcome != sandbox.ExitCode || res.ExitCode != tt.wantCode {
				t.Errorf("got %q exit %d, want exit_code %d", res.Outcome, res.ExitCode, tt.wantCode)
			}
			if res.Detail != tt.wantDetail {
				t.Errorf("got detail %q, want %q", res.Detail, tt.wantDetail)
			}
		})
	}
}

func TestRunOverWallTimeIsStopped(t *testing.T) {
	h := newHarness(t)
	h.arm.script = func(reads int) armappcontainers.JobExecutionRunningState {
		if reads == 0 {
			return armappcontainers.JobExecutionRunningStateProcessing
		}
		return armappcontainers.JobExecutionRunningStateRunning
	}
	j := testJob("run-slow")
	j.Limits.WallTime = 200 * time.Millisecond
	begun := time.Now()

	res := mustRun(t, h, j)

	if res.Outcome != sandbox.TimeLimit || res.TimeKind != sandbox.WallClock {
		t.Fatalf("got %q/%q (%s), want time_limit/wall", res.Outcome, res.TimeKind, res.Detail)
	}
	if elapsed := time.Since(begun); elapsed < j.Limits.WallTime {
		t.Errorf("stopped after %v, before the wall limit %v", elapsed, j.Limits.WallTime)
	}
	if want := []string{fakeJob + "-exec1"}; !slices.Equal(h.arm.stops, want) {
		t.Errorf("got stops %q, want %q", h.arm.stops, want)
	}
}

func TestRunStoppedOutsideDriverIsTimeLimit(t *testing.T) {
	h := newHarness(t)
	h.arm.script = finishAfter(2, armappcontainers.JobExecutionRunningStateStopped)
	res := mustRun(t, h, testJob("run-ext"))
	if res.Outcome != sandbox.TimeLimit || len(h.arm.stops) != 0 {
		t.Errorf("got %q with stops %q, want time_limit and no stop request",
			res.Outcome, h.arm.stops)
	}
}

func TestRunThatNeverStartsIsStopped(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.StartTimeout = 100 * time.Millisecond })
	h.arm.script = func(int) armappcontainers.JobExecutionRunningState {
		return armappcontainers.JobExecutionRunningStateProcessing
	}
	res := mustRun(t, h, testJob("run-stuck"))
	if res.Outcome != sandbox.SandboxError || len(h.arm.stops) != 1 {
		t.Errorf("got %q with stops %q, want sandbox_error and one stop", res.Outcome, h.arm.stops)
	}
}

func TestRunCancelledStopsExecution(t *testing.T) {
	h := newHarness(t)
	h.arm.script = func(int) armappcontainers.JobExecutionRunningState {
		return armappcontainers.JobExecutionRunningStateRunning
	}
	ctx, cancel := context.WithTimeout(t.Context(), 150*time.Millisecond)
	defer cancel()
	_, err := h.d.Run(ctx, testJob("run-cancel"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got error %v, want the context's", err)
	}
	if len(h.arm.stops) != 1 {
		t.Errorf("got stops %q, want the running execution stopped", h.arm.stops)
	}
}

// TestRunRetriesTransientErrors relies on the SDK's retry policy: the
// fake refuses the first attempts of several calls with 429 and 5xx.
func TestRunRetriesTransientErrors(t *testing.T) {
	h := newHarness(t)
	h.arm.failFirst(http.MethodGet, "/jobs/"+fakeJob, http.StatusServiceUnavailable)
	h.arm.failFirst(http.MethodPost, "/start", http.StatusTooManyRequests, http.StatusInternalServerError)
	h.arm.failFirst(http.MethodGet, "/executions/"+fakeJob+"-exec1", http.StatusTooManyRequests)

	res := mustRun(t, h, testJob("run-retry"))

	if res.Outcome != sandbox.OK {
		t.Errorf("got %q (%s), want ok", res.Outcome, res.Detail)
	}
	if got := h.arm.attempts["POST /start"]; got != 3 {
		t.Errorf("got %d start attempts, want 3", got)
	}
	if len(h.arm.starts) != 1 {
		t.Errorf("got %d executions, want 1", len(h.arm.starts))
	}
}

func TestRunGivesUpWhenAzureKeepsFailing(t *testing.T) {
	h := newHarness(t)
	h.arm.failFirst(http.MethodPost, "/start", 500, 500, 500, 500, 500)
	_, err := h.d.Run(t.Context(), testJob("run-down"))
	var e *errs.Error
	if !errors.As(err, &e) || e.Kind != errs.Unavailable {
		t.Fatalf("got error %v, want kind unavailable", err)
	}
	if got := h.arm.attempts["POST /start"]; got != 4 {
		t.Errorf("got %d start attempts, want 1 + 3 retries", got)
	}
	if !slices.Contains(h.stager.removed, "run-down") {
		t.Errorf("staged workspace not removed after a failed start")
	}
}

func TestRunRejectsInvalidJobs(t *testing.T) {
	tests := []struct {
		name string
		edit func(*sandbox.Job)
	}{
		{"wall time over the driver maximum", func(j *sandbox.Job) { j.Limits.WallTime = time.Hour }},
		{"memory over the largest consumption size", func(j *sandbox.Job) { j.Limits.MemoryBytes = 9 * sandbox.GiB }},
		{"unknown runtime", func(j *sandbox.Job) { j.Runtime = "cobol" }},
		{"empty command", func(j *sandbox.Job) { j.Command = nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			j := testJob("run-bad")
			tt.edit(&j)
			_, err := h.d.Run(t.Context(), j)
			var e *errs.Error
			if !errors.As(err, &e) || e.Kind != errs.Invalid {
				t.Errorf("got error %v, want kind invalid", err)
			}
			if len(h.arm.starts) != 0 || len(h.stager.archives) != 0 {
				t.Errorf("invalid job reached Azure or the stager")
			}
		})
	}
}

func TestRunRefusedWhilePreflightFails(t *testing.T) {
	h := newHarness(t)
	h.arm.job.Identity = &armappcontainers.ManagedServiceIdentity{
		Type: to.Ptr(armappcontainers.ManagedServiceIdentityTypeSystemAssigned),
	}
	_, err := h.d.Run(t.Context(), testJob("run-pre"))
	if err == nil || !strings.Contains(err.Error(), probeIdentity) {
		t.Fatalf("got error %v, want the failing identity probe named", err)
	}
	if len(h.arm.starts) != 0 {
		t.Errorf("got %d executions, want none while the preflight fails", len(h.arm.starts))
	}
}

func TestRunOutputOverLimitIsTruncated(t *testing.T) {
	h := newHarness(t)
	h.logs.logs = Logs{Stdout: bytes.Repeat([]byte("x"), 4096), ExitCode: 0}
	j := testJob("run-loud")
	j.Limits.OutputBytes = 1024
	var sunk int
	j.Output = func(_ sandbox.Stream, b []byte) { sunk += len(b) }
	res := mustRun(t, h, j)
	if res.Outcome != sandbox.OutputTruncated {
		t.Errorf("got %q, want output_truncated", res.Outcome)
	}
	if len(res.Stdout) != 1024 || sunk != 1024 {
		t.Errorf("kept %d bytes, sank %d, want 1024 each", len(res.Stdout), sunk)
	}
}

func TestRunWithoutLogReaderSaysSo(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.Logs = nil })
	res := mustRun(t, h, testJob("run-nolog"))
	if res.Outcome != sandbox.OK || !strings.Contains(res.Detail, "output unavailable") {
		t.Errorf("got %q detail %q, want ok and output unavailable", res.Outcome, res.Detail)
	}
}

// TestWorkspaceURLStaysSecret tries to find the staged URL's signature
// where an attacker or an operator could read it: the candidate's own
// container environment, the driver's log records, the Result.
func TestWorkspaceURLStaysSecret(t *testing.T) {
	h := newHarness(t)
	h.arm.script = finishAfter(2, armappcontainers.JobExecutionRunningStateFailed)
	res := mustRun(t, h, testJob("run-secret"))
	const sig = "SAS-SIGNATURE-run-secret"
	for _, e := range envOf(h.arm.starts[0].Containers[0]) {
		if strings.Contains(e, sig) {
			t.Errorf("main container env %q carries the workspace URL", e)
		}
	}
	if strings.Contains(h.logBuf.String(), sig) {
		t.Errorf("log records carry the workspace URL:\n%s", h.logBuf.String())
	}
	if strings.Contains(res.Detail, sig) {
		t.Errorf("result detail carries the workspace URL: %q", res.Detail)
	}
}

func TestRunsInParallel(t *testing.T) {
	h := newHarness(t)
	errc := make(chan error, 4)
	for i := range 4 {
		go func() {
			res, err := h.d.Run(t.Context(), testJob("par-"+string(rune('a'+i))))
			if err == nil && res.Outcome != sandbox.OK {
				err = errors.New("outcome " + string(res.Outcome))
			}
			errc <- err
		}()
	}
	for range 4 {
		if err := <-errc; err != nil {
			t.Error(err)
		}
	}
	if len(h.arm.starts) != 4 {
		t.Errorf("got %d executions, want 4", len(h.arm.starts))
	}
}
