package local

import (
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/devmesh/devmesh/sandbox"
)

// ending is everything known about how a run ended, gathered from the
// host (authoritative) and from the init inside (the run's own report).
type ending struct {
	stop      string // driver's stop reason, "" if none
	stats     cgroupStats
	cpuLimit  time.Duration
	status    *initStatus // nil when the init did not report
	hostExit  int         // bwrap's exit code, 128+signal if killed
	truncated bool
	stderr    []byte
}

// classify turns what the driver saw into a Result.
func (d *Driver) classify(r *run, cmd *exec.Cmd, waitErr error, status []byte, dur time.Duration) sandbox.Result {
	e := ending{
		stop:     r.stopReason(),
		stats:    r.cg.stats(),
		cpuLimit: r.job.Limits.CPUTime,
		hostExit: hostExit(cmd, waitErr),
	}
	var st initStatus
	if json.Unmarshal(status, &st) == nil && len(status) > 0 {
		e.status = &st
	}
	stdout, stderr, truncated := r.cap.Result()
	e.truncated, e.stderr = truncated, stderr
	res := decide(e)
	res.Duration, res.CPUTime = dur, e.stats.cpu
	res.PeakMemory = e.stats.peakMemory
	res.Stdout, res.Stderr = stdout, stderr
	return res
}

func hostExit(cmd *exec.Cmd, waitErr error) int {
	var ee *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &ee) {
		return -1
	}
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok {
		return -1
	}
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// decide classifies an ending. Limits the host measured come first: a
// command that ran out of memory often dies in a way that looks like an
// ordinary crash, and the init's report cannot override a host counter.
func decide(e ending) sandbox.Result {
	code := e.hostExit
	if e.status != nil {
		code = e.status.ExitCode
		if e.status.Signal != 0 {
			code = 128 + e.status.Signal
		}
	}
	res := sandbox.Result{ExitCode: code}
	set := func(o sandbox.Outcome, detail string) sandbox.Result {
		res.Outcome, res.Detail = o, detail
		return res
	}
	switch {
	case e.stats.oomKills > 0:
		return set(sandbox.MemoryLimit, fmt.Sprintf("%d processes killed at the memory limit", e.stats.oomKills))
	case e.stats.pidsMax > 0:
		return set(sandbox.ProcessLimit, fmt.Sprintf("%d process creations refused at the limit", e.stats.pidsMax))
	case e.stop == stopWall:
		res.TimeKind = sandbox.WallClock
		return set(sandbox.TimeLimit, "wall-clock limit reached")
	case e.stop == stopCPU || e.stats.cpu > e.cpuLimit:
		res.TimeKind = sandbox.CPUClock
		return set(sandbox.TimeLimit, fmt.Sprintf("used %v of CPU, limit %v", e.stats.cpu.Round(time.Millisecond), e.cpuLimit))
	case e.stop == stopOutput || e.truncated:
		return set(sandbox.OutputTruncated, "output limit reached")
	case e.stop == stopCanceled:
		return set(sandbox.SandboxError, "run canceled")
	case e.status == nil:
		res.ExitCode = -1
		return set(sandbox.SandboxError, errSandboxExited.Error()+": "+tail(e.stderr))
	case e.status.DiskFull:
		return set(sandbox.DiskFull, "workspace or /tmp is full")
	case !e.status.Started && code != 127:
		return set(sandbox.SandboxError, e.status.Error)
	case code != 0:
		return set(sandbox.ExitCode, e.status.Error)
	}
	return set(sandbox.OK, "")
}

// tail returns the last line of b, for error details.
func tail(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	if len(s) > 200 {
		s = s[len(s)-200:]
	}
	return s
}
