package runner

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/devmesh/devmesh/sandbox"
	"github.com/devmesh/devmesh/store"
)

// QueueRuns is the River queue of run jobs.
const QueueRuns = "runs"

// MaxAttempts is how often a run job is tried. A job is retried only
// when its attempt was interrupted (a runner stopped or crashed, blob
// storage or the log failed); a command's own failure is an outcome, not
// an error, and is never retried. Three attempts ride out a rolling
// restart without retrying a broken job for long.
const MaxAttempts = 3

// RunArgs is the payload of a run job. It names the stored tarball by
// digest; the runner never rebuilds anything. Its JSON is stored in the
// queue: add fields, never rename one.
type RunArgs struct {
	RunID        string         `json:"run_id"`
	SubmissionID string         `json:"submission_id"`
	Digest       string         `json:"digest"`
	Runtime      string         `json:"runtime"`
	Command      []string       `json:"command"`
	Limits       sandbox.Limits `json:"limits"`
}

// Kind is the River job kind of run jobs. Stored: never change.
func (RunArgs) Kind() string { return "devmesh.run" }

// InsertOpts puts run jobs on QueueRuns with MaxAttempts.
func (RunArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueRuns, MaxAttempts: MaxAttempts}
}

// Migrate applies River's own migrations to db. The app calls it after
// the store's migrations, before any API or runner starts; it is safe to
// call again and from several processes at once on PostgreSQL.
func Migrate(ctx context.Context, db *store.DB, log *slog.Logger) error {
	var err error
	cfg := &rivermigrate.Config{Logger: quiet(log)}
	switch db.Dialect {
	case store.Postgres:
		err = migrate(ctx, riverpgxv5.New(db.Pool), cfg)
	default:
		err = migrate(ctx, riversqlite.New(db.SQL), cfg)
	}
	if err != nil {
		return fmt.Errorf("migrate job queue: %w", err)
	}
	return nil
}

func migrate[TTx any](ctx context.Context, d riverdriver.Driver[TTx], cfg *rivermigrate.Config) error {
	m, err := rivermigrate.New(d, cfg)
	if err != nil {
		return err
	}
	_, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	return err
}

// quiet returns log with River's chatter moved down a level: River logs
// every migration and leader election at Info.
func quiet(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log.With("component", "river")
}

// pollInterval is how often a River client polls for jobs when no
// notification arrives. SQLite has no LISTEN/NOTIFY, so this is the
// latency of a run's start there.
const pollInterval = 200 * time.Millisecond
