package sandbox

import (
	"context"
	"io"
	"time"
)

// Job is one command to run in a fresh sandbox. The zero value is not
// runnable: ID, Runtime, Command and Limits are required.
type Job struct {
	// ID names the run in logs and cgroup names; it must be a short
	// token of letters, digits, '-' and '_'.
	ID string
	// Runtime names a profile from Runtimes ("python", "go", "node").
	Runtime string
	// Command is the argv to execute; Command[0] is looked up in the
	// runtime's PATH inside the sandbox.
	Command []string
	// Workspace is a gzip-compressed tar stream extracted into the
	// sandbox's working directory before the command starts. Nil means
	// an empty workspace. The driver reads it at most once.
	Workspace io.Reader
	// Limits bounds the run; see Limits.Validate.
	Limits Limits
	// Output, if set, receives output while the run progresses. It is
	// called from one goroutine at a time, never after Run returns, and
	// never with more than Limits.OutputBytes bytes in total.
	Output Sink
}

// Stream names an output stream of a run.
type Stream string

// Output streams. Their names are stored in audit events: never rename.
const (
	Stdout Stream = "stdout"
	Stderr Stream = "stderr"
)

// Sink receives a chunk of output. The chunk is only valid during the
// call. A Sink must not block for long: a slow sink slows the run.
type Sink func(s Stream, chunk []byte)

// Outcome classifies how a run ended. The values are stored in run
// records and audit events: never reorder or reuse one.
type Outcome string

// Outcomes of a run.
const (
	OK              Outcome = "ok"
	ExitCode        Outcome = "exit_code"
	TimeLimit       Outcome = "time_limit"
	MemoryLimit     Outcome = "memory_limit"
	ProcessLimit    Outcome = "process_limit"
	OutputTruncated Outcome = "output_truncated"
	DiskFull        Outcome = "disk_full"
	SandboxError    Outcome = "sandbox_error"
)

// TimeKind says which clock a TimeLimit outcome ran out on.
type TimeKind string

// Clocks of a TimeLimit outcome. Stored values: never rename.
const (
	WallClock TimeKind = "wall"
	CPUClock  TimeKind = "cpu"
)

// Result describes a finished run.
type Result struct {
	Outcome Outcome `json:"outcome"`
	// TimeKind is set only when Outcome is TimeLimit.
	TimeKind TimeKind `json:"time_kind,omitempty"`
	// ExitCode is the command's exit status, 128+signal when it was
	// killed by a signal, or -1 when it never ran.
	ExitCode int           `json:"exit_code"`
	Duration time.Duration `json:"duration"`
	CPUTime  time.Duration `json:"cpu_time"`
	// PeakMemory is the run's peak memory in bytes, 0 if unknown.
	PeakMemory int64 `json:"peak_memory"`
	// Stdout and Stderr hold the captured output; together they never
	// exceed Limits.OutputBytes.
	Stdout []byte `json:"stdout"`
	Stderr []byte `json:"stderr"`
	// Detail explains a SandboxError or a limit hit for operators.
	Detail string `json:"detail,omitempty"`
}

// ProbeResult is the outcome of one isolation probe run by Preflight.
type ProbeResult struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// Driver runs jobs in sandboxes. Implementations must be safe for
// concurrent use.
type Driver interface {
	// Preflight checks that the sandbox isolates as promised. A driver
	// must refuse to Run while a probe it requires is failing; the error
	// is non-nil when the probes could not run or any failed.
	Preflight(ctx context.Context) ([]ProbeResult, error)
	// Run executes job in a fresh sandbox and tears it down. Limit hits
	// and non-zero exits are reported in Result, not as errors; the
	// error is for jobs that are invalid or could not be attempted.
	Run(ctx context.Context, job Job) (Result, error)
}
