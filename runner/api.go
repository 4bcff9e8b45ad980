package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/devmesh/devmesh/audit"
	"github.com/devmesh/devmesh/blob"
	"github.com/devmesh/devmesh/internal/errs"
	"github.com/devmesh/devmesh/server"
	"github.com/devmesh/devmesh/store"
	"github.com/devmesh/devmesh/task"
)

// APIDeps are what the run and submit routes need. The API enqueues
// jobs; it never executes code and needs no sandbox driver.
type APIDeps struct {
	DB    *store.DB
	Blobs *blob.Store
	Audit audit.Appender
	Log   *slog.Logger
	// PollEvery is how often a Server-Sent Events stream reads the run
	// row; default 250ms.
	PollEvery time.Duration
}

// API serves a candidate's runs and submit.
type API struct {
	db      *store.DB
	runs    runs
	bundles *bundles
	snap    snapshotter
	queue   enqueuer
	audit   audit.Appender
	log     *slog.Logger
	poll    time.Duration
}

// NewAPI returns the run and submit routes over deps. db must be migrated,
// River's tables included (see Migrate).
func NewAPI(deps APIDeps) (*API, error) {
	if deps.DB == nil || deps.Blobs == nil || deps.Audit == nil {
		return nil, errors.New("runner api: a database, blob storage and an audit appender are required")
	}
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	if deps.PollEvery <= 0 {
		deps.PollEvery = 250 * time.Millisecond
	}
	q, err := newEnqueuer(deps.DB, deps.Log)
	if err != nil {
		return nil, fmt.Errorf("runner api: %w", err)
	}
	return &API{db: deps.DB, runs: runs{deps.DB}, bundles: newBundles(deps.DB, deps.Blobs),
		snap:  snapshotter{db: deps.DB, blobs: deps.Blobs, audit: deps.Audit, trees: &treeCache{}},
		queue: q, audit: deps.Audit, log: deps.Log, poll: deps.PollEvery}, nil
}

// Routes returns the candidate routes. Each serves the caller's own
// submission only: the submission comes from the token, never from the
// request.
func (a *API) Routes() []server.Route {
	return []server.Route{
		{Pattern: "POST /api/v1/session/runs", Audience: server.Candidate,
			MaxBody: 1 << 10, Handler: a.createRun},
		{Pattern: "GET /api/v1/session/runs/{id}", Audience: server.Candidate,
			Handler: a.getRun},
		{Pattern: "POST /api/v1/session/submit", Audience: server.Candidate,
			MaxBody: 1 << 10, Handler: a.submit},
	}
}

// RunRequest is the optional body of POST /api/v1/session/runs.
type RunRequest struct {
	// Command is "run" (the default) or "test".
	Command string `json:"command"`
}

// RunCreated is the 202 response to POST /api/v1/session/runs.
type RunCreated struct {
	RunID           string `json:"run_id"`
	WorkspaceDigest string `json:"workspace_digest"`
	Seq             int64  `json:"seq"`
}

// submissionOf returns the caller's open submission.
func (a *API) submissionOf(r *http.Request) (store.Submission, error) {
	p, ok := server.PrincipalFrom(r.Context())
	if !ok || p.Audience != server.Candidate || p.SubmissionID == "" {
		return store.Submission{}, errs.E(errs.Unauthenticated, "a candidate token is required")
	}
	return a.db.SubmissionByID(r.Context(), p.SubmissionID)
}

func (a *API) openSubmission(r *http.Request) (store.Submission, error) {
	sub, err := a.submissionOf(r)
	if err != nil {
		return sub, err
	}
	if sub.State != store.StateOpen {
		return sub, errs.E(errs.Conflict, "submission %q is %s, not open", sub.ID, sub.State)
	}
	return sub, nil
}

func (a *API) createRun(w http.ResponseWriter, r *http.Request) error {
	sub, err := a.openSubmission(r)
	if err != nil {
		return err
	}
	// After the deadline the workspace is frozen (the log refuses edits)
	// and only submit remains; no more candidate code runs.
	if sub.DeadlineAt != nil && !a.db.Now().Before(*sub.DeadlineAt) {
		return errs.E(errs.Conflict, "the session's time is up: submit to finish")
	}
	req, err := decodeRunRequest(r)
	if err != nil {
		return err
	}
	b, err := a.bundles.forSubmission(r.Context(), sub.ID)
	if err != nil {
		return err
	}
	argv, err := commandFor(b, req.Command)
	if err != nil {
		return err
	}
	snap, err := a.snap.freeze(r.Context(), sub.ID)
	if err != nil {
		return err
	}
	run := Run{ID: a.db.NewID("run"), SubmissionID: sub.ID, Seq: snap.Seq,
		WorkspaceDigest: snap.Digest.String(), CommandName: req.Command,
		Command: argv, Status: StatusQueued, CreatedAt: a.db.Now()}
	args := RunArgs{RunID: run.ID, SubmissionID: sub.ID, Digest: run.WorkspaceDigest,
		Runtime: b.Manifest.Runtime, Command: argv, Limits: b.SandboxLimits()}
	if _, err := a.queue.enqueue(r.Context(), run, args); err != nil {
		return err
	}
	a.log.InfoContext(r.Context(), "run queued", "run", run.ID, "submission", sub.ID,
		"digest", run.WorkspaceDigest, "seq", run.Seq)
	return server.WriteJSON(w, http.StatusAccepted, RunCreated{RunID: run.ID,
		WorkspaceDigest: run.WorkspaceDigest, Seq: run.Seq})
}

