package runner

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/devmesh/devmesh/blob"
	"github.com/devmesh/devmesh/server"
	"github.com/devmesh/devmesh/store"
	"github.com/devmesh/devmesh/workspace"
)

type recorderResponse struct {
	*httptest.ResponseRecorder
	code int
}

func newRecorderResponse() *recorderResponse {
	return &recorderResponse{ResponseRecorder: httptest.NewRecorder()}
}

func (r *recorderResponse) WriteHeader(code int) {
	r.code = code
	r.ResponseRecorder.WriteHeader(code)
}

// candidateRequest is a request whose context carries the candidate of
// sub, as the server's authentication would set it.
func candidateRequest(t testing.TB, method, path, sub string, db *store.DB) *http.Request {
	s, err := db.SubmissionByID(t.Context(), sub)
	if err != nil {
		t.Error(err)
	}
	req := httptest.NewRequest(method, path, nil)
	p := server.Principal{Audience: server.Candidate, Subject: sub, OrgID: s.OrgID, SubmissionID: sub}
	return req.WithContext(server.WithPrincipal(req.Context(), p))
}

func serverStatus(err error) int { return server.Status(err) }

func mustBlobDigest(t testing.TB, d workspace.Digest) blob.Digest {
	t.Helper()
	bd, err := blob.ParseDigest(d.String())
	if err != nil {
		t.Fatal(err)
	}
	return bd
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
