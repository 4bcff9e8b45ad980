// Package runner turns a candidate's "Run" and "Submit" into stored,
// replayable facts and executes runs in a sandbox.
//
// The API side (API) never executes code: it rebuilds the workspace from
// the audit log, writes the deterministic tarball write-once into blob
// storage, logs a workspace.snapshot event binding the tarball's digest to
// the log, records a run and enqueues a River job naming the digest. The
// runner side (Start, Worker) takes those jobs from the same database,
// fetches the tarball and drives a sandbox.Driver, streaming output into
// terminal.output events and into the run row.
//
// It depends only on the sandbox.Driver interface, so the API server does
// not link a driver that executes code. docs/runs.md describes the queue
// settings, the run states and the events.
package runner
