// Package conformance is the escape and abuse suite every sandbox driver
// must pass. It asserts on effects seen from the host: a listener that
// counts accepts, a file that appears, a process that survives. The same
// escape probes also run without any sandbox, through
// UnsandboxedForNegativeControl, and must escape there: a probe that
// cannot tell an open door from a closed one fails instead of passing.
package conformance

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/devmesh/devmesh/sandbox"
	"github.com/devmesh/devmesh/workspace"
)

// UnsandboxedForNegativeControl runs jobs as plain host processes, with
// the caller's privileges and environment. It exists only so the suite
// can prove its probes detect escapes; it is not a sandbox and must
// never run candidate code.
type UnsandboxedForNegativeControl struct{}

var _ sandbox.Driver = UnsandboxedForNegativeControl{}

// Preflight reports that nothing is isolated.
func (UnsandboxedForNegativeControl) Preflight(context.Context) ([]sandbox.ProbeResult, error) {
	p := sandbox.ProbeResult{Name: "isolation", Detail: "unsandboxed negative control"}
	return []sandbox.ProbeResult{p}, errors.New("unsandboxed negative control isolates nothing")
}

// Run executes the command directly: workspace in a temporary directory,
// the host's environment, a wall-clock kill and the output cap.
func (UnsandboxedForNegativeControl) Run(ctx context.Context, job sandbox.Job) (sandbox.Result, error) {
	if err := job.Validate(); err != nil {
		return sandbox.Result{}, err
	}
	dir, err := os.MkdirTemp("", "devmesh-control-")
	if err != nil {
		return sandbox.Result{}, err
	}
	defer os.RemoveAll(dir)
	if job.Workspace != nil {
		if err := workspace.Extract(job.Workspace, dir, workspace.Limits{}); err != nil {
			return sandbox.Result{}, err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, job.Limits.WallTime)
	defer cancel()
	cmd := exec.CommandContext(ctx, job.Command[0], job.Command[1:]...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	capture := sandbox.NewCapture(job.Limits.OutputBytes, job.Output, cancel)
	cmd.Stdout = writerFunc(func(p []byte) { capture.Add(sandbox.Stdout, p) })
	cmd.Stderr = writerFunc(func(p []byte) { capture.Add(sandbox.Stderr, p) })
	start := time.Now()
	err = cmd.Run()
	res := sandbox.Result{Duration: time.Since(start), Outcome: sandbox.OK}
	res.Stdout, res.Stderr, _ = capture.Result()
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		res.Outcome, res.TimeKind = sandbox.TimeLimit, sandbox.WallClock
	case errors.As(err, &ee):
		res.Outcome, res.ExitCode = sandbox.ExitCode, ee.ExitCode()
	case err != nil:
		res.Outcome, res.ExitCode, res.Detail = sandbox.SandboxError, -1, err.Error()
	}
	return res, nil
}

type writerFunc func(p []byte)

func (f writerFunc) Write(p []byte) (int, error) { f(p); return len(p), nil }
