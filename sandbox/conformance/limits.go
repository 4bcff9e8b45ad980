package conformance

import (
	"bytes"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/devmesh/devmesh/sandbox"
	"github.com/devmesh/devmesh/workspace"
)

// abuse is one resource-abuse probe: a job and what its Result must say.
type abuse struct {
	name   string
	limits func(*sandbox.Limits)
	argv   []string
	check  func(t *testing.T, res sandbox.Result)
}

// RunLimits runs the resource-abuse probes and the basic contract checks
// against a real sandbox. They never run unsandboxed: a fork bomb or a
// memory bomb would hurt the host.
func RunLimits(t *testing.T, d sandbox.Driver) {
	for _, a := range abuses {
		t.Run(a.name, func(t *testing.T) {
			lim := sandbox.DefaultLimits()
			lim.WallTime = 20 * time.Second
			if a.limits != nil {
				a.limits(&lim)
			}
			job := sandbox.Job{ID: "conf-limit", Runtime: "python", Limits: lim, Command: a.argv}
			a.check(t, mustRun(t, d, job))
		})
	}
	t.Run("fork bomb keeps host responsive", func(t *testing.T) { forkBomb(t, d) })
	t.Run("1 GiB of output without newlines", func(t *testing.T) { outputFlood(t, d) })
	t.Run("workspace and streaming output", func(t *testing.T) { workspaceRoundTrip(t, d) })
}

func py(script string) []string { return []string{"python3", "-c", script} }

func wantOutcome(t *testing.T, res sandbox.Result, want sandbox.Outcome) {
	t.Helper()
	if res.Outcome != want {
		t.Fatalf("outcome %s (%s, exit %d), want %s\nstderr: %.500s",
			res.Outcome, res.Detail, res.ExitCode, want, res.Stderr)
	}
}

var abuses = []abuse{
	{
		name: "clean exit is ok",
		argv: []string{"sh", "-c", "echo hi"},
		check: func(t *testing.T, r sandbox.Result) {
			wantOutcome(t, r, sandbox.OK)
			if string(r.Stdout) != "hi\n" {
				t.Errorf("stdout %q, want %q", r.Stdout, "hi\n")
			}
		},
	},
	{
		name: "non-zero exit is reported",
		argv: []string{"sh", "-c", "echo oops >&2; exit 3"},
		check: func(t *testing.T, r sandbox.Result) {
			wantOutcome(t, r, sandbox.ExitCode)
			if r.ExitCode != 3 || string(r.Stderr) != "oops\n" {
				t.Errorf("exit %d stderr %q, want 3 and %q", r.ExitCode, r.Stderr, "oops\n")
			}
		},
	},
	{
		name:   "memory bomb hits the memory limit",
		limits: func(l *sandbox.Limits) { l.MemoryBytes = 64 * sandbox.MiB },
		argv: py(`
chunks = []
for _ in range(256):
    chunks.append(bytearray(8 << 20))
print("allocated 2 GiB")`),
		check: func(t *testing.T, r sandbox.Result) { wantOutcome(t, r, sandbox.MemoryLimit) },
	},
	{
		name:   "cpu hog hits the cpu limit",
		limits: func(l *sandbox.Limits) { l.CPUTime = time.Second },
		argv:   py("while True: pass"),
		check: func(t *testing.T, r sandbox.Result) {
			wantOutcome(t, r, sandbox.TimeLimit)
			if r.TimeKind != sandbox.CPUClock {
				t.Errorf("time kind %q, want %q", r.TimeKind, sandbox.CPUClock)
			}
			if r.CPUTime < time.Second || r.CPUTime > 3*time.Second {
				t.Errorf("cpu time %v, want about 1s", r.CPUTime)
			}
		},
	},
	{
		name:   "sleep forever hits the wall limit",
		limits: func(l *sandbox.Limits) { l.WallTime = time.Second },
		argv:   []string{"sleep", "1000"},
		check: func(t *testing.T, r sandbox.Result) {
			wantOutcome(t, r, sandbox.TimeLimit)
			if r.TimeKind != sandbox.WallClock || r.Duration > 5*time.Second {
				t.Errorf("time kind %q after %v, want %q within 5s", r.TimeKind, r.Duration, sandbox.WallClock)
			}
		},
	},
	{
		name:   "disk fill is disk full",
		limits: func(l *sandbox.Limits) { l.DiskBytes = 8 * sandbox.MiB },
		argv: py(`
import sys
with open("fill", "wb") as f:
    for _ in range(64):
        f.write(b"x" * (1 << 20))
        f.flush()
print("wrote 64 MiB")`),
		check: func(t *testing.T, r sandbox.Result) {
			wantOutcome(t, r, sandbox.DiskFull)
			if !strings.Contains(string(r.Stderr), "No space left") {
				t.Errorf("stderr %q, want ENOSPC", r.Stderr)
			}
		},
	},
	{
		name:   "open files are capped",
		limits: func(l *sandbox.Limits) { l.OpenFiles = 64 },
		argv: py(`
fs = []
try:
    while len(fs) < 100000:
        fs.append(open("/dev/null"))
except OSError as e:
    print(len(fs), e.errno)`),
		check: func(t *testing.T, r sandbox.Result) {
			wantOutcome(t, r, sandbox.OK)
			var n, errno int
			if _, err := fmtSscan(string(r.Stdout), &n, &errno); err != nil || n > 64 || errno != 24 {
				t.Errorf("opened %q, want at most 64 then EMFILE (24)", r.Stdout)
			}
		},
	},
}

