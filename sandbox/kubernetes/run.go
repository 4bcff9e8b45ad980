package kubernetes

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/devmesh/devmesh/internal/errs"
	"github.com/devmesh/devmesh/sandbox"
)

// cleanupTimeout bounds the deletion of a run's objects after the run,
// which happens even when the caller's context is done.
const cleanupTimeout = 30 * time.Second

// deadlineSlack is how long past the Job's own deadline the driver waits
// for the job controller before it stops the run itself.
const deadlineSlack = 15 * time.Second

// Run submits job as a Kubernetes Job, follows its output while it runs,
// waits for it to end and deletes the Job, its pod and its Secret. The
// job's sink is never called after Run returns.
func (d *Driver) Run(ctx context.Context, job sandbox.Job) (sandbox.Result, error) {
	if err := job.Validate(); err != nil {
		return sandbox.Result{}, err
	}
	rt, err := sandbox.LookupRuntime(job.Runtime)
	if err != nil {
		return sandbox.Result{}, err
	}
	if err := d.ensurePreflight(ctx); err != nil {
		return sandbox.Result{}, err
	}
	ws, err := readWorkspace(job.Workspace)
	if err != nil {
		return sandbox.Result{}, err
	}
	r := &run{name: newRunName(), job: job, rt: rt, workspace: ws}

	defer d.cleanup(r)
	if err := d.submit(ctx, r); err != nil {
		return sandbox.Result{}, errs.Wrap(errs.Unavailable, err, "start sandbox run")
	}
	d.log.Debug("sandbox run submitted", "run", r.name, "job", job.ID)

	out := d.newOutput(r)
	e := d.wait(ctx, r, out)
	res := decide(e)
	out.finish(ctx, e, &res)
	d.log.Info("sandbox run finished", "run", r.name, "job", job.ID,
		"outcome", res.Outcome, "exit_code", res.ExitCode)
	return res, nil
}

// readWorkspace reads the compressed workspace whole: it goes into a
// Secret, whose size the API server bounds.
func readWorkspace(r io.Reader) ([]byte, error) {
	if r == nil {
		return nil, nil
	}
	b, err := io.ReadAll(io.LimitReader(r, MaxWorkspaceBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read workspace: %w", err)
	}
	if len(b) > MaxWorkspaceBytes {
		return nil, errs.E(errs.TooLarge,
			"workspace too large: over %d bytes compressed", MaxWorkspaceBytes)
	}
	return b, nil
}

// newRunName returns a fresh DNS label; job ids may hold characters
// Kubernetes names refuse, so the id travels in an annotation instead.
func newRunName() string {
	var b [8]byte
	rand.Read(b[:])
	return "devmesh-run-" + hex.EncodeToString(b[:])
}

// submit creates the Secret (if any), then the Job, then makes the Job
// the Secret's owner so the garbage collector removes the Secret with
// the Job should the driver die before its own cleanup.
func (d *Driver) submit(ctx context.Context, r *run) error {
	ns := d.opts.Namespace
	if r.workspace != nil {
		_, err := d.opts.Client.CoreV1().Secrets(ns).Create(ctx, d.secret(r), metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("create workspace secret %q: %w", r.name, err)
		}
	}
	job, err := d.opts.Client.BatchV1().Jobs(ns).Create(ctx, d.batchJob(r), metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create job %q: %w", r.name, err)
	}
	if r.workspace == nil {
		return nil
	}
	return d.adoptSecret(ctx, r, job)
}

func (d *Driver) adoptSecret(ctx context.Context, r *run, job *batchv1.Job) error {
	owner := metav1.OwnerReference{
		APIVersion: "batch/v1", Kind: "Job", Name: job.Name, UID: job.UID,
		BlockOwnerDeletion: ptr(false),
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"ownerReferences": []metav1.OwnerReference{owner},
	}})
	if err != nil {
		return err
	}
	_, err = d.opts.Client.CoreV1().Secrets(d.opts.Namespace).Patch(ctx,
		r.name, types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		return fmt.Errorf("set owner of workspace secret %q: %w", r.name, err)
	}
	return nil
}

// cleanup deletes the run's objects. Background propagation lets the
// garbage collector remove the pod; the Secret is deleted directly so
// it does not outlive the run even where the collector lags.
func (d *Driver) cleanup(r *run) {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	ns := d.opts.Namespace
	policy := metav1.DeletePropagationBackground
	err := d.opts.Client.BatchV1().Jobs(ns).Delete(ctx, r.name,
		metav1.DeleteOptions{PropagationPolicy: &policy})
	if err != nil && !apierrors.IsNotFound(err) {
		d.log.Warn("delete sandbox job", "run", r.name, "err", err)
	}
	if r.workspace == nil {
		return
	}
	err = d.opts.Client.CoreV1().Secrets(ns).Delete(ctx, r.name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		d.log.Warn("delete sandbox workspace secret", "run", r.name, "err", err)
	}
}
