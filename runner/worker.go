package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/devmesh/devmesh/audit"
	"github.com/devmesh/devmesh/blob"
	"github.com/devmesh/devmesh/internal/errs"
	"github.com/devmesh/devmesh/sandbox"
	"github.com/devmesh/devmesh/workspace"
)

// Timing of run jobs. River cancels a job's context after its timeout
// and rescues a job still marked running after RescueAfter, which must
// exceed the longest timeout: task wall times are at most ten minutes.
const (
	// jobGrace is added to a run's wall time for fetching the tarball,
	// sandbox setup and teardown, and flushing output.
	jobGrace = time.Minute
	// DefaultRescueAfter is when a job whose runner vanished is retried
	// (or, on its last attempt, discarded and its run failed).
	DefaultRescueAfter = 15 * time.Minute
	// flushEvery is how often gathered output goes to the log and the
	// run row while a run works.
	flushEvery = 250 * time.Millisecond
)

// maxWorkspaceArchive bounds the tarball read from blob storage.
const maxWorkspaceArchive = workspace.DefaultStreamBytes

// Worker is the River worker of run jobs. Its methods are safe for
// concurrent use; River bounds how many run at once.
type Worker struct {
	river.WorkerDefaults[RunArgs]

	runs   runs
	blobs  *blob.Store
	audit  audit.Appender
	driver sandbox.Driver
	log    *slog.Logger
}

// Timeout bounds one attempt: the run's wall time plus jobGrace.
func (w *Worker) Timeout(job *river.Job[RunArgs]) time.Duration {
	return job.Args.Limits.WallTime + jobGrace
}

// Work carries out one attempt of a run job.
func (w *Worker) Work(ctx context.Context, job *river.Job[RunArgs]) error {
	a := job.Args
	n, ok, err := w.runs.claim(ctx, a.RunID)
	if err != nil {
		return err
	}
	if !ok {
		// Final already: a duplicate delivery of a job whose completion
		// River had not recorded.
		w.log.InfoContext(ctx, "run already final", "run", a.RunID)
		return nil
	}
	err = w.attempt(ctx, job, n)
	if err == nil {
		return nil
	}
	return w.attemptFailed(ctx, job, n, err)
}

// attempt runs the job's command as the run's attempt n and records
// the run's end.
func (w *Worker) attempt(ctx context.Context, job *river.Job[RunArgs], n int) error {
	a := job.Args
	if err := w.logStarted(ctx, a, n); err != nil {
		return err
	}
	archive, err := w.fetch(ctx, a)
	if err != nil {
		return err
	}
	rec := &recorder{run: a.RunID, attempt: n}
	res, err := w.runWithFlush(ctx, a, archive, rec)
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		return fmt.Errorf("run interrupted: %w", context.Cause(ctx))
	}
	return w.record(ctx, a, n, rec, res)
}

// fetch reads the workspace tarball the job names, verified against its
// digest by the blob store.
func (w *Worker) fetch(ctx context.Context, a RunArgs) ([]byte, error) {
	d, err := blob.ParseDigest(a.Digest)
	if err != nil {
		return nil, river.JobCancel(err)
	}
	data, err := w.blobs.ReadAll(ctx, a.SubmissionID, d, maxWorkspaceArchive)
	if err != nil {
		return nil, fmt.Errorf("fetch workspace %s: %w", a.Digest, err)
	}
	return data, nil
}

// runWithFlush runs the sandbox while a goroutine flushes output.
func (w *Worker) runWithFlush(ctx context.Context, a RunArgs, archive []byte, rec *recorder) (sandbox.Result, error) {
	done := make(chan struct{})
	flushed := make(chan error, 1)
	go func() { flushed <- w.flushLoop(ctx, a.SubmissionID, rec, done) }()
	res, err := w.driver.Run(ctx, sandbox.Job{ID: a.RunID, Runtime: a.Runtime,
		Command: a.Command, Workspace: bytes.NewReader(archive), Limits: a.Limits,
		Output: rec.sink})
	close(done)
	ferr := <-flushed
	if err != nil {
		return res, fmt.Errorf("sandbox: %w", err)
	}
	if ferr == nil {
		ferr = rec.flush(context.WithoutCancel(ctx), w, a.SubmissionID)
	}
	return res, ferr
}

func (w *Worker) flushLoop(ctx context.Context, sub string, rec *recorder, done <-chan struct{}) error {
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := rec.flush(ctx, w, sub); err != nil {
				return err
			}
		}
	}
}

// started is the payload of run.started.
type started struct {
	RunID   string         `json:"run_id"`
	Attempt int            `json:"attempt"`
	Digest  string         `json:"digest"`
	Runtime string         `json:"runtime"`
	Command []string       `json:"command"`
	Limits  sandbox.Limits `json:"limits"`
}

