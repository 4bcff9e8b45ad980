package sandbox

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/devmesh/devmesh/internal/errs"
)

// Limits bounds the resources of one run. Every field must be set; use
// DefaultLimits and override what the task asks for, then Validate.
type Limits struct {
	// WallTime is the longest the run may take from start to teardown.
	WallTime time.Duration `json:"wall_time"`
	// CPUTime is the CPU time all processes of the run may use together.
	CPUTime time.Duration `json:"cpu_time"`
	// MemoryBytes bounds resident memory plus swap of the whole run,
	// including files written to its tmpfs workspace.
	MemoryBytes int64 `json:"memory_bytes"`
	// Processes bounds the tasks (processes and threads) the command may
	// have at once.
	Processes int `json:"processes"`
	// OutputBytes bounds stdout and stderr together; the run is stopped
	// and classified OutputTruncated when it writes more.
	OutputBytes int64 `json:"output_bytes"`
	// DiskBytes bounds the workspace and /tmp, each.
	DiskBytes int64 `json:"disk_bytes"`
	// OpenFiles bounds the file descriptors of each process.
	OpenFiles int `json:"open_files"`
}

// DefaultLimits returns limits that fit a typical test run of a task.
func DefaultLimits() Limits {
	return Limits{
		WallTime:    30 * time.Second,
		CPUTime:     20 * time.Second,
		MemoryBytes: 512 * MiB,
		Processes:   128,
		OutputBytes: 1 * MiB,
		DiskBytes:   128 * MiB,
		OpenFiles:   256,
	}
}

// Byte sizes used by limits.
const (
	KiB int64 = 1 << 10
	MiB int64 = 1 << 20
	GiB int64 = 1 << 30
)

// bounds holds the accepted range of every limit. Values outside would
// either starve the sandbox machinery itself or let one run take the host.
var bounds = struct {
	minTime, maxTime     time.Duration
	minMemory, maxMemory int64
	minProcs, maxProcs   int
	minOutput, maxOutput int64
	minDisk, maxDisk     int64
	minFiles, maxFiles   int
}{
	minTime: 100 * time.Millisecond, maxTime: 2 * time.Hour,
	minMemory: 16 * MiB, maxMemory: 64 * GiB,
	minProcs: 1, maxProcs: 4096,
	minOutput: 1 * KiB, maxOutput: 1 * GiB,
	minDisk: 1 * MiB, maxDisk: 64 * GiB,
	minFiles: 16, maxFiles: 65536,
}

// Validate reports every limit outside its accepted range at once. The
// error is of kind errs.Invalid.
func (l Limits) Validate() error {
	b := bounds
	var problems []error
	check := func(name string, bad bool, v, lo, hi any) {
		if bad {
			problems = append(problems, fmt.Errorf(
				"%s limit %v out of range [%v, %v]", name, v, lo, hi))
		}
	}
	check("wall time", l.WallTime < b.minTime || l.WallTime > b.maxTime,
		l.WallTime, b.minTime, b.maxTime)
	check("cpu time", l.CPUTime < b.minTime || l.CPUTime > b.maxTime,
		l.CPUTime, b.minTime, b.maxTime)
	check("memory", l.MemoryBytes < b.minMemory || l.MemoryBytes > b.maxMemory,
		FormatBytes(l.MemoryBytes), FormatBytes(b.minMemory), FormatBytes(b.maxMemory))
	check("process", l.Processes < b.minProcs || l.Processes > b.maxProcs,
		l.Processes, b.minProcs, b.maxProcs)
	check("output", l.OutputBytes < b.minOutput || l.OutputBytes > b.maxOutput,
		FormatBytes(l.OutputBytes), FormatBytes(b.minOutput), FormatBytes(b.maxOutput))
	check("disk", l.DiskBytes < b.minDisk || l.DiskBytes > b.maxDisk,
		FormatBytes(l.DiskBytes), FormatBytes(b.minDisk), FormatBytes(b.maxDisk))
	check("open files", l.OpenFiles < b.minFiles || l.OpenFiles > b.maxFiles,
		l.OpenFiles, b.minFiles, b.maxFiles)
	if err := errors.Join(problems...); err != nil {
		return errs.Wrap(errs.Invalid, err, "invalid limits")
	}
	return nil
}

// unitSizes maps the accepted size suffixes, binary and decimal, to bytes.
var unitSizes = map[string]int64{
	"": 1, "B": 1,
	"K": KiB, "KB": 1000, "KIB": KiB,
	"M": MiB, "MB": 1000 * 1000, "MIB": MiB,
	"G": GiB, "GB": 1000 * 1000 * 1000, "GIB": GiB,
	"T": 1 << 40, "TB": 1000 * 1000 * 1000 * 1000, "TIB": 1 << 40,
}

// ParseBytes parses a human size such as "256M", "1.5GiB", "64KB" or
// "4096". Single-letter units (K, M, G, T) are binary, as in most
// container tools; "KB", "MB", ... are decimal. what names the limit in
// the error, e.g. "memory".
func ParseBytes(what, s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool {
		return (r < '0' || r > '9') && r != '.'
	})
	if i < 0 {
		i = len(t)
	}
	num, unit := t[:i], strings.ToUpper(strings.TrimSpace(t[i:]))
	if num == "" {
		return 0, errs.E(errs.Invalid, "invalid %s limit %q: missing number", what, s)
	}
	mult, ok := unitSizes[unit]
	if !ok {
		return 0, errs.E(errs.Invalid, "invalid %s limit %q: unknown unit", what, s)
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, errs.E(errs.Invalid, "invalid %s limit %q: bad number", what, s)
	}
	v := f * float64(mult)
	if v >= math.MaxInt64/2 {
		return 0, errs.E(errs.Invalid, "invalid %s limit %q: too large", what, s)
	}
	return int64(v), nil
}

// ParseDuration parses a human duration: Go syntax ("1m30s", "250ms") or
// a bare number of seconds ("10"). what names the limit in the error.
func ParseDuration(what, s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(t, 64); err == nil {
		if f < 0 || f > float64(math.MaxInt64/int64(time.Second)) {
			return 0, errs.E(errs.Invalid, "invalid %s limit %q: out of range", what, s)
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(t)
	if err != nil {
		return 0, errs.E(errs.Invalid, "invalid %s limit %q: not a duration", what, s)
	}
	return d, nil
}

// FormatBytes renders n with the largest binary unit that divides it
// exactly, so ParseBytes(FormatBytes(n)) == n.
func FormatBytes(n int64) string {
	for _, u := range []struct {
		s string
		v int64
	}{{"T", 1 << 40}, {"G", GiB}, {"M", MiB}, {"K", KiB}} {
		if n != 0 && n%u.v == 0 {
			return strconv.FormatInt(n/u.v, 10) + u.s
		}
	}
	return strconv.FormatInt(n, 10)
}
