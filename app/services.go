package app

import (
	"context"
	"encoding/json"
	"time"

	"github.com/devmesh/devmesh/audit"
	"github.com/devmesh/devmesh/auth"
	"github.com/devmesh/devmesh/store"
	"github.com/devmesh/devmesh/task"
)

// openAudit opens the audit log with its checkpoint signer, whose key is
// created in the data directory on first start.
func (a *App) openAudit(ctx context.Context) (*audit.Log, error) {
	signer, err := audit.LoadOrCreateSigner(a.Dir.Path("keys", "log-signer.key"), a.Cfg.LogOrigin)
	if err != nil {
		return nil, err
	}
	a.LogSigner = signer
	l := audit.Open(a.DB, audit.Options{Logger: a.Log, Signer: signer})
	a.closers = append(a.closers, l.Close)
	return l, nil
}

// openAuth builds the token service. Its master key, which seals the
// signing keys in the database, comes from DEVMESH_MASTER_KEY or a key
// file in the data directory.
func (a *App) openAuth(ctx context.Context) (*auth.Service, error) {
	mk, err := auth.MasterKey(a.Dir.Path("keys", "master.key"), a.Getenv)
	if err != nil {
		return nil, err
	}
	cfg := auth.DefaultConfig()
	cfg.PublicURL = a.Cfg.URL()
	cfg.InviteTTL = a.Cfg.InviteTTL
	return auth.New(ctx, auth.Deps{DB: a.DB, MasterKey: mk, Audit: a.Audit,
		Log: a.Log, SessionLength: a.sessionLength}, cfg)
}

// sessionLength is the task's session duration for a submission.
func (a *App) sessionLength(ctx context.Context, sub store.Submission) (time.Duration, error) {
	asm, err := a.DB.Assessment(ctx, sub.OrgID, sub.AssessmentID)
	if err != nil {
		return 0, err
	}
	t, err := a.DB.Task(ctx, sub.OrgID, asm.TaskID)
	if err != nil {
		return 0, err
	}
	var m task.Manifest
	if err := json.Unmarshal(t.Manifest, &m); err != nil {
		return 0, err
	}
	return time.Duration(m.SessionDuration), nil
}
