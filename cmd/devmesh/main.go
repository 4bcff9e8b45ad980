// Command devmesh runs DevMesh: `devmesh up` runs everything in one
// process on embedded defaults; the other commands are production roles
// and operator tools. main is wiring only: each command parses its flags
// and calls into the packages that do the work.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/devmesh/devmesh/sandbox/local"
)

func main() {
	// A run's helper processes are this binary re-executed: they must
	// become the sandbox trampoline before anything else happens.
	local.MaybeRunTrampoline()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// command is one devmesh subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *cmdEnv, args []string) error
}

// cmdEnv is what a command may touch of the outside world.
type cmdEnv struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

func commands() []command {
	return []command{
		{"up", "run everything in one process on embedded defaults", cmdUp},
		{"serve", "run the HTTP API, relay and web UI (production role)", cmdServe},
		{"runner", "take run jobs from the queue and drive the sandbox (production role)", cmdRunner},
		{"worker", "run evaluation, checkpoint signing and retention jobs (production role)", notYet("worker", "evaluation")},
		{"migrate", "apply database migrations", cmdMigrate},
		{"demo", "drive one whole assessment through the public API and check every step", cmdDemo},
		{"audit", "audit log tools: audit verify", cmdAudit},
		{"receipt", "receipt tools: receipt verify FILE --key KEYFILE", cmdReceipt},
		{"admin", "administration: admin create-recruiter", cmdAdmin},
		{"keys", "signing keys: keys rotate", cmdKeys},
		{"sandbox", "sandbox tools: sandbox check, sandbox run", cmdSandbox},
		{"version", "print the version", cmdVersion},
	}
}

// usageError is a command-line mistake: it prints the message and a hint.
type usageError struct {
	msg, hint string
}

func (e *usageError) Error() string { return e.msg }

// hintError is an operational error with advice on what to do next.
type hintError struct {
	err  error
	hint string
}

func (e *hintError) Error() string { return e.err.Error() }
func (e *hintError) Unwrap() error { return e.err }

// quietError exits non-zero without printing: the command already said
// what happened.
type quietError struct{ err error }

func (e *quietError) Error() string { return e.err.Error() }
func (e *quietError) Unwrap() error { return e.err }

// exitCode prints err (if any) with its hint and returns the exit status.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var qe *quietError
	if errors.As(err, &qe) {
		return 1
	}
	fmt.Fprintf(stderr, "error: %v\n", err)
	var ue *usageError
	var he *hintError
	switch {
	case errors.As(err, &ue) && ue.hint != "":
		fmt.Fprintf(stderr, "hint: %s\n", ue.hint)
		return 2
	case errors.As(err, &ue):
		return 2
	case errors.As(err, &he):
		fmt.Fprintf(stderr, "hint: %s\n", he.hint)
	}
	return 1
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	env := &cmdEnv{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		if len(args) > 1 {
			return run(ctx, []string{args[1], "--help"}, stdin, stdout, stderr, getenv)
		}
		printUsage(stdout)
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, env, args[1:])
		}
	}
	return &usageError{
		msg:  fmt.Sprintf("unknown command %q", args[0]),
		hint: "run 'devmesh help' to list the commands" + suggest(args[0]),
	}
}

func suggest(name string) string {
	var near []string
	for _, c := range commands() {
		if strings.HasPrefix(c.name, name[:1]) {
			near = append(near, c.name)
		}
	}
	sort.Strings(near)
	if len(near) == 0 {
		return ""
	}
	return "; did you mean " + strings.Join(near, " or ") + "?"
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "DevMesh runs AI-assisted coding assessments whose verdicts can be trusted.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: devmesh <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'devmesh <command> --help' for a command's flags.")
	fmt.Fprintln(w, "Start here: 'devmesh up' serves https://127.0.0.1:8443 from ./devmesh-data.")
}

// newFlagSet returns a flag set for one command. Its help goes to
// stdout; parse errors become usage errors with a hint.
func newFlagSet(env *cmdEnv, name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet("devmesh "+name, flag.ContinueOnError)
	fs.Usage = func() {
		fs.SetOutput(env.stdout)
		fmt.Fprintf(env.stdout, "Usage: devmesh %s\n\nFlags:\n", usage)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return fs
}

// parse parses args. --help prints the command's usage; a bad flag
// returns a usage error with a hint instead of the whole usage text.
func parse(fs *flag.FlagSet, args []string) error {
	usage := fs.Usage
	fs.Usage = func() {}
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.Usage = usage
	if errors.Is(err, flag.ErrHelp) {
		usage()
		return flag.ErrHelp
	}
	if err != nil {
		return &usageError{msg: err.Error(),
			hint: fmt.Sprintf("run '%s --help' to list its flags", fs.Name())}
	}
	return nil
}

func notYet(name, part string) func(context.Context, *cmdEnv, []string) error {
	return func(ctx context.Context, env *cmdEnv, args []string) error {
		if len(args) > 0 && (args[0] == "--help" || args[0] == "-h") {
			fmt.Fprintf(env.stdout, "devmesh %s: not available yet in this build (it needs %s).\n", name, part)
			return nil
		}
		return &hintError{
			err:  fmt.Errorf("devmesh %s is not available yet in this build: it needs %s", name, part),
			hint: "'devmesh up' runs everything that exists today in one process",
		}
	}
}

func cmdVersion(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "version", "version")
	if err := parse(fs, args); err != nil {
		return err
	}
	fmt.Fprintln(env.stdout, "devmesh", appVersion())
	return nil
}