func (w *Worker) logStarted(ctx context.Context, a RunArgs, n int) error {
	return w.appendEvent(ctx, a.SubmissionID, audit.KindRunStarted, started{RunID: a.RunID,
		Attempt: n, Digest: a.Digest, Runtime: a.Runtime, Command: a.Command,
		Limits: a.Limits})
}

// Finished is the payload of run.finished.
type Finished struct {
	RunID      string           `json:"run_id"`
	Attempt    int              `json:"attempt"`
	Status     string           `json:"status"`
	Outcome    sandbox.Outcome  `json:"outcome,omitempty"`
	TimeKind   sandbox.TimeKind `json:"time_kind,omitempty"`
	ExitCode   *int             `json:"exit_code,omitempty"`
	DurationMS int64            `json:"duration_ms"`
	CPUTimeMS  int64            `json:"cpu_time_ms"`
	PeakMemory int64            `json:"peak_memory"`
	Reason     string           `json:"reason,omitempty"`
}

// record stores the result of a run that reached an outcome. A sandbox
// error is a failed run (the command's fate is unknown) and is not
// retried: a broken sandbox would fail again.
func (w *Worker) record(ctx context.Context, a RunArgs, n int, rec *recorder, res sandbox.Result) error {
	out, truncated := rec.output()
	exit := res.ExitCode
	f := final{status: StatusFinished, outcome: string(res.Outcome), exitCode: &exit,
		output: out, truncated: truncated}
	if res.Outcome == sandbox.SandboxError {
		f.status, f.reason, f.exitCode = StatusFailed, "sandbox error: "+res.Detail, nil
	}
	ev := Finished{RunID: a.RunID, Attempt: n, Status: f.status,
		Outcome: res.Outcome, TimeKind: res.TimeKind, ExitCode: f.exitCode,
		DurationMS: res.Duration.Milliseconds(), CPUTimeMS: res.CPUTime.Milliseconds(),
		PeakMemory: res.PeakMemory, Reason: clipReason(f.reason)}
	if err := w.appendEvent(ctx, a.SubmissionID, audit.KindRunFinished, ev); err != nil {
		return err
	}
	if _, err := w.runs.finish(ctx, a.RunID, n, f); err != nil {
		return err
	}
	w.log.InfoContext(ctx, "run finished", "run", a.RunID, "status", f.status,
		"outcome", res.Outcome, "exit_code", res.ExitCode, "duration", res.Duration)
	return nil
}

// attemptFailed decides the fate of an attempt that ended in err: the
// run fails for good when the error cannot pass (an invalid job) or this
// was the last attempt; otherwise it goes back to queued for River's
// retry. Its bookkeeping outlives a cancelled job context.
func (w *Worker) attemptFailed(ctx context.Context, job *river.Job[RunArgs], n int, err error) error {
	a := job.Args
	bg := context.WithoutCancel(ctx)
	var cancel *river.JobCancelError
	permanent := errors.As(err, &cancel) || errs.Is(err, errs.Invalid) ||
		errs.Is(err, errs.NotFound)
	if !permanent && job.Attempt < job.MaxAttempts {
		w.log.WarnContext(bg, "run attempt failed; will retry", "run", a.RunID,
			"attempt", job.Attempt, "err", err)
		if rerr := w.runs.requeue(bg, a.RunID, n, "attempt "+
			fmt.Sprint(n)+" interrupted: "+err.Error()); rerr != nil {
			w.log.ErrorContext(bg, "requeue run", "run", a.RunID, "err", rerr)
		}
		return err
	}
	reason := fmt.Sprintf("attempt %d of %d failed: %v", job.Attempt, job.MaxAttempts, err)
	w.fail(bg, a, n, reason)
	if permanent {
		return river.JobCancel(err)
	}
	return err
}

// fail records a run as failed with reason and logs run.finished.
func (w *Worker) fail(ctx context.Context, a RunArgs, attempt int, reason string) {
	ok, err := w.runs.finish(ctx, a.RunID, attempt, final{status: StatusFailed, reason: reason})
	if err != nil || !ok {
		w.log.ErrorContext(ctx, "record failed run", "run", a.RunID, "err", err)
		return
	}
	ev := Finished{RunID: a.RunID, Attempt: attempt, Status: StatusFailed, Reason: clipReason(reason)}
	if err := w.appendEvent(ctx, a.SubmissionID, audit.KindRunFinished, ev); err != nil {
		w.log.ErrorContext(ctx, "log failed run", "run", a.RunID, "err", err)
	}
	w.log.WarnContext(ctx, "run failed", "run", a.RunID, "reason", reason)
}

func (w *Worker) appendEvent(ctx context.Context, sub string, kind audit.Kind, v any) error {
	payload, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := w.audit.Append(ctx, audit.Entry{SubmissionID: sub, Kind: kind,
		Actor: audit.ActorRunner, Payload: payload}); err != nil {
		return fmt.Errorf("log %s: %w", kind, err)
	}
	return nil
}

var _ river.Worker[RunArgs] = (*Worker)(nil)
