package kubernetes

import (
	"fmt"
	"strings"
	"syscall"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/devmesh/devmesh/sandbox"
)

// exitCPU is the status of a command killed by SIGXCPU: the wrapper's
// CPU-seconds rlimit ran out.
const exitCPU = 128 + int32(syscall.SIGXCPU)

// decide classifies an ending from the pod's status, the Job's
// conditions and the driver's own stop reason. What the driver or the
// kubelet measured (its stop, an eviction, the OOM killer) comes before
// the command's exit code, which a killed process cannot choose.
func decide(e ending) sandbox.Result {
	res := sandbox.Result{ExitCode: -1}
	set := func(o sandbox.Outcome, format string, args ...any) sandbox.Result {
		res.Outcome, res.Detail = o, fmt.Sprintf(format, args...)
		return res
	}
	run := runTermination(e.pod)
	if run != nil {
		res.ExitCode = int(run.ExitCode)
		res.Duration = run.FinishedAt.Sub(run.StartedAt.Time)
	}
	started := e.started()
	switch {
	case e.stop == stopCanceled:
		return set(sandbox.SandboxError, "run canceled: %v", e.err)
	case e.stop == stopOutput:
		return set(sandbox.OutputTruncated, "output limit reached")
	case e.stop == stopWall:
		res.TimeKind, res.Duration = sandbox.WallClock, e.wall
		return set(sandbox.TimeLimit, "wall-clock limit reached")
	case e.stop == stopLost:
		return set(sandbox.SandboxError, "job lost before it finished%s", apiDetail(e))
	case e.pod == nil:
		return set(sandbox.SandboxError, "no pod was created%s", jobDetail(e.job))
	case evicted(e.pod):
		return classifyEviction(res, e.pod)
	case run != nil && run.Reason == "OOMKilled":
		return set(sandbox.MemoryLimit, "killed at the memory limit")
	case run != nil && run.ExitCode == exitCPU:
		res.TimeKind = sandbox.CPUClock
		return set(sandbox.TimeLimit, "cpu time limit reached")
	case deadlineExceeded(e.job) && started:
		res.TimeKind = sandbox.WallClock
		return set(sandbox.TimeLimit, "job deadline reached")
	case run == nil:
		return set(sandbox.SandboxError, "command did not run%s%s",
			initDetail(e.pod), jobDetail(e.job))
	case run.ExitCode != 0:
		return set(sandbox.ExitCode, "exit status %d", run.ExitCode)
	}
	return set(sandbox.OK, "")
}

// runTermination is the run container's final state, nil until it ends.
func runTermination(pod *corev1.Pod) *corev1.ContainerStateTerminated {
	if pod == nil {
		return nil
	}
	c := containerStatus(pod.Status.ContainerStatuses, runContainer)
	if c == nil {
		return nil
	}
	return c.State.Terminated
}

// evicted reports a pod the kubelet evicted, which it does when a
// scratch volume grows past its sizeLimit or the node runs short.
func evicted(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodFailed && pod.Status.Reason == "Evicted"
}

func classifyEviction(res sandbox.Result, pod *corev1.Pod) sandbox.Result {
	msg := pod.Status.Message
	res.Detail = "evicted: " + msg
	res.Outcome = sandbox.SandboxError
	lower := strings.ToLower(msg)
	if strings.Contains(lower, "emptydir") || strings.Contains(lower, "ephemeral") {
		res.Outcome = sandbox.DiskFull
	}
	return res
}

func deadlineExceeded(j *batchv1.Job) bool {
	if j == nil {
		return false
	}
	c := jobCondition(j, batchv1.JobFailed)
	return c != nil && c.Reason == batchv1.JobReasonDeadlineExceeded
}

// initDetail explains a failed workspace unpack or a pod stuck waiting,
// such as on an image pull.
func initDetail(pod *corev1.Pod) string {
	if c := containerStatus(pod.Status.InitContainerStatuses, unpackContainer); c != nil {
		if t := c.State.Terminated; t != nil && t.ExitCode != 0 {
			return fmt.Sprintf(": unpack workspace: exit status %d %s", t.ExitCode, t.Message)
		}
	}
	for _, c := range append(pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses...) {
		if w := c.State.Waiting; w != nil {
			return fmt.Sprintf(": container %s waiting: %s %s", c.Name, w.Reason, w.Message)
		}
	}
	return ""
}

func jobDetail(j *batchv1.Job) string {
	if j == nil {
		return ""
	}
	if c := jobCondition(j, batchv1.JobFailed); c != nil {
		return fmt.Sprintf(": job failed: %s: %s", c.Reason, c.Message)
	}
	return ""
}

func apiDetail(e ending) string {
	if e.err != nil {
		return ": " + e.err.Error()
	}
	return ""
}

// hitLimit reports outcomes that already name the limit a run hit.
func hitLimit(o sandbox.Outcome) bool {
	switch o {
	case sandbox.TimeLimit, sandbox.MemoryLimit, sandbox.ProcessLimit,
		sandbox.DiskFull, sandbox.OutputTruncated:
		return true
	}
	return false
}
