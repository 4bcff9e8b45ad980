package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/devmesh/devmesh/internal/errs"
	"github.com/devmesh/devmesh/workspace"
)

// CheckCommand implements `devmesh sandbox check`: it runs d's preflight
// probes and prints a table of them to stdout. The error is non-nil when
// any probe failed or the probes could not run.
func CheckCommand(ctx context.Context, d Driver, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sandbox check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: devmesh sandbox check\n\n"+
			"Runs the configured sandbox driver's isolation probes and prints\n"+
			"one line per probe. Exits non-zero if any probe fails.\n")
	}
	if err := parseFlags(fs, args, "check"); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return cliError("check", fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	probes, err := d.Preflight(ctx)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROBE\tRESULT\tDETAIL")
	for _, p := range probes {
		status := "ok"
		if !p.OK {
			status = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", p.Name, status, p.Detail)
	}
	tw.Flush()
	if err != nil {
		return fmt.Errorf("sandbox check: %w", err)
	}
	return nil
}

// runFlags are the options of `devmesh sandbox run`.
type runFlags struct {
	runtime, workspace, memory, wall, cpu string
	json                                  bool
}

const runUsage = `usage: devmesh sandbox run [--runtime R] [--workspace DIR] [--memory M]
                           [--time T] [--cpu-time T] [--json] -- CMD [ARG...]

Runs CMD in the configured sandbox exactly as a run job would and prints
its output and outcome. Limits default to the task defaults.

`

// RunCommand implements `devmesh sandbox run`. Output streams to stdout
// and stderr as the command produces it, followed by the outcome on
// stderr; with --json a single JSON object goes to stdout instead. The
// error is a *RunError when the command ran but did not end ok.
func RunCommand(ctx context.Context, d Driver, args []string, stdout, stderr io.Writer) error {
	job, f, err := parseRun(args, stderr)
	if err != nil {
		return err
	}
	var mu sync.Mutex // serializes writes to the two writers
	if !f.json {
		job.Output = func(s Stream, p []byte) {
			mu.Lock()
			defer mu.Unlock()
			if s == Stdout {
				stdout.Write(p)
			} else {
				stderr.Write(p)
			}
		}
	}
	res, err := d.Run(ctx, job)
	if err != nil {
		return fmt.Errorf("sandbox run: %w", err)
	}
	if f.json {
		if err := json.NewEncoder(stdout).Encode(jsonResult(res)); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stderr, "\noutcome: %s\n", summary(res))
	}
	if res.Outcome != OK {
		return &RunError{Result: res}
	}
	return nil
}

// RunError reports a run that did not end ok. Callers map it to a
// non-zero exit status.
type RunError struct{ Result Result }

func (e *RunError) Error() string { return "sandbox run: " + summary(e.Result) }

func parseRun(args []string, stderr io.Writer) (Job, runFlags, error) {
	var f runFlags
	fs := flag.NewFlagSet("sandbox run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := DefaultLimits()
	fs.StringVar(&f.runtime, "runtime", "python", "runtime profile: python, go or node")
	fs.StringVar(&f.workspace, "workspace", "", "directory to pack as the workspace")
	fs.StringVar(&f.memory, "memory", FormatBytes(def.MemoryBytes), "memory limit incl. swap, e.g. 256M")
	fs.StringVar(&f.wall, "time", def.WallTime.String(), "wall-clock limit, e.g. 10s")
	fs.StringVar(&f.cpu, "cpu-time", def.CPUTime.String(), "CPU-time limit, e.g. 5s")
	fs.BoolVar(&f.json, "json", false, "print the result as one JSON object")
	fs.Usage = func() { fmt.Fprint(stderr, runUsage); fs.PrintDefaults() }
	if err := parseFlags(fs, args, "run"); err != nil {
		return Job{}, f, err
	}
	if fs.NArg() == 0 {
		return Job{}, f, cliError("run", "missing command after --")
	}
	job := Job{ID: "cli-" + time.Now().UTC().Format("20060102T150405.000000000"),
		Runtime: f.runtime, Command: fs.Args(), Limits: def}
	job.ID = strings.ReplaceAll(job.ID, ".", "-")
	var err error
	if job.Limits, err = f.limits(def); err != nil {
		return Job{}, f, err
	}
	if f.workspace != "" {
		if job.Workspace, err = packDir(f.workspace); err != nil {
			return Job{}, f, err
		}
	}
	return job, f, job.Validate()
}

func (f runFlags) limits(l Limits) (Limits, error) {
	var err1, err2, err3 error
	l.MemoryBytes, err1 = ParseBytes("memory", f.memory)
	l.WallTime, err2 = ParseDuration("time", f.wall)
	l.CPUTime, err3 = ParseDuration("cpu time", f.cpu)
	return l, errors.Join(err1, err2, err3)
}

// packDir packs a directory into the deterministic workspace archive.
func packDir(dir string) (io.Reader, error) {
	tree, err := workspace.ReadDir(dir, workspace.Limits{})
	if err != nil {
		return nil, fmt.Errorf("pack workspace: %w", err)
	}
	b, _, err := workspace.Archive(tree)
	if err != nil {
		return nil, fmt.Errorf("pack workspace %q: %w", dir, err)
	}
	return bytes.NewReader(b), nil
}

// parseFlags parses args; an unknown flag gets a hint line.
func parseFlags(fs *flag.FlagSet, args []string, cmd string) error {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		return flag.ErrHelp
	}
	if err != nil {
		return cliError(cmd, err.Error())
	}
	return nil
}

func cliError(cmd, msg string) error {
	return errs.E(errs.Invalid, "sandbox %s: %s\nhint: run 'devmesh sandbox %s --help' for usage", cmd, msg, cmd)
}

func summary(r Result) string {
	s := fmt.Sprintf("%s exit_code=%d duration=%v cpu=%v", r.Outcome, r.ExitCode,
		r.Duration.Round(time.Millisecond), r.CPUTime.Round(time.Millisecond))
	if r.TimeKind != "" {
		s += " clock=" + string(r.TimeKind)
	}
	if r.PeakMemory > 0 {
		s += fmt.Sprintf(" peak_memory=%dK", r.PeakMemory/1024)
	}
	if r.Detail != "" {
		s += " (" + r.Detail + ")"
	}
	return s
}

// runJSON is the --json output. Its field names are relied on by
// scripts: never rename one.
type runJSON struct {
	Outcome    Outcome  `json:"outcome"`
	TimeKind   TimeKind `json:"time_kind,omitempty"`
	ExitCode   int      `json:"exit_code"`
	Stdout     string   `json:"stdout"`
	Stderr     string   `json:"stderr"`
	DurationMS int64    `json:"duration_ms"`
	CPUMS      int64    `json:"cpu_ms"`
	PeakMemory int64    `json:"peak_memory_bytes"`
	Detail     string   `json:"detail,omitempty"`
}

func jsonResult(r Result) runJSON {
	return runJSON{Outcome: r.Outcome, TimeKind: r.TimeKind, ExitCode: r.ExitCode,
		Stdout: string(r.Stdout), Stderr: string(r.Stderr),
		DurationMS: r.Duration.Milliseconds(), CPUMS: r.CPUTime.Milliseconds(),
		PeakMemory: r.PeakMemory, Detail: r.Detail}
}
