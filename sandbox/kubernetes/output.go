package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/devmesh/devmesh/sandbox"
)

// logDrain is how long the driver waits, after the Job has finished, for
// the log stream to end by itself. A kubelet ends it as soon as the
// container has exited and its last line is sent; waiting longer would
// only delay a run whose log endpoint never closes.
const logDrain = 2 * time.Second

// output collects the run container's log, which Kubernetes keeps as one
// stream with stdout and stderr interleaved: all of it is reported as
// stdout. It follows the log while the run progresses, so the job's sink
// sees output live and the output limit stops the run early.
type output struct {
	d       *Driver
	r       *run
	capture *sandbox.Capture
	full    chan struct{} // closed when the output limit is exceeded

	cancel context.CancelFunc // stops the follower; nil until it starts
	done   chan struct{}      // closed when the follower has returned
	read   int64              // bytes read by the follower, valid after done
	err    error              // the follower's error, valid after done
}

func (d *Driver) newOutput(r *run) *output {
	o := &output{d: d, r: r, full: make(chan struct{})}
	o.capture = sandbox.NewCapture(r.job.Limits.OutputBytes, r.job.Output,
		func() { close(o.full) })
	return o
}

func (o *output) request(follow bool) *corev1.PodLogOptions {
	return &corev1.PodLogOptions{Container: runContainer, Follow: follow,
		LimitBytes: ptr(o.r.job.Limits.OutputBytes + 1)}
}

// follow starts streaming the log of pod. It is called at most once.
func (o *output) follow(ctx context.Context, pod string) {
	ctx, o.cancel = context.WithCancel(ctx)
	o.done = make(chan struct{})
	go func() {
		defer close(o.done)
		o.read, o.err = o.copy(ctx, pod, true)
	}()
}

// copy reads one log request into the capture and returns how many bytes
// it read and why it stopped; io.EOF is not an error.
func (o *output) copy(ctx context.Context, pod string, follow bool) (int64, error) {
	pods := o.d.opts.Client.CoreV1().Pods(o.d.opts.Namespace)
	stream, err := pods.GetLogs(pod, o.request(follow)).Stream(ctx)
	if err != nil {
		return 0, err
	}
	defer stream.Close()
	var n int64
	buf := make([]byte, 32*1024)
	for {
		k, err := stream.Read(buf)
		if k > 0 {
			n += int64(k)
			o.capture.Add(sandbox.Stdout, buf[:k])
		}
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// finish ends collection after the run and records the output in res.
// A follower still streaming gets logDrain to end by itself when the run
// ended on its own, and is stopped at once when the driver stopped the
// run. If following failed before reading anything, the log is read once
// more without following.
func (o *output) finish(ctx context.Context, e ending, res *sandbox.Result) {
	if o.cancel == nil && e.started() {
		o.follow(ctx, e.pod.Name)
	}
	if o.cancel == nil {
		return
	}
	stopped := false
	if e.stop == "" {
		select {
		case <-o.done:
		case <-time.After(logDrain):
			stopped = true
		}
	} else {
		stopped = true
	}
	o.cancel()
	<-o.done
	err := o.err
	if stopped && errors.Is(err, context.Canceled) {
		err = nil
	}
	if err != nil && o.read == 0 && ctx.Err() == nil {
		ctx, cancel := context.WithTimeout(ctx, cleanupTimeout)
		_, err = o.copy(ctx, e.pod.Name, false)
		cancel()
	}
	o.record(e, err, res)
}

func (o *output) record(e ending, err error, res *sandbox.Result) {
	stdout, _, truncated := o.capture.Result()
	res.Stdout = stdout
	switch {
	case err != nil && !hitLimit(res.Outcome):
		// Without its output a run cannot be judged: never report it as
		// a clean result.
		res.Outcome, res.TimeKind = sandbox.SandboxError, ""
		res.Detail = fmt.Sprintf("collect output of pod %q: %v", e.pod.Name, err)
	case truncated && !hitLimit(res.Outcome):
		res.Outcome, res.Detail = sandbox.OutputTruncated, "output limit reached"
	}
}
