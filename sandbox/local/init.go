package local

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/devmesh/devmesh/workspace"
	"golang.org/x/sys/unix"
)

// initSpec is what the driver tells the init inside the sandbox.
type initSpec struct {
	WorkspaceFD int      `json:"workspace_fd"` // -1: empty workspace
	StatusFD    int      `json:"status_fd"`
	Dir         string   `json:"dir"`
	Argv        []string `json:"argv"`
	// Watch lists the size-limited mounts checked for a full disk.
	Watch []string `json:"watch"`
	// Rlimits are set on the init before the command starts.
	Rlimits []rlimit `json:"rlimits"`
}

// initStatus is the init's report to the driver. It comes from inside the
// sandbox, so the driver trusts it only for the run's own classification
// (exit code, full disk), never for a limit or a security decision.
type initStatus struct {
	Started  bool   `json:"started"`
	ExitCode int    `json:"exit_code"`
	Signal   int    `json:"signal"`
	DiskFull bool   `json:"disk_full"`
	Error    string `json:"error,omitempty"`
}

// runInit runs inside bwrap as pid 1 of the sandbox, already confined.
// It unpacks the workspace, runs the command as its child and reports
// how it ended. When it exits the kernel kills everything else in the
// sandbox's pid namespace.
func runInit(arg string) int {
	var s initSpec
	if err := json.Unmarshal([]byte(arg), &s); err != nil {
		return fail("init: decode spec: %v", err)
	}
	// Non-dumpable: the command, same uid, cannot open /proc/<init>/fd
	// and forge the status report.
	_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	status := os.NewFile(uintptr(s.StatusFD), "status")
	// Nothing the driver passed in reaches the command.
	_ = unix.CloseRange(3, math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC)

	if err := setRlimits(s.Rlimits); err != nil {
		fail("init: %v", err)
		_ = json.NewEncoder(status).Encode(initStatus{ExitCode: sandboxFailExit, Error: err.Error()})
		return sandboxFailExit
	}
	st := initRun(s)
	st.DiskFull = anyFull(s.Watch)
	_ = json.NewEncoder(status).Encode(st)
	if st.Signal != 0 {
		return 128 + st.Signal
	}
	return st.ExitCode
}

func initRun(s initSpec) initStatus {
	if s.WorkspaceFD >= 0 {
		ws := os.NewFile(uintptr(s.WorkspaceFD), "workspace")
		err := workspace.Extract(ws, s.Dir, workspace.Limits{})
		ws.Close()
		if err != nil {
			fail("init: unpack workspace: %v", err)
			return initStatus{ExitCode: sandboxFailExit, Error: "unpack workspace: " + err.Error()}
		}
	}
	pid, err := startCommand(s)
	if err != nil {
		fail("init: start %q: %v", s.Argv[0], err)
		return initStatus{ExitCode: 127, Error: err.Error()}
	}
	go forwardSignals(pid)
	ws := reap(pid)
	st := initStatus{Started: true, ExitCode: ws.ExitStatus()}
	if ws.Signaled() {
		st.Signal = int(ws.Signal())
	}
	return st
}

// setRlimits lowers the init's own limits, soft and hard, so that the
// command inherits them. syscall.Setrlimit, unlike a raw system call,
// also stops the Go runtime from restoring its start-up RLIMIT_NOFILE
// in the child.
func setRlimits(limits []rlimit) error {
	for _, r := range limits {
		lim := syscall.Rlimit{Cur: r.Value, Max: r.Value}
		if err := syscall.Setrlimit(r.Resource, &lim); err != nil {
			return fmt.Errorf("set rlimit %d to %d: %w", r.Resource, r.Value, err)
		}
	}
	return nil
}

// startCommand starts the command with stdin on /dev/null and the
// sandbox's stdout and stderr.
func startCommand(s initSpec) (int, error) {
	path, err := exec.LookPath(s.Argv[0])
	if err != nil {
		return 0, err
	}
	null, err := os.Open(os.DevNull)
	if err != nil {
		return 0, err
	}
	defer null.Close()
	return syscall.ForkExec(path, s.Argv, &syscall.ProcAttr{
		Dir: s.Dir, Env: os.Environ(),
		Files: []uintptr{null.Fd(), 1, 2},
	})
}

// reap waits for the command. The init is pid 1 of the sandbox, so
// orphans of the command are reparented to it: it reaps them too, or
// their zombies would count against the process limit.
func reap(pid int) syscall.WaitStatus {
	for {
		var ws syscall.WaitStatus
		got, err := syscall.Wait4(-1, &ws, 0, nil)
		switch {
		case errors.Is(err, syscall.EINTR):
		case err != nil:
			return ws
		case got == pid:
			return ws
		}
	}
}

func forwardSignals(pid int) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	for sig := range ch {
		_ = syscall.Kill(pid, sig.(syscall.Signal))
	}
}

// anyFull reports whether a watched mount has less than fullSlack bytes
// left: a write that failed with ENOSPC leaves at most a partial block.
func anyFull(paths []string) bool {
	const fullSlack = 64 << 10
	for _, p := range paths {
		var fs unix.Statfs_t
		if unix.Statfs(p, &fs) == nil && int64(fs.Bavail)*fs.Bsize < fullSlack {
			return true
		}
	}
	return false
}
