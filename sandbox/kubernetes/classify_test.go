package kubernetes

import (
	"errors"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/devmesh/devmesh/sandbox"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func terminated(code int32, reason string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Status: corev1.PodStatus{
			Phase: corev1.PodFailed,
			ContainerStatuses: []corev1.ContainerStatus{{Name: runContainer,
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: code, Reason: reason,
					StartedAt:  metav1.NewTime(t0),
					FinishedAt: metav1.NewTime(t0.Add(1500 * time.Millisecond)),
				}}}},
		},
	}
}

func failedJob(reason string) *batchv1.Job {
	return &batchv1.Job{Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{{
		Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: reason, Message: "m"}}}}
}

func TestDecide(t *testing.T) {
	running := terminated(0, "")
	running.Status.ContainerStatuses[0].State = corev1.ContainerState{
		Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(t0)}}
	unpackFailed := &corev1.Pod{Status: corev1.PodStatus{
		InitContainerStatuses: []corev1.ContainerStatus{{Name: unpackContainer,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 2}}}}}}
	pulling := &corev1.Pod{Status: corev1.PodStatus{
		ContainerStatuses: []corev1.ContainerStatus{{Name: runContainer,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff"}}}}}}
	diskEvicted := &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodFailed, Reason: "Evicted",
		Message: `Usage of EmptyDir volume "workspace" exceeds the limit "128Mi".`}}
	oomExit := terminated(137, "OOMKilled")
	ok := terminated(0, "Completed")

	tests := []struct {
		name   string
		e      ending
		want   sandbox.Outcome
		kind   sandbox.TimeKind
		code   int
		detail string
	}{
		{"exit zero is ok", ending{pod: ok, job: &batchv1.Job{}}, sandbox.OK, "", 0, ""},
		{"non-zero exit is reported", ending{pod: terminated(3, "Error"), job: failedJob("BackoffLimitExceeded")}, sandbox.ExitCode, "", 3, "exit status 3"},
		{"oom killed is the memory limit", ending{pod: oomExit, job: failedJob("BackoffLimitExceeded")}, sandbox.MemoryLimit, "", 137, ""},
		{"SIGXCPU is the cpu limit", ending{pod: terminated(exitCPU, "Error")}, sandbox.TimeLimit, sandbox.CPUClock, 152, ""},
		{"job deadline after start is the wall limit", ending{pod: running, job: failedJob(batchv1.JobReasonDeadlineExceeded)}, sandbox.TimeLimit, sandbox.WallClock, -1, ""},
		{"job deadline before start is a sandbox error", ending{pod: pulling, job: failedJob(batchv1.JobReasonDeadlineExceeded)}, sandbox.SandboxError, "", -1, "ImagePullBackOff"},
		{"driver wall stop is the wall limit", ending{pod: running, stop: stopWall, wall: time.Second}, sandbox.TimeLimit, sandbox.WallClock, -1, ""},
		{"emptyDir eviction is disk full", ending{pod: diskEvicted}, sandbox.DiskFull, "", -1, "EmptyDir"},
		{"failed unpack is a sandbox error", ending{pod: unpackFailed, job: failedJob("BackoffLimitExceeded")}, sandbox.SandboxError, "", -1, "unpack workspace"},
		{"no pod is a sandbox error", ending{job: failedJob("DeadlineExceeded")}, sandbox.SandboxError, "", -1, "no pod"},
		{"cancel wins over an exit", ending{pod: ok, stop: stopCanceled, err: errors.New("context canceled")}, sandbox.SandboxError, "", 0, "canceled"},
		{"lost job is a sandbox error", ending{stop: stopLost}, sandbox.SandboxError, "", -1, "lost"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := decide(tt.e)
			if got.Outcome != tt.want || got.TimeKind != tt.kind || got.ExitCode != tt.code {
				t.Errorf("got %s/%q exit %d, want %s/%q exit %d (detail %q)",
					got.Outcome, got.TimeKind, got.ExitCode, tt.want, tt.kind, tt.code, got.Detail)
			}
			if !strings.Contains(got.Detail, tt.detail) {
				t.Errorf("detail %q, want it to mention %q", got.Detail, tt.detail)
			}
		})
	}
}

func TestDecideDurationFromContainer(t *testing.T) {
	got := decide(ending{pod: terminated(0, "Completed")})
	if got.Duration != 1500*time.Millisecond {
		t.Errorf("duration %v, want 1.5s", got.Duration)
	}
}

func TestRanOutOfWall(t *testing.T) {
	pod := terminated(0, "")
	pod.Status.ContainerStatuses[0].State = corev1.ContainerState{
		Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(t0)}}
	tests := []struct {
		name string
		pod  *corev1.Pod
		now  time.Time
		want bool
	}{
		{"no pod yet", nil, t0.Add(time.Hour), false},
		{"running within the limit", pod, t0.Add(time.Second), false},
		{"running past the limit", pod, t0.Add(3 * time.Second), true},
		{"terminated is left to the job", terminated(0, ""), t0.Add(time.Hour), false},
	}
	for _, tt := range tests {
		if got := ranOutOfWall(tt.pod, 2*time.Second, tt.now); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}
