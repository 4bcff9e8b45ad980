package api

import (
	"encoding/json"
	"net/http"

	"github.com/devmesh/devmesh/internal/errs"
	"github.com/devmesh/devmesh/server"
	"github.com/devmesh/devmesh/store"
)

type createAssessmentRequest struct {
	TaskID   string          `json:"task_id"`
	Title    string          `json:"title"`
	Settings json.RawMessage `json:"settings,omitempty"`
}

func (c *Catalogue) createAssessment(w http.ResponseWriter, r *http.Request) error {
	p := principal(r)
	var req createAssessmentRequest
	if err := server.DecodeJSON(r, &req); err != nil {
		return err
	}
	if req.TaskID == "" {
		return errs.E(errs.Invalid, "missing field task_id")
	}
	if len(req.Settings) > 0 {
		var obj map[string]any
		if err := json.Unmarshal(req.Settings, &obj); err != nil {
			return errs.E(errs.Invalid, "invalid field settings: want a JSON object")
		}
	}
	a, err := c.DB.CreateAssessment(r.Context(), store.Assessment{OrgID: p.OrgID,
		TaskID: req.TaskID, Title: req.Title, Settings: req.Settings, CreatedBy: p.Subject})
	if err != nil {
		return err
	}
	return server.WriteJSON(w, http.StatusCreated, a)
}

func (c *Catalogue) listAssessments(w http.ResponseWriter, r *http.Request) error {
	list, err := c.DB.Assessments(r.Context(), principal(r).OrgID)
	if err != nil {
		return err
	}
	return server.WriteJSON(w, http.StatusOK, map[string]any{"assessments": list})
}

func (c *Catalogue) getAssessment(w http.ResponseWriter, r *http.Request) error {
	a, err := c.DB.Assessment(r.Context(), principal(r).OrgID, r.PathValue("id"))
	if err != nil {
		return err
	}
	return server.WriteJSON(w, http.StatusOK, a)
}

func (c *Catalogue) deleteAssessment(w http.ResponseWriter, r *http.Request) error {
	if err := c.DB.DeleteAssessment(r.Context(), principal(r).OrgID, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (c *Catalogue) listSubmissions(w http.ResponseWriter, r *http.Request) error {
	p := principal(r)
	if _, err := c.DB.Assessment(r.Context(), p.OrgID, r.PathValue("id")); err != nil {
		return err
	}
	list, err := c.DB.Submissions(r.Context(), p.OrgID, r.PathValue("id"))
	if err != nil {
		return err
	}
	return server.WriteJSON(w, http.StatusOK, map[string]any{"submissions": list})
}

func (c *Catalogue) getSubmission(w http.ResponseWriter, r *http.Request) error {
	s, err := c.DB.Submission(r.Context(), principal(r).OrgID, r.PathValue("id"))
	if err != nil {
		return err
	}
	return server.WriteJSON(w, http.StatusOK, s)
}
