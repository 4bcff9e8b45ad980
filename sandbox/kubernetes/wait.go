package kubernetes

import (
	"context"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Reasons the driver stopped a run itself.
const (
	stopWall     = "wall"
	stopCanceled = "canceled"
	stopLost     = "lost"
	stopOutput   = "output"
)

// ending is everything the driver saw of a finished run.
type ending struct {
	job  *batchv1.Job // last state read, nil if never read
	pod  *corev1.Pod  // the run's pod, nil if none was created
	stop string       // why the driver stopped the run, "" if it ended
	err  error        // the last API error, for details
	gone bool         // the Job was deleted by someone else
	// wall is the run container's wall-clock limit.
	wall time.Duration
}

// started reports whether the run container got to run, so that it has
// a log to read.
func (e ending) started() bool {
	if e.pod == nil {
		return false
	}
	c := containerStatus(e.pod.Status.ContainerStatuses, runContainer)
	return c != nil && (c.State.Running != nil || c.State.Terminated != nil)
}

// wait polls the Job and its pod until the Job finishes, the command's
// wall clock runs out, its output overflows, the caller gives up, or the
// Job outlives its own deadline. It starts following the output as soon
// as the command has started. Polling, unlike a watch, survives API server restarts and
// dropped connections without extra code; at the default interval it
// costs two reads a second per run.
func (d *Driver) wait(ctx context.Context, r *run, out *output) ending {
	e := ending{wall: r.job.Limits.WallTime}
	giveUp := d.opts.Now().Add(r.job.Limits.WallTime + d.opts.StartGrace + deadlineSlack)
	tick := time.NewTicker(d.opts.PollInterval)
	defer tick.Stop()
	for {
		d.observe(ctx, r, &e)
		if out.cancel == nil && e.started() {
			out.follow(ctx, e.pod.Name)
		}
		switch {
		case e.job != nil && jobFinished(e.job):
			return e
		case e.gone:
			e.stop = stopLost
			return e
		case ranOutOfWall(e.pod, e.wall, d.opts.Now()):
			e.stop = stopWall
			return e
		case d.opts.Now().After(giveUp):
			e.stop = stopLost
			return e
		}
		select {
		case <-ctx.Done():
			e.stop, e.err = stopCanceled, ctx.Err()
			return e
		case <-out.full:
			e.stop = stopOutput
			return e
		case <-tick.C:
		}
	}
}

// observe reads the Job and its pod into e. A failed read keeps the
// previous state: the next poll retries.
func (d *Driver) observe(ctx context.Context, r *run, e *ending) {
	ns := d.opts.Namespace
	job, err := d.opts.Client.BatchV1().Jobs(ns).Get(ctx, r.name, metav1.GetOptions{})
	if err != nil {
		e.err = fmt.Errorf("read job %q: %w", r.name, err)
		e.gone = apierrors.IsNotFound(err)
		return
	}
	e.job = job
	pods, err := d.opts.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{
		LabelSelector: LabelRun + "=" + r.name,
	})
	if err != nil {
		e.err = fmt.Errorf("list pods of job %q: %w", r.name, err)
		return
	}
	if len(pods.Items) > 0 {
		e.pod = &pods.Items[0]
	}
}

func jobFinished(j *batchv1.Job) bool {
	return jobCondition(j, batchv1.JobComplete) != nil ||
		jobCondition(j, batchv1.JobFailed) != nil
}

func jobCondition(j *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i, c := range j.Status.Conditions {
		if c.Type == t && c.Status == corev1.ConditionTrue {
			return &j.Status.Conditions[i]
		}
	}
	return nil
}

// ranOutOfWall reports whether the run container has been running for
// longer than wall. The Job's activeDeadlineSeconds also counts
// scheduling and image pulls; this clock starts with the command.
func ranOutOfWall(pod *corev1.Pod, wall time.Duration, now time.Time) bool {
	if pod == nil {
		return false
	}
	c := containerStatus(pod.Status.ContainerStatuses, runContainer)
	if c == nil || c.State.Running == nil {
		return false
	}
	return now.Sub(c.State.Running.StartedAt.Time) > wall
}

func containerStatus(list []corev1.ContainerStatus, name string) *corev1.ContainerStatus {
	for i := range list {
		if list[i].Name == name {
			return &list[i]
		}
	}
	return nil
}
