package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/devmesh/devmesh/internal/errs"
)

// Assessment binds a task version to settings under which candidates are
// invited. Deleting one is a soft delete: its submissions and their audit
// trail stay, but no new invite can be made or exchanged.
type Assessment struct {
	ID        string          `json:"id"`
	OrgID     string          `json:"-"`
	TaskID    string          `json:"task_id"`
	Title     string          `json:"title"`
	Settings  json.RawMessage `json:"settings"`
	CreatedBy string          `json:"created_by,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
}

const assessmentCols = `id, org_id, task_id, title, settings, created_by, created_at`

func scanAssessment(row interface{ Scan(...any) error }) (Assessment, error) {
	var a Assessment
	var settings string
	var by sql.NullString
	err := row.Scan(&a.ID, &a.OrgID, &a.TaskID, &a.Title, &settings, &by, &a.CreatedAt)
	a.Settings, a.CreatedBy = json.RawMessage(settings), by.String
	a.CreatedAt = a.CreatedAt.UTC()
	return a, err
}

// CreateAssessment adds an assessment of one of the organisation's tasks.
func (db *DB) CreateAssessment(ctx context.Context, a Assessment) (Assessment, error) {
	a.Title = strings.TrimSpace(a.Title)
	if a.Title == "" || len(a.Title) > 200 {
		return a, errs.E(errs.Invalid, "invalid title %q: must be 1 to 200 characters", a.Title)
	}
	if _, err := db.Task(ctx, a.OrgID, a.TaskID); err != nil {
		if errs.Is(err, errs.NotFound) {
			return a, errs.E(errs.Invalid, "invalid task_id %q: no such task", a.TaskID)
		}
		return a, err
	}
	if len(a.Settings) == 0 {
		a.Settings = json.RawMessage(`{}`)
	}
	a.ID, a.CreatedAt = db.NewID("asm"), db.Now()
	var by any
	if a.CreatedBy != "" {
		by = a.CreatedBy
	}
	_, err := db.SQL.ExecContext(ctx, db.Rebind(`INSERT INTO assessments
		(`+assessmentCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`),
		a.ID, a.OrgID, a.TaskID, a.Title, string(a.Settings), by, a.CreatedAt)
	if err != nil {
		return a, fmt.Errorf("create assessment: %w", err)
	}
	return a, nil
}

// Assessment returns a live (not deleted) assessment of the organisation.
func (db *DB) Assessment(ctx context.Context, orgID, id string) (Assessment, error) {
	a, err := scanAssessment(db.SQL.QueryRowContext(ctx, db.Rebind(`SELECT `+assessmentCols+
		` FROM assessments WHERE org_id = ? AND id = ? AND deleted_at IS NULL`), orgID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return a, errs.E(errs.NotFound, "assessment %q not found", id)
	}
	if err != nil {
		return a, fmt.Errorf("read assessment %q: %w", id, err)
	}
	return a, nil
}

// Assessments lists the organisation's live assessments, newest first.
func (db *DB) Assessments(ctx context.Context, orgID string) ([]Assessment, error) {
	rows, err := db.SQL.QueryContext(ctx, db.Rebind(`SELECT `+assessmentCols+
		` FROM assessments WHERE org_id = ? AND deleted_at IS NULL
		ORDER BY created_at DESC, id`), orgID)
	if err != nil {
		return nil, fmt.Errorf("list assessments: %w", err)
	}
	defer rows.Close()
	out := []Assessment{}
	for rows.Next() {
		a, err := scanAssessment(rows)
		if err != nil {
			return nil, fmt.Errorf("list assessments: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// DeleteAssessment soft-deletes an assessment of the organisation.
func (db *DB) DeleteAssessment(ctx context.Context, orgID, id string) error {
	res, err := db.SQL.ExecContext(ctx, db.Rebind(`UPDATE assessments SET deleted_at = ?
		WHERE org_id = ? AND id = ? AND deleted_at IS NULL`), db.Now(), orgID, id)
	if err != nil {
		return fmt.Errorf("delete assessment %q: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errs.E(errs.NotFound, "assessment %q not found", id)
	}
	return nil
}
