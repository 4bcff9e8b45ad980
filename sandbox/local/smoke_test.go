package local

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/devmesh/devmesh/internal/errs"
	"github.com/devmesh/devmesh/sandbox"
)

func echoJob(id string) sandbox.Job {
	return sandbox.Job{ID: id, Runtime: "python", Limits: sandbox.DefaultLimits(),
		Command: []string{"sh", "-c", "echo hi"}}
}

func TestPreflightPasses(t *testing.T) {
	d := mustDriver(t, Options{})
	probes, err := d.Preflight(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(probes) < 7 {
		t.Errorf("got %d probes, want at least 7", len(probes))
	}
	for _, p := range probes {
		if !p.OK {
			t.Errorf("probe %s failed: %s", p.Name, p.Detail)
		}
	}
}

// brokenBwrap stands in for a bubblewrap that cannot isolate anything.
func brokenBwrap(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "bwrap")
	if err := os.WriteFile(p, []byte("#!/bin/sh\necho broken >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	// The slot uids must be able to reach it.
	for dir := filepath.Dir(p); dir != "/"; dir = filepath.Dir(dir) {
		os.Chmod(dir, 0o755)
	}
	return p
}

func TestRunRefusesWhenPreflightFails(t *testing.T) {
	d := mustDriver(t, Options{Bwrap: brokenBwrap(t)})
	_, err := d.Run(t.Context(), echoJob("refused"))
	if !errs.Is(err, errs.Unavailable) {
		t.Fatalf("got %v, want an unavailable error", err)
	}
}

func TestInsecureRunsWarnEveryTime(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))
	d := mustDriver(t, Options{Bwrap: brokenBwrap(t), Insecure: true, Logger: logger})
	for range 2 {
		res, err := d.Run(t.Context(), echoJob("insecure"))
		if err != nil || res.Outcome != sandbox.SandboxError {
			t.Fatalf("got %v, %v; want a sandbox error result", res.Outcome, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if n := strings.Count(logs.String(), "level=WARN msg=\"INSECURE sandbox"); n != 2 {
		t.Errorf("got %d insecure warnings, want 2:\n%s", n, logs.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestTeardownLeavesNothing runs a job that leaves a daemon behind and
// checks the slot uid has no process and no run cgroup is left.
func TestTeardownLeavesNothing(t *testing.T) {
	d := mustDriver(t, Options{Slots: 2})
	job := echoJob("daemon")
	job.Command = []string{"sh", "-c", "setsid sleep 300 </dev/null >/dev/null 2>&1 & nohup sleep 300 >/dev/null 2>&1 & echo started"}
	res, err := d.Run(t.Context(), job)
	if err != nil || res.Outcome != sandbox.OK {
		t.Fatalf("got %v %v (%s), want ok", res.Outcome, err, res.Stderr)
	}
	if r := d.Residue(); len(r) != 0 {
		t.Errorf("residue after teardown: %v", r)
	}
}

func TestConcurrentRunsUseDistinctSlots(t *testing.T) {
	d := mustDriver(t, Options{Slots: 2})
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			res, err := d.Run(t.Context(), echoJob("par"+string(rune('a'+i))))
			if err != nil || res.Outcome != sandbox.OK || string(res.Stdout) != "hi\n" {
				t.Errorf("run %d: %v %v %q", i, res.Outcome, err, res.Stdout)
			}
		})
	}
	wg.Wait()
	if r := d.Residue(); len(r) != 0 {
		t.Errorf("residue after teardown: %v", r)
	}
}
