package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/devmesh/devmesh/internal/errs"
)

// Task is one version of a task bundle, identified within its organisation
// by the digest of the bundle's deterministic tarball. The bundle itself is
// in blob storage under that digest; Manifest is its parsed
// devmesh-task.yaml as JSON.
type Task struct {
	ID        string          `json:"id"`
	OrgID     string          `json:"-"`
	Name      string          `json:"name"`
	Version   string          `json:"version"`
	Digest    string          `json:"digest"`
	Runtime   string          `json:"runtime"`
	Manifest  json.RawMessage `json:"-"`
	SizeBytes int64           `json:"size_bytes"`
	CreatedAt time.Time       `json:"created_at"`
}

const taskCols = `id, org_id, name, version, digest, runtime, manifest, size_bytes, created_at`

func scanTask(row interface{ Scan(...any) error }) (Task, error) {
	var t Task
	var manifest string
	err := row.Scan(&t.ID, &t.OrgID, &t.Name, &t.Version, &t.Digest, &t.Runtime,
		&manifest, &t.SizeBytes, &t.CreatedAt)
	t.Manifest = json.RawMessage(manifest)
	t.CreatedAt = t.CreatedAt.UTC()
	return t, err
}

// PutTask records a task version. Uploading the same content again (same
// digest in the same organisation) returns the existing task and
// created=false.
func (db *DB) PutTask(ctx context.Context, t Task) (Task, bool, error) {
	if existing, err := db.taskByDigest(ctx, t.OrgID, t.Digest); err == nil {
		return existing, false, nil
	} else if !errs.Is(err, errs.NotFound) {
		return Task{}, false, err
	}
	t.ID = db.NewID("task")
	t.CreatedAt = db.Now()
	_, err := db.SQL.ExecContext(ctx, db.Rebind(`INSERT INTO tasks
		(`+taskCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		t.ID, t.OrgID, t.Name, t.Version, t.Digest, t.Runtime,
		string(t.Manifest), t.SizeBytes, t.CreatedAt)
	if isUniqueViolation(err) {
		existing, err := db.taskByDigest(ctx, t.OrgID, t.Digest)
		return existing, false, err
	}
	if err != nil {
		return Task{}, false, fmt.Errorf("create task: %w", err)
	}
	return t, true, nil
}

func (db *DB) taskByDigest(ctx context.Context, orgID, digest string) (Task, error) {
	t, err := scanTask(db.SQL.QueryRowContext(ctx, db.Rebind(
		`SELECT `+taskCols+` FROM tasks WHERE org_id = ? AND digest = ?`), orgID, digest))
	if errors.Is(err, sql.ErrNoRows) {
		return t, errs.E(errs.NotFound, "task with digest %q not found", digest)
	}
	if err != nil {
		return t, fmt.Errorf("read task: %w", err)
	}
	return t, nil
}

// Task returns the task id of organisation orgID. A task of another
// organisation is reported as not found, so its existence does not leak.
func (db *DB) Task(ctx context.Context, orgID, id string) (Task, error) {
	t, err := scanTask(db.SQL.QueryRowContext(ctx, db.Rebind(
		`SELECT `+taskCols+` FROM tasks WHERE org_id = ? AND id = ?`), orgID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return t, errs.E(errs.NotFound, "task %q not found", id)
	}
	if err != nil {
		return t, fmt.Errorf("read task %q: %w", id, err)
	}
	return t, nil
}

// Tasks lists the organisation's tasks, newest first.
func (db *DB) Tasks(ctx context.Context, orgID string) ([]Task, error) {
	rows, err := db.SQL.QueryContext(ctx, db.Rebind(
		`SELECT `+taskCols+` FROM tasks WHERE org_id = ? ORDER BY created_at DESC, id`), orgID)
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	defer rows.Close()
	out := []Task{}
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return nil, fmt.Errorf("list tasks: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}
