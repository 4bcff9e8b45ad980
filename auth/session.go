package auth

import (
	"fmt"
	"net/http"
	"time"

	"github.com/devmesh/devmesh/server"
)

// Session is what a candidate sees of their own submission.
type Session struct {
	SubmissionID    string     `json:"submission_id"`
	State           string     `json:"state"`
	OpenedAt        *time.Time `json:"opened_at,omitempty"`
	DeadlineAt      *time.Time `json:"deadline_at,omitempty"`
	AssessmentTitle string     `json:"assessment_title"`
	TaskName        string     `json:"task_name"`
	TaskVersion     string     `json:"task_version"`
	// AIBudget is the submission's AI token budget, when the relay is
	// configured.
	AIBudget *TokenBudget `json:"ai_budget,omitempty"`
}

// TokenBudget is a submission's AI token account as the candidate sees it.
type TokenBudget struct {
	Budget    int64 `json:"budget"`
	Used      int64 `json:"used"`
	Reserved  int64 `json:"reserved"`
	Remaining int64 `json:"remaining"`
}

// sessionInfo serves GET /api/v1/session: the caller's own submission,
// found only by the id bound into their token.
func (s *Service) sessionInfo(w http.ResponseWriter, r *http.Request) error {
	p, _ := server.PrincipalFrom(r.Context())
	sub, err := s.db.SubmissionByID(r.Context(), p.SubmissionID)
	if err != nil {
		return err
	}
	out := Session{SubmissionID: sub.ID, State: sub.State, OpenedAt: sub.OpenedAt,
		DeadlineAt: sub.DeadlineAt}
	err = s.db.SQL.QueryRowContext(r.Context(), s.db.Rebind(`SELECT a.title, t.name, t.version
		FROM assessments a JOIN tasks t ON t.id = a.task_id WHERE a.id = ? AND a.org_id = ?`),
		sub.AssessmentID, sub.OrgID).Scan(&out.AssessmentTitle, &out.TaskName, &out.TaskVersion)
	if err != nil {
		return fmt.Errorf("read task of submission %q: %w", sub.ID, err)
	}
	if s.budget != nil {
		b, err := s.budget(r.Context(), sub.ID)
		if err != nil {
			return fmt.Errorf("read token budget of %q: %w", sub.ID, err)
		}
		out.AIBudget = &b
	}
	return server.WriteJSON(w, http.StatusOK, out)
}
