package api

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"

	"github.com/devmesh/devmesh/internal/errs"
	"github.com/devmesh/devmesh/server"
	"github.com/devmesh/devmesh/store"
	"github.com/devmesh/devmesh/task"
)

// taskView is the public shape of a task version.
type taskView struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Version string `json:"version"`
	Digest  string `json:"digest"`
	Runtime string `json:"runtime"`
}

func viewTask(t store.Task) taskView {
	return taskView{ID: t.ID, Name: t.Name, Version: t.Version, Digest: t.Digest, Runtime: t.Runtime}
}

// createTask ingests a .tar.gz task bundle. The archive is stored first
// (write-once, by digest) and the row second, so a failure leaves at most
// an unreferenced archive that the next identical upload reuses, never a
// task row without its bundle.
func (c *Catalogue) createTask(w http.ResponseWriter, r *http.Request) error {
	p := principal(r)
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/gzip" && mt != "application/x-gzip" && mt != "application/x-tar" {
		return errs.E(errs.Invalid, "unsupported content type %q: upload the bundle as application/gzip",
			r.Header.Get("Content-Type"))
	}
	body := &limitWatch{r: r.Body}
	b, err := task.ParseArchive(body)
	if body.tooBig != nil {
		return errs.E(errs.TooLarge, "task bundle is larger than %d bytes", body.tooBig.Limit)
	}
	if err != nil {
		return err
	}
	digest := b.Digest().String()
	if err := c.Archives.PutTaskArchive(r, digest, b.Archive()); err != nil {
		return err
	}
	manifest, err := json.Marshal(b.Manifest)
	if err != nil {
		return err
	}
	t, created, err := c.DB.PutTask(r.Context(), store.Task{OrgID: p.OrgID,
		Name: b.Manifest.Name, Version: b.Manifest.Version, Digest: digest,
		Runtime: b.Manifest.Runtime, Manifest: manifest, SizeBytes: int64(len(b.Archive()))})
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		c.Log.Info("task stored", "task", t.ID, "digest", digest, "org", p.OrgID)
	}
	return server.WriteJSON(w, status, viewTask(t))
}

func (c *Catalogue) listTasks(w http.ResponseWriter, r *http.Request) error {
	list, err := c.DB.Tasks(r.Context(), principal(r).OrgID)
	if err != nil {
		return err
	}
	out := make([]taskView, 0, len(list))
	for _, t := range list {
		out = append(out, viewTask(t))
	}
	return server.WriteJSON(w, http.StatusOK, map[string]any{"tasks": out})
}

func (c *Catalogue) getTask(w http.ResponseWriter, r *http.Request) error {
	t, err := c.DB.Task(r.Context(), principal(r).OrgID, r.PathValue("id"))
	if err != nil {
		return err
	}
	return server.WriteJSON(w, http.StatusOK, viewTask(t))
}

// limitWatch remembers whether the body hit its size limit, whatever the
// archive reader makes of the error.
type limitWatch struct {
	r      io.Reader
	tooBig *http.MaxBytesError
}

func (l *limitWatch) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		l.tooBig = mb
	}
	return n, err
}
