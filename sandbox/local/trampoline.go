package local

import (
	"fmt"
	"os"
)

// initRole is the role marker in argv[1]: the driver re-executes its
// own binary as the init inside bwrap.
const initRole = "__devmesh_sandbox_init__"

// MaybeRunTrampoline runs the sandbox init role of this binary and never
// returns when the process was started as one; otherwise it returns at
// once. Every program that creates a local Driver must call it first
// thing in main (and in TestMain for tests), before flags, logging or
// anything else that could reveal host state to a process that is about
// to become untrusted.
func MaybeRunTrampoline() {
	if len(os.Args) < 3 {
		return
	}
	if os.Args[1] == initRole {
		os.Exit(runInit(os.Args[2]))
	}
}

// trampolineShell starts every run. It runs on the host as the slot's
// unprivileged uid and blocks on its stdin, a pipe from the driver,
// until the driver has moved it into the run's cgroups; only then does
// it become bwrap. Every process bwrap ever
// creates is therefore counted and killable. A closed pipe without the
// go-ahead (the driver failed) ends it before bwrap starts. Only shell
// builtins run, so the trampoline forks nothing; a shell starts in a
// fraction of a Go program's time.
const trampolineShell = "/bin/sh"

const trampolineScript = `read -r go && exec "$@" </dev/null`

// trampolineName is the trampoline's $0, as seen in ps and errors.
const trampolineName = "devmesh-sandbox-trampoline"

// admit moves the blocked trampoline pid into the run's cgroups and
// lets it exec bwrap by writing to release, which it closes in every
// case.
func admit(cg *runCgroup, pid int, release *os.File) error {
	defer release.Close()
	if err := cg.join(pid); err != nil {
		return err
	}
	if _, err := release.Write([]byte("\n")); err != nil {
		return fmt.Errorf("release trampoline: %w", err)
	}
	return nil
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