// forkBomb runs a fork bomb and, meanwhile, measures how long the host
// takes to start a process and how late its timers fire.
func forkBomb(t *testing.T, d sandbox.Driver) {
	lim := sandbox.DefaultLimits()
	lim.Processes, lim.WallTime = 32, 10*time.Second
	job := sandbox.Job{ID: "conf-forkbomb", Runtime: "python", Limits: lim, Command: py(`
import os, time
end = time.time() + 3
while time.time() < end:
    try:
        os.fork()
    except OSError:
        pass
`)}
	var worst atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond):
			}
			start := time.Now()
			if err := exec.Command("true").Run(); err != nil {
				t.Errorf("host cannot start a process during the fork bomb: %v", err)
			}
			if d := int64(time.Since(start)); d > worst.Load() {
				worst.Store(d)
			}
		}
	})
	res := mustRun(t, d, job)
	close(done)
	wg.Wait()
	wantOutcome(t, res, sandbox.ProcessLimit)
	if w := time.Duration(worst.Load()); w > 2*time.Second {
		t.Errorf("host took %v to start a process during the fork bomb", w)
	}
	t.Logf("slowest host process start during the bomb: %v", time.Duration(worst.Load()))
}

// outputFlood writes 1 GiB without a newline; the run must stop at the
// output limit and this process's heap must stay far below the flood.
func outputFlood(t *testing.T, d sandbox.Driver) {
	lim := sandbox.DefaultLimits()
	lim.OutputBytes, lim.WallTime = sandbox.MiB, 60*time.Second
	var sunk atomic.Int64
	job := sandbox.Job{ID: "conf-flood", Runtime: "python", Limits: lim,
		Output: func(_ sandbox.Stream, p []byte) { sunk.Add(int64(len(p))) },
		Command: py(`
import sys
chunk = b"x" * (1 << 20)
for _ in range(1024):
    sys.stdout.buffer.write(chunk)
`)}
	var peak atomic.Uint64
	done := make(chan struct{})
	go sampleHeap(done, &peak)
	before := heapInUse()
	res := mustRun(t, d, job)
	close(done)
	wantOutcome(t, res, sandbox.OutputTruncated)
	kept := int64(len(res.Stdout) + len(res.Stderr))
	if kept > lim.OutputBytes || sunk.Load() != kept {
		t.Errorf("kept %d bytes, sink got %d, want equal and at most %d", kept, sunk.Load(), lim.OutputBytes)
	}
	if grow := int64(peak.Load()) - int64(before); grow > 64<<20 {
		t.Errorf("heap grew by %d MiB during a 1 GiB flood", grow>>20)
	}
}

func heapInUse() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

func sampleHeap(done chan struct{}, peak *atomic.Uint64) {
	for {
		select {
		case <-done:
			return
		case <-time.After(10 * time.Millisecond):
		}
		if h := heapInUse(); h > peak.Load() {
			peak.Store(h)
		}
	}
}

// workspaceRoundTrip unpacks a workspace and streams its content back.
func workspaceRoundTrip(t *testing.T, d sandbox.Driver) {
	tree := workspace.NewTree(workspace.Limits{})
	must(t, tree.Put("src/main.py", workspace.File{Content: "print('from workspace')\n"}))
	must(t, tree.Put("run.sh", workspace.File{Content: "#!/bin/sh\npython3 src/main.py\n", Exec: true}))
	archive, _, err := workspace.Archive(tree)
	must(t, err)
	var mu sync.Mutex
	var streamed bytes.Buffer
	job := sandbox.Job{ID: "conf-ws", Runtime: "python", Limits: sandbox.DefaultLimits(),
		Workspace: bytes.NewReader(archive), Command: []string{"./run.sh"},
		Output: func(s sandbox.Stream, p []byte) {
			mu.Lock()
			defer mu.Unlock()
			streamed.Write(p)
		}}
	res := mustRun(t, d, job)
	wantOutcome(t, res, sandbox.OK)
	if got := string(res.Stdout); got != "from workspace\n" || streamed.String() != got {
		t.Errorf("stdout %q, streamed %q, want %q", got, streamed.String(), "from workspace\n")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
