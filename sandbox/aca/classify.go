package aca

import (
	"context"
	"log/slog"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/appcontainers/armappcontainers/v3"

	"github.com/devmesh/devmesh/sandbox"
)

// Details that explain what Azure does not report.
const (
	detailNoLogs     = "output unavailable: no log reader is configured"
	detailNoExitCode = "azure reports the execution failed without an exit code"
)

// classify turns an ending and the execution's logs into a Result.
// ExitCode is -1 whenever neither Azure nor the logs report it.
func (d *Driver) classify(ctx context.Context, log *slog.Logger, j sandbox.Job, e ending) sandbox.Result {
	res := decide(e)
	if e.start != nil && e.end != nil && e.end.After(*e.start) {
		res.Duration = e.end.Sub(*e.start)
	}
	if res.Outcome == sandbox.SandboxError && e.stopped == stopStart {
		return res
	}
	logs, detail := d.readLogs(ctx, log, e.name, j.Limits.OutputBytes)
	if detail != "" {
		res.Detail = join(res.Detail, detail)
	}
	if logs.ExitCode >= 0 && res.Outcome == sandbox.ExitCode {
		res.ExitCode = logs.ExitCode
		res.Detail = ""
	}
	c := sandbox.NewCapture(j.Limits.OutputBytes, j.Output, nil)
	c.Add(sandbox.Stdout, logs.Stdout)
	c.Add(sandbox.Stderr, logs.Stderr)
	var truncated bool
	res.Stdout, res.Stderr, truncated = c.Result()
	if truncated && (res.Outcome == sandbox.OK || res.Outcome == sandbox.ExitCode) {
		res.Outcome = sandbox.OutputTruncated
	}
	return res
}

// decide classifies the execution's final state alone.
func decide(e ending) sandbox.Result {
	res := sandbox.Result{ExitCode: -1}
	switch {
	case e.stopped == stopWall:
		res.Outcome, res.TimeKind = sandbox.TimeLimit, sandbox.WallClock
	case e.stopped == stopStart:
		res.Outcome = sandbox.SandboxError
		res.Detail = "execution did not start in time; status " + string(e.status)
	case e.stopped == stopStuck:
		res.Outcome = sandbox.SandboxError
		res.Detail = "execution reached no final state; status " + string(e.status)
	case e.status == armappcontainers.JobExecutionRunningStateSucceeded:
		res.Outcome, res.ExitCode = sandbox.OK, 0
	case e.status == armappcontainers.JobExecutionRunningStateFailed:
		res.Outcome, res.Detail = sandbox.ExitCode, detailNoExitCode
	case e.status == armappcontainers.JobExecutionRunningStateStopped:
		// Not stopped by this driver: the job's replica timeout or an
		// operator ended it, either way it ran out of time.
		res.Outcome, res.TimeKind = sandbox.TimeLimit, sandbox.WallClock
		res.Detail = "stopped by azure or an operator, not by the driver"
	default:
		res.Outcome = sandbox.SandboxError
		res.Detail = "unexpected execution status " + string(e.status)
	}
	if e.stopErr != nil {
		res.Detail = join(res.Detail, "stop request failed; the execution may "+
			"run until the job's replica timeout")
	}
	return res
}

// readLogs fetches the main container's output, reading one byte past
// the limit so that truncation shows. It returns a detail for the
// Result when output is unavailable.
func (d *Driver) readLogs(ctx context.Context, log *slog.Logger, name string, limit int64) (Logs, string) {
	if d.opts.Logs == nil {
		return Logs{ExitCode: -1}, detailNoLogs
	}
	logs, err := d.opts.Logs.ReadLogs(ctx, name, d.opts.MainContainer, limit+1)
	if err != nil {
		log.Warn("read execution logs", "err", err)
		return Logs{ExitCode: -1}, "output unavailable: reading logs failed"
	}
	return logs, ""
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
