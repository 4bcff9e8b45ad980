package local

import (
	"testing"
	"time"

	"github.com/devmesh/devmesh/sandbox"
)

func TestDecideClassifiesEndings(t *testing.T) {
	exited := func(code int) *initStatus { return &initStatus{Started: true, ExitCode: code} }
	tests := []struct {
		name     string
		e        ending
		want     sandbox.Outcome
		wantKind sandbox.TimeKind
		wantCode int
	}{
		{name: "clean exit is ok", e: ending{status: exited(0)}, want: sandbox.OK},
		{name: "non-zero exit is exit code", e: ending{status: exited(2)}, want: sandbox.ExitCode, wantCode: 2},
		{name: "oom kill is memory limit even if the init says exit 0",
			e: ending{status: exited(0), stats: cgroupStats{oomKills: 1}}, want: sandbox.MemoryLimit},
		{name: "refused forks are process limit",
			e: ending{status: exited(0), stats: cgroupStats{pidsMax: 3}}, want: sandbox.ProcessLimit},
		{name: "wall stop is wall time limit", e: ending{stop: stopWall, hostExit: 137},
			want: sandbox.TimeLimit, wantKind: sandbox.WallClock, wantCode: 137},
		{name: "cpu stop is cpu time limit", e: ending{stop: stopCPU, hostExit: 137},
			want: sandbox.TimeLimit, wantKind: sandbox.CPUClock, wantCode: 137},
		{name: "cpu counter over the limit is cpu time limit (rlimit backstop)",
			e:    ending{status: &initStatus{Started: true, Signal: 9}, stats: cgroupStats{cpu: 3 * time.Second}, cpuLimit: time.Second},
			want: sandbox.TimeLimit, wantKind: sandbox.CPUClock, wantCode: 137},
		{name: "output stop is output truncated", e: ending{stop: stopOutput, truncated: true},
			want: sandbox.OutputTruncated},
		{name: "full disk is disk full", e: ending{status: &initStatus{Started: true, ExitCode: 1, DiskFull: true}},
			want: sandbox.DiskFull, wantCode: 1},
		{name: "missing init report is sandbox error", e: ending{hostExit: 1}, want: sandbox.SandboxError, wantCode: -1},
		{name: "command not found is exit code 127",
			e: ending{status: &initStatus{ExitCode: 127, Error: "not found"}}, want: sandbox.ExitCode, wantCode: 127},
		{name: "unpack failure is sandbox error",
			e: ending{status: &initStatus{ExitCode: 125, Error: "unpack"}}, want: sandbox.SandboxError, wantCode: 125},
		{name: "cancellation is sandbox error", e: ending{stop: stopCanceled}, want: sandbox.SandboxError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := decide(tt.e)
			if got.Outcome != tt.want || got.TimeKind != tt.wantKind || got.ExitCode != tt.wantCode {
				t.Errorf("got %s/%q/%d, want %s/%q/%d", got.Outcome, got.TimeKind, got.ExitCode,
					tt.want, tt.wantKind, tt.wantCode)
			}
		})
	}
}
