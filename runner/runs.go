package runner

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/devmesh/devmesh/internal/errs"
	"github.com/devmesh/devmesh/store"
)

// Run statuses. The strings are stored: never rename or reuse one.
//
// A run is queued until a runner claims it, running while the sandbox
// works, then finished (the command ran to an outcome, which may be a
// non-zero exit or a limit) or failed (it could not be carried out;
// Reason says why).
const (
	StatusQueued   = "queued"
	StatusRunning  = "running"
	StatusFinished = "finished"
	StatusFailed   = "failed"
)

// Command names a candidate may choose. The candidate never sends an
// argv: the name picks one of the task's own commands. Stored: never
// rename or reuse.
const (
	CommandRun  = "run"  // the task's commands.run
	CommandTest = "test" // the task's commands.test (the visible tests)
)

// OutputCap bounds the output kept in a run row. The complete output, up
// to the task's output limit, is in the audit log as terminal.output.
const OutputCap = 256 << 10

// Run is one row of the runs table.
type Run struct {
	ID              string
	SubmissionID    string
	Seq             int64
	WorkspaceDigest string
	CommandName     string
	Command         []string
	Status          string
	Outcome         string
	ExitCode        *int
	Output          []byte
	OutputTruncated bool
	Reason          string
	Attempt         int
	JobID           *int64
	CreatedAt       time.Time
	StartedAt       *time.Time
	FinishedAt      *time.Time
}

// Done reports whether the run reached a final status.
func (r Run) Done() bool {
	return r.Status == StatusFinished || r.Status == StatusFailed
}

const runCols = `id, submission_id, seq, workspace_digest, command_name, command,
	status, outcome, exit_code, output, output_truncated, reason, attempt,
	job_id, created_at, started_at, finished_at`

const insertRunSQL = `INSERT INTO runs (id, submission_id, seq, workspace_digest,
	command_name, command, status, created_at, updated_at)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`

func insertRunArgs(r Run) ([]any, error) {
	argv, err := json.Marshal(r.Command)
	if err != nil {
		return nil, err
	}
	return []any{r.ID, r.SubmissionID, r.Seq, r.WorkspaceDigest, r.CommandName,
		string(argv), r.Status, r.CreatedAt, r.CreatedAt}, nil
}

func scanRun(row interface{ Scan(...any) error }) (Run, error) {
	var r Run
	var argv string
	var exit, job sql.NullInt64
	var started, finished sql.NullTime
	err := row.Scan(&r.ID, &r.SubmissionID, &r.Seq, &r.WorkspaceDigest,
		&r.CommandName, &argv, &r.Status, &r.Outcome, &exit, &r.Output,
		&r.OutputTruncated, &r.Reason, &r.Attempt, &job, &r.CreatedAt,
		&started, &finished)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal([]byte(argv), &r.Command); err != nil {
		return r, fmt.Errorf("run %q: stored command: %w", r.ID, err)
	}
	if exit.Valid {
		c := int(exit.Int64)
		r.ExitCode = &c
	}
	if job.Valid {
		r.JobID = &job.Int64
	}
	r.CreatedAt = r.CreatedAt.UTC()
	r.StartedAt, r.FinishedAt = utcPtr(started), utcPtr(finished)
	return r, nil
}

func utcPtr(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	u := t.Time.UTC()
	return &u
}

// runs is the SQL of the runs table.
type runs struct{ db *store.DB }

// get returns run id of submission sub. A run of another submission is
// not found, so its existence does not leak.
func (s runs) get(ctx context.Context, sub, id string) (Run, error) {
	r, err := scanRun(s.db.SQL.QueryRowContext(ctx, s.db.Rebind(`SELECT `+runCols+
		` FROM runs WHERE id = ? AND submission_id = ?`), id, sub))
	if errors.Is(err, sql.ErrNoRows) {
		return r, errs.E(errs.NotFound, "run %q not found", id)
	}
	if err != nil {
		return r, fmt.Errorf("read run %q: %w", id, err)
	}
	return r, nil
}

