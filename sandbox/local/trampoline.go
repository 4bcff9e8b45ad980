package local

import (
	"encoding/json"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Role markers in argv[1]. The driver re-executes its own binary in one
// of two roles: the trampoline on the host, and the init inside bwrap.
const (
	trampolineRole = "__devmesh_sandbox_trampoline__"
	initRole       = "__devmesh_sandbox_init__"
)

// MaybeRunTrampoline runs the sandbox helper roles of this binary and
// never returns when the process was started as one; otherwise it
// returns at once. Every program that creates a local Driver must call
// it first thing in main (and in TestMain for tests), before flags,
// logging or anything else that could reveal host state to a process
// that is about to become untrusted.
func MaybeRunTrampoline() {
	if len(os.Args) < 3 {
		return
	}
	switch os.Args[1] {
	case trampolineRole:
		os.Exit(runTrampoline(os.Args[2]))
	case initRole:
		os.Exit(runInit(os.Args[2]))
	}
}

// trampolineSpec is what the driver tells the trampoline, as JSON in
// argv. It holds no secrets: argv is visible to every host user.
type trampolineSpec struct {
	// CgroupFDs are open cgroup.procs files to join, by fd number.
	CgroupFDs []int `json:"cgroup_fds"`
	// Rlimits are per-process backstops behind the cgroup limits.
	Rlimits []rlimit `json:"rlimits"`
	Bwrap   string   `json:"bwrap"`
	Args    []string `json:"args"`
}

type rlimit struct {
	Resource int    `json:"resource"`
	Value    uint64 `json:"value"`
}

// runTrampoline runs on the host as the slot's unprivileged uid (the
// driver sets the credentials). It moves itself into the run's cgroups
// before anything else, so every process bwrap ever creates is counted
// and killable; it then sets the rlimits and becomes bwrap.
func runTrampoline(arg string) int {
	var s trampolineSpec
	if err := json.Unmarshal([]byte(arg), &s); err != nil {
		return fail("trampoline: decode spec: %v", err)
	}
	for _, fd := range s.CgroupFDs {
		if _, err := unix.Write(fd, []byte("0")); err != nil {
			return fail("trampoline: join cgroup: %v", err)
		}
		unix.Close(fd)
	}
	for _, r := range s.Rlimits {
		lim := unix.Rlimit{Cur: r.Value, Max: r.Value}
		if err := unix.Setrlimit(r.Resource, &lim); err != nil {
			return fail("trampoline: set rlimit %d: %v", r.Resource, err)
		}
	}
	argv := append([]string{s.Bwrap}, s.Args...)
	err := unix.Exec(s.Bwrap, argv, os.Environ())
	return fail("trampoline: exec %q: %v", s.Bwrap, err)
}

// fail reports a helper failure on stderr, which the driver captures,
// and returns the exit code reserved for sandbox failures.
func fail(format string, args ...any) int {
	fmt.Fprintf(os.Stderr, "devmesh sandbox: "+format+"\n", args...)
	return sandboxFailExit
}

// sandboxFailExit is the exit code of a helper role that failed before
// the command could start.
const sandboxFailExit = 125
