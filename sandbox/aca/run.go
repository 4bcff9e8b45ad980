package aca

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/appcontainers/armappcontainers/v3"

	"github.com/devmesh/devmesh/internal/errs"
	"github.com/devmesh/devmesh/internal/secret"
	"github.com/devmesh/devmesh/sandbox"
)

// stagingSlack keeps a staged workspace readable a little past the
// latest moment its init container could start.
const stagingSlack = 5 * time.Minute

// Run starts one execution of the job for j, waits for it to end and
// classifies the result. An execution still running at its wall limit
// is stopped; Run never returns while its execution is known to run,
// unless the stop request itself fails (logged as an error).
func (d *Driver) Run(ctx context.Context, j sandbox.Job) (sandbox.Result, error) {
	rt, err := d.admit(ctx, j)
	if err != nil {
		return sandbox.Result{}, err
	}
	url, remove, err := d.stage(ctx, j)
	if err != nil {
		return sandbox.Result{}, err
	}
	defer d.unstage(ctx, j.ID, remove)

	tmpl, err := d.template(j, rt, url)
	if err != nil {
		return sandbox.Result{}, err
	}
	begun := d.opts.Now()
	name, err := d.start(ctx, tmpl)
	if err != nil {
		return sandbox.Result{}, errs.Wrap(errs.Unavailable, err, "start sandbox execution")
	}
	log := d.log.With("run", j.ID, "execution", name)
	log.Debug("execution started")

	end, err := d.watch(ctx, log, name, j.Limits.WallTime)
	if err != nil {
		return sandbox.Result{}, err
	}
	res := d.classify(ctx, log, j, end)
	if res.Duration == 0 {
		res.Duration = d.opts.Now().Sub(begun)
	}
	log.Info("run finished", "outcome", res.Outcome, "exit_code", res.ExitCode)
	return res, nil
}

// admit validates j against the sandbox rules and this driver's own,
// and makes sure the job passed its preflight.
func (d *Driver) admit(ctx context.Context, j sandbox.Job) (sandbox.Runtime, error) {
	if err := j.Validate(); err != nil {
		return sandbox.Runtime{}, err
	}
	if j.Limits.WallTime > d.opts.MaxWallTime {
		return sandbox.Runtime{}, errs.E(errs.Invalid,
			"invalid wall time limit %v: this sandbox allows at most %v",
			j.Limits.WallTime, d.opts.MaxWallTime)
	}
	if _, _, err := resources(j.Limits.MemoryBytes); err != nil {
		return sandbox.Runtime{}, err
	}
	rt, err := sandbox.LookupRuntime(j.Runtime)
	if err != nil {
		return sandbox.Runtime{}, err
	}
	return rt, d.ensurePreflight(ctx)
}

func (d *Driver) stage(ctx context.Context, j sandbox.Job) (
	url secret.String, remove func(context.Context) error, err error) {
	archive := j.Workspace
	if archive == nil {
		archive = strings.NewReader("")
	}
	ttl := d.opts.StartTimeout + j.Limits.WallTime + stagingSlack
	u, remove, err := d.opts.Stager.Stage(ctx, j.ID, archive, ttl)
	if err != nil {
		return secret.String{}, nil, errs.Wrap(errs.Unavailable, err, "stage workspace")
	}
	return u, remove, nil
}

func (d *Driver) unstage(ctx context.Context, id string, remove func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.opts.StopTimeout)
	defer cancel()
	if err := remove(ctx); err != nil {
		d.log.Warn("remove staged workspace", "run", id, "err", err)
	}
}

// start asks Azure for a new execution with tmpl and returns its name.
func (d *Driver) start(ctx context.Context, tmpl *armappcontainers.JobExecutionTemplate) (string, error) {
	p, err := d.jobs.BeginStart(ctx, d.opts.ResourceGroup, d.opts.JobName,
		&armappcontainers.JobsClientBeginStartOptions{Template: tmpl})
	if err != nil {
		return "", err
	}
	res, err := await(ctx, p, d.opts.PollInterval)
	if err != nil {
		// TODO: stop the execution when the start request was accepted
		// but following its operation failed; today such an execution
		// runs unobserved until the job's replica timeout ends it.
		return "", err
	}
	if res.Name == nil || *res.Name == "" {
		return "", fmt.Errorf("start job %q: response names no execution", d.opts.JobName)
	}
	return *res.Name, nil
}

// await polls a long-running operation every interval until it ends.
// It exists because the SDK's PollUntilDone refuses intervals under a
// second outside tests, and tests must not depend on that exception.
func await[T any](ctx context.Context, p *runtime.Poller[T], every time.Duration) (T, error) {
	for !p.Done() {
		if _, err := p.Poll(ctx); err != nil {
			var zero T
			return zero, err
		}
		if p.Done() {
			break
		}
		if err := sleep(ctx, every); err != nil {
			var zero T
			return zero, err
		}
	}
	return p.Result(ctx)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
