package aca

import (
	"context"
	"log/slog"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/appcontainers/armappcontainers/v3"

	"github.com/devmesh/devmesh/internal/errs"
)

// Why the driver stopped an execution.
const (
	stopWall  = "wall"  // running longer than the job's wall limit
	stopStart = "start" // not running within StartTimeout
	stopStuck = "stuck" // no terminal state long after every deadline
)

// ending is what the driver learnt about how an execution ended.
type ending struct {
	name    string
	status  armappcontainers.JobExecutionRunningState
	stopped string // stop reason when the driver stopped it, else ""
	stopErr error  // the stop request failed: it may still be running
	start   *time.Time
	end     *time.Time
}

// terminal reports whether Azure will not change the status again.
func terminal(s armappcontainers.JobExecutionRunningState) bool {
	switch s {
	case armappcontainers.JobExecutionRunningStateSucceeded,
		armappcontainers.JobExecutionRunningStateFailed,
		armappcontainers.JobExecutionRunningStateStopped:
		return true
	}
	return false
}

// watch polls the execution until it ends, stopping it when it
// overruns. The wall clock starts when Azure first reports it running,
// so image pulls and scheduling do not count against the candidate.
// If ctx ends first the execution is stopped and ctx's error returned.
func (d *Driver) watch(ctx context.Context, log *slog.Logger, name string, wall time.Duration) (ending, error) {
	begun := d.opts.Now()
	// giveUp bounds the whole wait, so that a status stuck in Unknown or
	// Degraded cannot hold a runner slot forever.
	giveUp := begun.Add(d.opts.StartTimeout + wall + d.opts.StopTimeout)
	var running time.Time
	for {
		ex, err := d.execution(ctx, name)
		if err != nil {
			d.stop(ctx, log, name)
			if ctx.Err() != nil {
				return ending{}, ctx.Err()
			}
			return ending{}, errs.Wrap(errs.Unavailable, err, "read sandbox execution")
		}
		if terminal(ex.status) {
			return ex, nil
		}
		now := d.opts.Now()
		if running.IsZero() && ex.status == armappcontainers.JobExecutionRunningStateRunning {
			running = now
		}
		if reason := overdue(now, begun, running, giveUp, wall, d.opts.StartTimeout); reason != "" {
			log.Debug("stopping overdue execution", "reason", reason, "status", ex.status)
			return d.stopped(ctx, log, ex, reason), nil
		}
		if err := sleep(ctx, d.opts.PollInterval); err != nil {
			d.stop(ctx, log, name)
			return ending{}, err
		}
	}
}

// overdue says why an execution should be stopped now, or "".
func overdue(now, begun, running, giveUp time.Time, wall, startTimeout time.Duration) string {
	switch {
	case !running.IsZero() && now.Sub(running) >= wall:
		return stopWall
	case running.IsZero() && now.Sub(begun) >= startTimeout:
		return stopStart
	case now.After(giveUp):
		return stopStuck
	}
	return ""
}

// execution reads the current state of the named execution.
func (d *Driver) execution(ctx context.Context, name string) (ending, error) {
	r, err := d.api.JobExecution(ctx, d.opts.ResourceGroup, d.opts.JobName, name, nil)
	if err != nil {
		return ending{}, err
	}
	e := ending{name: name, status: armappcontainers.JobExecutionRunningStateUnknown}
	if p := r.Properties; p != nil {
		if p.Status != nil {
			e.status = *p.Status
		}
		e.start, e.end = p.StartTime, p.EndTime
	}
	return e, nil
}

// stopped stops an overdue execution and reads its final state once.
func (d *Driver) stopped(ctx context.Context, log *slog.Logger, ex ending, reason string) ending {
	ex.stopped = reason
	ex.stopErr = d.stop(ctx, log, ex.name)
	if ex.stopErr != nil {
		return ex
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.opts.StopTimeout)
	defer cancel()
	if last, err := d.execution(rctx, ex.name); err == nil {
		last.stopped = reason
		return last
	}
	return ex
}

// stop terminates an execution. It outlives ctx, bounded by
// StopTimeout: a cancelled run must still not leave code running.
func (d *Driver) stop(ctx context.Context, log *slog.Logger, name string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.opts.StopTimeout)
	defer cancel()
	p, err := d.jobs.BeginStopExecution(ctx, d.opts.ResourceGroup, d.opts.JobName, name, nil)
	if err == nil {
		_, err = await(ctx, p, d.opts.PollInterval)
	}
	if err != nil {
		log.Error("stop execution failed; it may run until the job's replica timeout",
			"err", err)
		return err
	}
	return nil
}
