package local

import (
	"strings"
	"testing"

	"github.com/devmesh/devmesh/sandbox"
)

func TestRuntimesRunTheirToolchains(t *testing.T) {
	d := mustDriver(t, Options{})
	tests := []struct {
		runtime string
		argv    []string
		want    string
	}{
		{"python", []string{"python3", "-c", "print(6*7)"}, "42"},
		{"node", []string{"node", "-e", "console.log(6*7)"}, "42"},
		{"go", []string{"go", "version"}, "go version go1."},
	}
	for _, tt := range tests {
		t.Run(tt.runtime, func(t *testing.T) {
			res, err := d.Run(t.Context(), sandbox.Job{ID: "rt-" + tt.runtime, Runtime: tt.runtime,
				Limits: sandbox.DefaultLimits(), Command: tt.argv})
			if err != nil || res.Outcome != sandbox.OK || !strings.Contains(string(res.Stdout), tt.want) {
				t.Errorf("got %v %v stdout %q stderr %q, want ok and %q", res.Outcome, err, res.Stdout, res.Stderr, tt.want)
			}
		})
	}
}