func decodeRunRequest(r *http.Request) (RunRequest, error) {
	req := RunRequest{Command: CommandRun}
	if r.ContentLength != 0 {
		if err := server.DecodeJSON(r, &req); err != nil {
			return req, err
		}
	}
	if req.Command == "" {
		req.Command = CommandRun
	}
	return req, nil
}

// commandFor returns the task's argv for a command name. The candidate
// only ever chooses between the task's own commands: an argv from the
// request would let anyone run anything the runtime holds.
func commandFor(b *task.Bundle, name string) ([]string, error) {
	var argv []string
	switch name {
	case CommandRun:
		argv = b.Manifest.Commands.Run
	case CommandTest:
		argv = b.Manifest.Commands.Test
	default:
		return nil, errs.E(errs.Invalid, "invalid command %q: want %q or %q",
			name, CommandRun, CommandTest)
	}
	if len(argv) == 0 {
		return nil, errs.E(errs.Invalid, "this task has no %q command", name)
	}
	return slices.Clone(argv), nil
}

// RunView is the JSON form of a run.
type RunView struct {
	ID              string     `json:"id"`
	Status          string     `json:"status"`
	Command         string     `json:"command"`
	Argv            []string   `json:"argv"`
	Seq             int64      `json:"seq"`
	WorkspaceDigest string     `json:"workspace_digest"`
	Outcome         string     `json:"outcome,omitempty"`
	ExitCode        *int       `json:"exit_code,omitempty"`
	Output          string     `json:"output"`
	OutputTruncated bool       `json:"output_truncated"`
	Reason          string     `json:"reason,omitempty"`
	Attempt         int        `json:"attempt"`
	CreatedAt       time.Time  `json:"created_at"`
	StartedAt       *time.Time `json:"started_at,omitempty"`
	FinishedAt      *time.Time `json:"finished_at,omitempty"`
}

func viewRun(r Run) RunView {
	return RunView{ID: r.ID, Status: r.Status, Command: r.CommandName, Argv: r.Command,
		Seq: r.Seq, WorkspaceDigest: r.WorkspaceDigest, Outcome: r.Outcome,
		ExitCode: r.ExitCode, Output: strings.ToValidUTF8(string(r.Output), "\uFFFD"),
		OutputTruncated: r.OutputTruncated, Reason: r.Reason, Attempt: r.Attempt,
		CreatedAt: r.CreatedAt, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt}
}

func (a *API) getRun(w http.ResponseWriter, r *http.Request) error {
	sub, err := a.submissionOf(r)
	if err != nil {
		return err
	}
	run, err := a.runs.get(r.Context(), sub.ID, r.PathValue("id"))
	if err != nil {
		return err
	}
	if wantsEvents(r) {
		return a.stream(w, r, run)
	}
	return server.WriteJSON(w, http.StatusOK, viewRun(run))
}

func wantsEvents(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		if strings.Contains(v, "text/event-stream") {
			return true
		}
	}
	return false
}

// Submitted is the response to POST /api/v1/session/submit: the final
// workspace's digest and the sequence number it was built at.
type Submitted struct {
	Digest string `json:"digest"`
	Seq    int64  `json:"seq"`
	Size   int64  `json:"size"`
}

// submit freezes the final workspace, then moves the submission from
// open to submitted in one conditional update (so of two racing submits
// one wins and the other gets 409), then logs submission.submitted with
// the digest. Freezing first means a failure leaves the submission open
// for the candidate to retry; once submitted, candidate tokens stop
// working.
func (a *API) submit(w http.ResponseWriter, r *http.Request) error {
	sub, err := a.openSubmission(r)
	if err != nil {
		return err
	}
	snap, err := a.snap.freeze(r.Context(), sub.ID)
	if err != nil {
		return err
	}
	if _, err := a.db.Advance(r.Context(), sub.ID, store.StateOpen, store.StateSubmitted); err != nil {
		return err
	}
	payload, err := json.Marshal(snap.SnapshotPayload)
	if err != nil {
		return err
	}
	_, err = a.audit.Append(r.Context(), audit.Entry{SubmissionID: sub.ID,
		Kind: audit.KindSubmissionSubmitted, Actor: audit.ActorCandidate, Payload: payload})
	if err != nil {
		// TODO: the submission is submitted but its submission.submitted
		// event is missing; the workspace.snapshot before it holds the
		// digest. A repair job should append the event from that snapshot.
		return errs.Wrap(errs.Unavailable, err, "audit log unavailable")
	}
	// A signed checkpoint at every close, so the receipts of the
	// submission's report cover its last events without waiting for the
	// periodic signer.
	if c, ok := a.audit.(checkpointer); ok {
		if _, err := c.Checkpoint(r.Context()); err != nil {
			a.log.WarnContext(r.Context(), "sign checkpoint at submit", "submission", sub.ID, "err", err)
		}
	}
	a.log.InfoContext(r.Context(), "submission submitted", "submission", sub.ID,
		"digest", snap.Digest.String(), "seq", snap.Seq)
	return server.WriteJSON(w, http.StatusOK, Submitted{Digest: snap.Digest.String(),
		Seq: snap.Seq, Size: snap.Size})
}

// checkpointer is the part of *audit.Log that signs a checkpoint on
// demand.
type checkpointer interface {
	Checkpoint(ctx context.Context) (audit.Checkpoint, error)
}
