package kubernetes

import (
	"bytes"
	"testing"
	"time"

	"github.com/devmesh/devmesh/sandbox"
)

// BenchmarkBuildJob measures building the Secret and Job of one run.
func BenchmarkBuildJob(b *testing.B) {
	d := mustDriver(b, Options{})
	rt, _ := sandbox.LookupRuntime("python")
	r := &run{name: newRunName(), rt: rt, workspace: make([]byte, 64<<10),
		job: sandbox.Job{ID: "bench", Runtime: "python", Command: []string{"python3", "main.py"},
			Limits: sandbox.DefaultLimits()}}
	b.ReportAllocs()
	for b.Loop() {
		_ = d.secret(r)
		_ = d.batchJob(r)
	}
}

// BenchmarkClusterRun measures one whole run through the real API
// server, scheduler and job controller, with kwok simulating the pod:
// the driver's overhead per run, without image pull or execution.
func BenchmarkClusterRun(b *testing.B) {
	_, ns, runner := sandboxCluster(b, "")
	d := mustDriver(b, Options{Client: runner, Namespace: ns,
		PollInterval: 20 * time.Millisecond, StartGrace: 30 * time.Second})
	ws := mustTarball(b)
	for b.Loop() {
		res, err := d.Run(b.Context(), sandbox.Job{ID: "bench", Runtime: "python",
			Command: []string{"python3", "main.py"}, Workspace: bytes.NewReader(ws),
			Limits: sandbox.DefaultLimits()})
		if err != nil || res.Outcome != sandbox.OK {
			b.Fatalf("run: %+v, %v", res, err)
		}
	}
}
