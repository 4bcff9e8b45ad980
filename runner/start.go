package runner

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"

	"github.com/devmesh/devmesh/audit"
	"github.com/devmesh/devmesh/blob"
	"github.com/devmesh/devmesh/sandbox"
	"github.com/devmesh/devmesh/store"
)

// Deps are what a runner needs.
type Deps struct {
	DB     *store.DB
	Blobs  *blob.Store
	Audit  audit.Appender
	Driver sandbox.Driver
	Log    *slog.Logger
	// Concurrency bounds the runs this process works at once; default 2.
	Concurrency int
	// InsecureDriver lets the runner take jobs although the driver's
	// preflight failed. Set it only when the driver itself was built
	// insecure (local.Options.Insecure), for development.
	InsecureDriver bool
	// RescueAfter is how long a job may stay running before River
	// assumes its runner died and retries it; default DefaultRescueAfter.
	// It must exceed the longest task wall time plus a minute.
	RescueAfter time.Duration
	// SweepEvery is how often runs whose job was discarded are marked
	// failed; default one minute.
	SweepEvery time.Duration
}

// Runner is a started runner. Stop it to let running jobs finish.
type Runner struct {
	stop     func(ctx context.Context) error
	cancel   func(ctx context.Context) error
	sweeper  *sweeper
	stopOnce sync.Once
	done     chan struct{}
}

// Start preflights the driver, then starts taking run jobs from the
// queue in deps.DB until ctx ends or Stop is called. It refuses to start
// when a preflight probe fails, unless deps.InsecureDriver is set.
func Start(ctx context.Context, deps Deps) (*Runner, error) {
	if err := deps.check(); err != nil {
		return nil, err
	}
	if err := preflight(ctx, deps); err != nil {
		return nil, err
	}
	w := &Worker{runs: runs{deps.DB}, blobs: deps.Blobs, audit: deps.Audit,
		driver: deps.Driver, log: deps.Log}
	workers := river.NewWorkers()
	river.AddWorker(workers, w)
	cfg := &river.Config{
		Logger:               quiet(deps.Log),
		Queues:               map[string]river.QueueConfig{QueueRuns: {MaxWorkers: deps.Concurrency}},
		Workers:              workers,
		FetchOnlyKnownKinds:  true,
		FetchPollInterval:    pollInterval,
		JobTimeout:           deps.RescueAfter - jobGrace,
		RescueStuckJobsAfter: deps.RescueAfter,
	}
	r := &Runner{done: make(chan struct{}),
		sweeper: &sweeper{db: deps.DB, audit: deps.Audit, log: deps.Log, every: deps.SweepEvery}}
	if err := r.startClient(ctx, deps.DB, cfg); err != nil {
		return nil, err
	}
	go r.sweeper.loop(ctx, r.done)
	context.AfterFunc(ctx, func() { r.Stop(context.Background()) })
	deps.Log.InfoContext(ctx, "runner started", "concurrency", deps.Concurrency,
		"rescue_after", deps.RescueAfter)
	return r, nil
}

func (d *Deps) check() error {
	if d.DB == nil || d.Blobs == nil || d.Audit == nil || d.Driver == nil {
		return errors.New("runner: a database, blob storage, an audit appender and a sandbox driver are required")
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Concurrency <= 0 {
		d.Concurrency = 2
	}
	if d.RescueAfter <= 0 {
		d.RescueAfter = DefaultRescueAfter
	}
	if d.RescueAfter <= 2*jobGrace {
		return fmt.Errorf("runner: rescue time %v is too short: want more than %v", d.RescueAfter, 2*jobGrace)
	}
	if d.SweepEvery <= 0 {
		d.SweepEvery = time.Minute
	}
	return nil
}

// preflight runs the driver's isolation probes. A runner whose sandbox
// does not isolate must not execute candidate code.
func preflight(ctx context.Context, deps Deps) error {
	probes, err := deps.Driver.Preflight(ctx)
	if err == nil {
		return nil
	}
	for _, p := range probes {
		if !p.OK {
			deps.Log.ErrorContext(ctx, "sandbox probe failed", "probe", p.Name, "detail", p.Detail)
		}
	}
	if deps.InsecureDriver {
		deps.Log.WarnContext(ctx, "sandbox preflight failed; taking jobs anyway because the driver is insecure", "err", err)
		return nil
	}
	return fmt.Errorf("runner: sandbox preflight failed, refusing run jobs: %w", err)
}

func (r *Runner) startClient(ctx context.Context, db *store.DB, cfg *river.Config) error {
	if db.Dialect == store.Postgres {
		c, err := river.NewClient[pgx.Tx](riverpgxv5.New(db.Pool), cfg)
		if err != nil {
			return fmt.Errorf("runner: %w", err)
		}
		r.stop, r.cancel = c.Stop, c.StopAndCancel
		return c.Start(context.WithoutCancel(ctx))
	}
	c, err := river.NewClient[*sql.Tx](riversqlite.New(db.SQL), cfg)
	if err != nil {
		return fmt.Errorf("runner: %w", err)
	}
	r.stop, r.cancel = c.Stop, c.StopAndCancel
	return c.Start(context.WithoutCancel(ctx))
}

// Stop stops fetching jobs and waits for running ones until ctx ends;
// then it cancels them, and River retries each later (see MaxAttempts).
func (r *Runner) Stop(ctx context.Context) error {
	var err error
	r.stopOnce.Do(func() {
		close(r.done)
		if err = r.stop(ctx); err != nil && ctx.Err() != nil {
			err = r.cancel(context.Background())
		}
	})
	return err
}

// StopNow cancels running jobs at once and waits for them to record
// their interruption. River retries each later.
func (r *Runner) StopNow(ctx context.Context) error {
	var err error
	r.stopOnce.Do(func() {
		close(r.done)
		err = r.cancel(ctx)
	})
	return err
}
