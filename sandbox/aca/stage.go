package aca

import (
	"context"
	"io"
	"time"

	"github.com/devmesh/devmesh/internal/secret"
)

// Stager makes a run's workspace archive fetchable by the execution's
// init container, which runs in Azure and cannot reach the runner.
type Stager interface {
	// Stage stores archive (a .tar.gz stream, possibly empty) for the
	// run runID and returns a URL that can only read that archive and
	// stops working after ttl. The URL is a bearer credential. The
	// caller must call remove once the execution has ended; remove is
	// safe to call with a context that is already done for the run.
	Stage(ctx context.Context, runID string, archive io.Reader, ttl time.Duration) (
		url secret.String, remove func(context.Context) error, err error)
}

// Logs is the console output of one execution.
type Logs struct {
	Stdout []byte
	Stderr []byte
	// ExitCode is the main container's exit status when the log
	// source reports it, else -1.
	ExitCode int
}

// LogReader fetches the console output of a finished execution, for
// example from the Log Analytics workspace of the job's environment
// (see docs/azure.md for the query).
type LogReader interface {
	// ReadLogs returns the output of the container named container in
	// the execution called execution. It may return fewer bytes than
	// were written, never more than limit in total.
	ReadLogs(ctx context.Context, execution, container string, limit int64) (Logs, error)
}
