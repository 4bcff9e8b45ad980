package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/devmesh/devmesh/internal/errs"
)

// Submission states. The strings are stored: never rename or reuse one.
// A submission moves only forward: invited → open → submitted → evaluated.
const (
	StateInvited   = "invited"
	StateOpen      = "open"
	StateSubmitted = "submitted"
	StateEvaluated = "evaluated"
)

// Submission is one candidate's attempt at one assessment, created by an
// invite.
type Submission struct {
	ID              string     `json:"id"`
	OrgID           string     `json:"-"`
	AssessmentID    string     `json:"assessment_id"`
	CandidateEmail  string     `json:"candidate_email"`
	State           string     `json:"state"`
	InviteExpiresAt time.Time  `json:"invite_expires_at"`
	OpenedAt        *time.Time `json:"opened_at,omitempty"`
	DeadlineAt      *time.Time `json:"deadline_at,omitempty"`
	SubmittedAt     *time.Time `json:"submitted_at,omitempty"`
	EvaluatedAt     *time.Time `json:"evaluated_at,omitempty"`
	CreatedAt       time.Time  `json:"created_at"`
}

const submissionCols = `id, org_id, assessment_id, candidate_email, state,
	invite_expires_at, opened_at, deadline_at, submitted_at, evaluated_at, created_at`

func scanSubmission(row interface{ Scan(...any) error }) (Submission, error) {
	var s Submission
	var exp sql.NullTime
	var opened, deadline, submitted, evaluated sql.NullTime
	err := row.Scan(&s.ID, &s.OrgID, &s.AssessmentID, &s.CandidateEmail, &s.State,
		&exp, &opened, &deadline, &submitted, &evaluated, &s.CreatedAt)
	s.InviteExpiresAt = exp.Time.UTC()
	s.OpenedAt, s.DeadlineAt = timePtr(opened), timePtr(deadline)
	s.SubmittedAt, s.EvaluatedAt = timePtr(submitted), timePtr(evaluated)
	s.CreatedAt = s.CreatedAt.UTC()
	return s, err
}

func timePtr(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	u := t.Time.UTC()
	return &u
}

// CreateSubmission records an invited submission for a live assessment of
// the organisation. inviteHash is the hash of the invite token; the token
// itself is never stored.
func (db *DB) CreateSubmission(ctx context.Context, orgID, assessmentID, email, inviteHash string, expires time.Time) (Submission, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return Submission{}, err
	}
	if _, err := db.Assessment(ctx, orgID, assessmentID); err != nil {
		return Submission{}, err
	}
	s := Submission{ID: db.NewID("sub"), OrgID: orgID, AssessmentID: assessmentID,
		CandidateEmail: email, State: StateInvited, InviteExpiresAt: expires.UTC(),
		CreatedAt: db.Now()}
	_, err = db.SQL.ExecContext(ctx, db.Rebind(`INSERT INTO submissions
		(id, org_id, assessment_id, candidate_email, state, invite_hash,
		 invite_expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
		s.ID, s.OrgID, s.AssessmentID, s.CandidateEmail, s.State, inviteHash,
		s.InviteExpiresAt, s.CreatedAt)
	if err != nil {
		return Submission{}, fmt.Errorf("create submission: %w", err)
	}
	return s, nil
}

// Submission returns a submission of the organisation.
func (db *DB) Submission(ctx context.Context, orgID, id string) (Submission, error) {
	s, err := scanSubmission(db.SQL.QueryRowContext(ctx, db.Rebind(
		`SELECT `+submissionCols+` FROM submissions WHERE org_id = ? AND id = ?`), orgID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return s, errs.E(errs.NotFound, "submission %q not found", id)
	}
	if err != nil {
		return s, fmt.Errorf("read submission %q: %w", id, err)
	}
	return s, nil
}

// SubmissionByID returns a submission whatever its organisation. Use it
// only where the caller's claim to the submission is already proven (a
// candidate token bound to it, a job that names it).
func (db *DB) SubmissionByID(ctx context.Context, id string) (Submission, error) {
	s, err := scanSubmission(db.SQL.QueryRowContext(ctx, db.Rebind(
		`SELECT `+submissionCols+` FROM submissions WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return s, errs.E(errs.NotFound, "submission %q not found", id)
	}
	if err != nil {
		return s, fmt.Errorf("read submission %q: %w", id, err)
	}
	return s, nil
}

// Submissions lists the submissions of one assessment, newest first.
func (db *DB) Submissions(ctx context.Context, orgID, assessmentID string) ([]Submission, error) {
	rows, err := db.SQL.QueryContext(ctx, db.Rebind(`SELECT `+submissionCols+
		` FROM submissions WHERE org_id = ? AND assessment_id = ?
		ORDER BY created_at DESC, id`), orgID, assessmentID)
	if err != nil {
		return nil, fmt.Errorf("list submissions: %w", err)
	}
	defer rows.Close()
	out := []Submission{}
	for rows.Next() {
		s, err := scanSubmission(rows)
		if err != nil {
			return nil, fmt.Errorf("list submissions: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// ErrInviteInvalid is returned by OpenSubmission for an invite that is
// unknown, used, expired, or whose assessment was deleted. The four cases
// are deliberately indistinguishable to the caller.
var ErrInviteInvalid = errs.E(errs.Unauthenticated, "invite is invalid, used or expired")

// OpenSubmission consumes the invite whose hash is inviteHash: in one
// conditional update, an invited submission of a live assessment whose
// invite has not expired becomes open, with its clock started at now and
// its deadline at now+duration. Of two racing calls exactly one succeeds.
func (db *DB) OpenSubmission(ctx context.Context, inviteHash string, duration time.Duration) (Submission, error) {
	now := db.Now()
	deadline := now.Add(duration)
	res, err := db.SQL.ExecContext(ctx, db.Rebind(`UPDATE submissions
		SET state = ?, opened_at = ?, deadline_at = ?
		WHERE invite_hash = ? AND state = ? AND invite_expires_at > ?
		AND assessment_id IN (SELECT id FROM assessments WHERE deleted_at IS NULL)`),
		StateOpen, now, deadline, inviteHash, StateInvited, now)
	if err != nil {
		return Submission{}, fmt.Errorf("open submission: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return Submission{}, ErrInviteInvalid
	}
	s, err := scanSubmission(db.SQL.QueryRowContext(ctx, db.Rebind(
		`SELECT `+submissionCols+` FROM submissions WHERE invite_hash = ?`), inviteHash))
	if err != nil {
		return Submission{}, fmt.Errorf("read opened submission: %w", err)
	}
	return s, nil
}

// Advance moves a submission from state from to state to, stamping the
// matching time. It fails with a conflict if the submission is not in
// state from, so of two racing calls exactly one succeeds.
func (db *DB) Advance(ctx context.Context, id, from, to string) (Submission, error) {
	col := map[string]string{StateSubmitted: "submitted_at", StateEvaluated: "evaluated_at"}[to]
	if col == "" || !(from == StateOpen && to == StateSubmitted ||
		from == StateSubmitted && to == StateEvaluated) {
		return Submission{}, fmt.Errorf("advance submission: no transition %s → %s", from, to)
	}
	res, err := db.SQL.ExecContext(ctx, db.Rebind(`UPDATE submissions SET state = ?, `+
		col+` = ? WHERE id = ? AND state = ?`), to, db.Now(), id, from)
	if err != nil {
		return Submission{}, fmt.Errorf("advance submission %q: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return Submission{}, errs.E(errs.Conflict, "submission %q is not %s", id, from)
	}
	return db.SubmissionByID(ctx, id)
}
