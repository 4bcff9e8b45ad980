package local

import (
	"testing"

	"github.com/devmesh/devmesh/sandbox"
)

func TestSmoke(t *testing.T) {
	d := mustDriver(t, Options{})
	probes, err := d.Preflight(t.Context())
	for _, p := range probes {
		t.Logf("%v", p)
	}
	if err != nil {
		t.Fatal(err)
	}
	res, err := d.Run(t.Context(), sandbox.Job{ID: "smoke", Runtime: "python", Limits: sandbox.DefaultLimits(),
		Command: []string{"sh", "-c", "echo hi; id; ls -la /; ls -la /workspace /tmp; cat /proc/self/status | grep -i seccomp"}})
	t.Logf("%+v %s %s", res, res.Stdout, res.Stderr)
}