// byID returns run id whatever its submission, for the runner, whose job
// names the run.
func (s runs) byID(ctx context.Context, id string) (Run, error) {
	r, err := scanRun(s.db.SQL.QueryRowContext(ctx, s.db.Rebind(`SELECT `+runCols+
		` FROM runs WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, errs.E(errs.NotFound, "run %q not found", id)
	}
	if err != nil {
		return r, fmt.Errorf("read run %q: %w", id, err)
	}
	return r, nil
}

// claim marks run id running and counts the attempt, clearing what an
// interrupted earlier attempt left. It returns the run's attempt number,
// or ok false when the run is already final. River holds the job's lock
// while it works, so only one claim of a run is working at a time.
func (s runs) claim(ctx context.Context, id string) (attempt int, ok bool, err error) {
	now := s.db.Now()
	err = s.db.SQL.QueryRowContext(ctx, s.db.Rebind(`UPDATE runs SET status = ?,
		attempt = attempt + 1, started_at = ?, updated_at = ?, output = ?,
		output_truncated = ?, outcome = '', exit_code = NULL, reason = ''
		WHERE id = ? AND status IN (?, ?) RETURNING attempt`),
		StatusRunning, now, now, []byte{}, false, id,
		StatusQueued, StatusRunning).Scan(&attempt)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("claim run %q: %w", id, err)
	}
	return attempt, true, nil
}

// progress stores the output captured so far of a running run.
func (s runs) progress(ctx context.Context, id string, attempt int, out []byte, truncated bool) error {
	_, err := s.db.SQL.ExecContext(ctx, s.db.Rebind(`UPDATE runs SET output = ?,
		output_truncated = ?, updated_at = ? WHERE id = ? AND attempt = ? AND status = ?`),
		out, truncated, s.db.Now(), id, attempt, StatusRunning)
	if err != nil {
		return fmt.Errorf("store output of run %q: %w", id, err)
	}
	return nil
}

// final is what a finished or failed run records.
type final struct {
	status, outcome, reason string
	exitCode                *int
	output                  []byte
	truncated               bool
}

// finish records the end of attempt of run id. It reports false when
// the run was already final or belongs to another attempt.
func (s runs) finish(ctx context.Context, id string, attempt int, f final) (bool, error) {
	now := s.db.Now()
	var exit any
	if f.exitCode != nil {
		exit = *f.exitCode
	}
	if f.output == nil {
		f.output = []byte{}
	}
	res, err := s.db.SQL.ExecContext(ctx, s.db.Rebind(`UPDATE runs SET status = ?,
		outcome = ?, reason = ?, exit_code = ?, output = ?, output_truncated = ?,
		finished_at = ?, updated_at = ? WHERE id = ? AND attempt = ? AND status IN (?, ?)`),
		f.status, f.outcome, clipReason(f.reason), exit, f.output, f.truncated,
		now, now, id, attempt, StatusQueued, StatusRunning)
	if err != nil {
		return false, fmt.Errorf("finish run %q: %w", id, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// requeue puts a run interrupted by a stopping runner back to queued,
// with the reason, for River's retry to pick up.
func (s runs) requeue(ctx context.Context, id string, attempt int, reason string) error {
	_, err := s.db.SQL.ExecContext(ctx, s.db.Rebind(`UPDATE runs SET status = ?,
		reason = ?, updated_at = ? WHERE id = ? AND attempt = ? AND status = ?`),
		StatusQueued, clipReason(reason), s.db.Now(), id, attempt, StatusRunning)
	if err != nil {
		return fmt.Errorf("requeue run %q: %w", id, err)
	}
	return nil
}

// maxReason bounds a stored reason; driver details can be long.
const maxReason = 1024

func clipReason(s string) string {
	if len(s) > maxReason {
		s = s[:maxReason]
	}
	return strings.ToValidUTF8(s, "")
}
