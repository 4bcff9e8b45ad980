// Package api serves the recruiter's catalogue: task versions, assessments
// and the submissions made under them. Every route is scoped to the
// caller's organisation; another organisation's records answer 404, so
// their existence does not leak.
package api

import (
	"log/slog"
	"net/http"

	"github.com/devmesh/devmesh/auth"
	"github.com/devmesh/devmesh/server"
	"github.com/devmesh/devmesh/store"
)

// TaskArchives keeps task bundle archives by digest. It is write-once:
// storing the same digest twice is a no-op.
type TaskArchives interface {
	PutTaskArchive(r *http.Request, digest string, archive []byte) error
}

// Roles come from auth's role sets, the one policy table (docs/auth.md).
var (
	readers  = auth.CanRead
	uploader = auth.CanUploadTasks
	editors  = auth.CanInvite
)

// Body limits of the catalogue routes.
const (
	// MaxBundleBytes bounds an uploaded task bundle (.tar.gz).
	MaxBundleBytes = 20 << 20
	maxJSONBytes   = 64 << 10
)

// Catalogue serves tasks, assessments and submissions.
type Catalogue struct {
	DB       *store.DB
	Archives TaskArchives
	Log      *slog.Logger
}

// Routes returns the catalogue's routes.
func (c *Catalogue) Routes() []server.Route {
	return []server.Route{
		{Pattern: "GET /api/v1/tasks", Audience: server.Recruiter, Roles: readers, Handler: c.listTasks},
		{Pattern: "POST /api/v1/tasks", Audience: server.Recruiter, Roles: uploader, MaxBody: MaxBundleBytes, Handler: c.createTask},
		{Pattern: "GET /api/v1/tasks/{id}", Audience: server.Recruiter, Roles: readers, Handler: c.getTask},
		{Pattern: "GET /api/v1/assessments", Audience: server.Recruiter, Roles: readers, Handler: c.listAssessments},
		{Pattern: "POST /api/v1/assessments", Audience: server.Recruiter, Roles: editors, MaxBody: maxJSONBytes, Handler: c.createAssessment},
		{Pattern: "GET /api/v1/assessments/{id}", Audience: server.Recruiter, Roles: readers, Handler: c.getAssessment},
		{Pattern: "DELETE /api/v1/assessments/{id}", Audience: server.Recruiter, Roles: editors, Handler: c.deleteAssessment},
		{Pattern: "GET /api/v1/assessments/{id}/submissions", Audience: server.Recruiter, Roles: readers, Handler: c.listSubmissions},
		{Pattern: "GET /api/v1/submissions/{id}", Audience: server.Recruiter, Roles: readers, Handler: c.getSubmission},
	}
}

func principal(r *http.Request) server.Principal {
	p, _ := server.PrincipalFrom(r.Context())
	return p
}
