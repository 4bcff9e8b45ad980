package local

import (
	"strconv"
	"strings"
	"testing"

	"github.com/devmesh/devmesh/sandbox"
)

// TestCommandRunsUnderRlimits reads the command's own /proc/self/limits:
// every backstop must be set, soft and hard, and the command must not be
// able to raise a hard limit.
func TestCommandRunsUnderRlimits(t *testing.T) {
	d := mustDriver(t, Options{})
	if _, err := d.Preflight(t.Context()); err != nil {
		t.Fatal(err)
	}
	job := sandbox.Job{ID: "rlimits", Runtime: "python", Limits: sandbox.DefaultLimits(),
		Command: []string{"sh", "-c", "cat /proc/self/limits; ulimit -H -n 1048576 && echo RAISED"}}
	res, err := d.Run(t.Context(), job)
	if err != nil {
		t.Fatal(err)
	}
	out := string(res.Stdout)
	if strings.Contains(out, "RAISED") {
		t.Errorf("command raised its hard open-files limit:\n%s", out)
	}
	for _, want := range rlimits(job.Limits) {
		row := limitRow(out, want.Resource)
		v := strconv.FormatUint(want.Value, 10)
		if len(row) < 2 || row[0] != v || row[1] != v {
			t.Errorf("rlimit %d: got %q, want soft and hard %s\n%s", want.Resource, row, v, out)
		}
	}
}

// limitRow returns the soft and hard columns of /proc/self/limits for
// an RLIMIT_* resource.
func limitRow(limits string, resource int) []string {
	names := map[int]string{0: "Max cpu time", 4: "Max core file size",
		6: "Max processes", 7: "Max open files"}
	for _, line := range strings.Split(limits, "\n") {
		if name, ok := names[resource]; ok && strings.HasPrefix(line, name) {
			return strings.Fields(strings.TrimPrefix(line, name))
		}
	}
	return nil
}
