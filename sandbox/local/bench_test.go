package local

import (
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/devmesh/devmesh/sandbox"
)

var benchCommands = []struct {
	name string
	argv []string
}{
	{"sh-echo", []string{"sh", "-c", "echo hi"}},
	{"python-pass", []string{"/usr/bin/python3", "-c", "pass"}},
}

// reportMedian adds the median of samples as a metric: the mean that
// ns/op shows is pulled up by the odd slow run.
func reportMedian(b *testing.B, samples []time.Duration) {
	if len(samples) == 0 {
		return
	}
	slices.Sort(samples)
	b.ReportMetric(float64(samples[len(samples)/2].Microseconds())/1000, "median-ms")
}

// BenchmarkBareExec is the baseline: the same commands with no sandbox.
func BenchmarkBareExec(b *testing.B) {
	for _, c := range benchCommands {
		b.Run(c.name, func(b *testing.B) {
			var samples []time.Duration
			for b.Loop() {
				start := time.Now()
				if out, err := exec.Command(c.argv[0], c.argv[1:]...).CombinedOutput(); err != nil {
					b.Fatalf("%v: %s", err, out)
				}
				samples = append(samples, time.Since(start))
			}
			reportMedian(b, samples)
		})
	}
}

func benchDriver(b *testing.B) *Driver {
	d := mustDriver(b, Options{Logger: slog.New(slog.DiscardHandler)})
	if _, err := d.Preflight(b.Context()); err != nil {
		b.Fatal(err)
	}
	return d
}

// BenchmarkSandboxRun is one hardened run with every limit enforced.
func BenchmarkSandboxRun(b *testing.B) {
	d := benchDriver(b)
	for _, c := range benchCommands {
		b.Run(c.name, func(b *testing.B) {
			job := sandbox.Job{ID: "bench", Runtime: "python", Limits: sandbox.DefaultLimits(), Command: c.argv}
			var samples []time.Duration
			for b.Loop() {
				start := time.Now()
				res, err := d.Run(b.Context(), job)
				if err != nil || res.Outcome != sandbox.OK {
					b.Fatalf("%v %v %s", res.Outcome, err, res.Stderr)
				}
				samples = append(samples, time.Since(start))
			}
			reportMedian(b, samples)
		})
	}
}

// BenchmarkSandboxRunSmallHelper is BenchmarkSandboxRun with a minimal
// helper binary (testdata/helper) instead of the test binary.
func BenchmarkSandboxRunSmallHelper(b *testing.B) {
	helper := filepath.Join(b.TempDir(), "helper")
	build := exec.Command("go", "build", "-o", helper, "./testdata/helper")
	if out, err := build.CombinedOutput(); err != nil {
		b.Skipf("build helper: %v: %s", err, out)
	}
	d := mustDriver(b, Options{Logger: slog.New(slog.DiscardHandler), Helper: helper})
	if _, err := d.Preflight(b.Context()); err != nil {
		b.Fatal(err)
	}
	job := sandbox.Job{ID: "bench", Runtime: "python", Limits: sandbox.DefaultLimits(),
		Command: benchCommands[0].argv}
	var samples []time.Duration
	for b.Loop() {
		start := time.Now()
		res, err := d.Run(b.Context(), job)
		if err != nil || res.Outcome != sandbox.OK {
			b.Fatalf("%v %v %s", res.Outcome, err, res.Stderr)
		}
		samples = append(samples, time.Since(start))
	}
	reportMedian(b, samples)
}

// BenchmarkSandboxRunParallel runs two sandboxes per CPU at once.
func BenchmarkSandboxRunParallel(b *testing.B) {
	d := benchDriver(b)
	job := sandbox.Job{ID: "bench", Runtime: "python", Limits: sandbox.DefaultLimits(),
		Command: benchCommands[0].argv}
	var mu sync.Mutex
	var samples []time.Duration
	b.SetParallelism(2)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			start := time.Now()
			res, err := d.Run(b.Context(), job)
			if err != nil || res.Outcome != sandbox.OK {
				b.Errorf("%v %v %s", res.Outcome, err, res.Stderr)
				return
			}
			mu.Lock()
			samples = append(samples, time.Since(start))
			mu.Unlock()
		}
	})
	reportMedian(b, samples)
}

// BenchmarkBwrapAlone starts bubblewrap with the driver's options but no
// trampoline, init, cgroups or workspace, running /usr/bin/true as the
// slot uid: it shows how much of a run's overhead is bubblewrap itself.
func BenchmarkBwrapAlone(b *testing.B) {
	d := benchDriver(b)
	rt, _ := sandbox.LookupRuntime("python")
	args := d.bwrapArgs(rt, sandbox.DefaultLimits(), false, nil)
	args = append(args[:slices.Index(args, "--")], "--", "/usr/bin/true")
	var samples []time.Duration
	for b.Loop() {
		r, w, err := os.Pipe()
		if err != nil {
			b.Fatal(err)
		}
		w.Write(d.filter)
		w.Close()
		cmd := exec.Command(d.opts.Bwrap, args...)
		cmd.Env = []string{"PATH=/usr/bin"}
		cmd.ExtraFiles = []*os.File{r}
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Credential: &syscall.Credential{Uid: 61000, Gid: 61000, Groups: []uint32{}}}
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%v: %s", err, out)
		}
		samples = append(samples, time.Since(start))
		r.Close()
	}
	reportMedian(b, samples)
}
