package local

import (
	"encoding/json"
	"errors"
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

// runInit runs inside bwrap, already confined. It unpacks the workspace,
// runs the command as its child and reports how it ended.
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
	cmd := exec.Command(s.Argv[0], s.Argv[1:]...)
	cmd.Dir = s.Dir
	cmd.Env = os.Environ()
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		fail("init: start %q: %v", s.Argv[0], err)
		return initStatus{ExitCode: 127, Error: err.Error()}
	}
	go forwardSignals(cmd.Process)
	err := cmd.Wait()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return initStatus{Started: true, ExitCode: sandboxFailExit, Error: err.Error()}
	}
	ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
	st := initStatus{Started: true, ExitCode: ws.ExitStatus()}
	if ws.Signaled() {
		st.Signal = int(ws.Signal())
	}
	return st
}

func forwardSignals(p *os.Process) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	for sig := range ch {
		_ = p.Signal(sig)
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
