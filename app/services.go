package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/devmesh/devmesh/audit"
	"github.com/devmesh/devmesh/auth"
	"github.com/devmesh/devmesh/blob"
	"github.com/devmesh/devmesh/store"
	"github.com/devmesh/devmesh/task"
	"github.com/devmesh/devmesh/workspace"
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
		Log: a.Log, SessionLength: a.sessionLength, Opening: a.openingEntries, Budget: a.tokenBudget}, cfg)
}

// sessionLength is the task's session duration for a submission.
func (a *App) sessionLength(ctx context.Context, sub store.Submission) (time.Duration, error) {
	m, err := a.manifestFor(ctx, sub)
	if err != nil {
		return 0, err
	}
	return time.Duration(m.SessionDuration), nil
}

// taskOf returns the task bundle of a submission, read from blob storage
// and verified against its digest.
func (a *App) taskOf(ctx context.Context, sub store.Submission) (*task.Bundle, error) {
	t, err := a.taskRow(ctx, sub)
	if err != nil {
		return nil, err
	}
	d, err := blob.ParseDigest(t.Digest)
	if err != nil {
		return nil, err
	}
	archive, err := a.Blobs.ReadAll(ctx, TaskScope, d, task.MaxBundleBytes)
	if err != nil {
		return nil, fmt.Errorf("read task bundle %s: %w", t.Digest, err)
	}
	return task.ParseArchive(bytes.NewReader(archive))
}

// openingEntries puts the task's starter files (and visible tests) into
// the log as editor operations by the system, right after the submission
// opens, so the log alone rebuilds every workspace the candidate had.
func (a *App) openingEntries(ctx context.Context, sub store.Submission) ([]audit.Entry, error) {
	b, err := a.taskOf(ctx, sub)
	if err != nil {
		return nil, err
	}
	starter := b.Starter()
	var out []audit.Entry
	for _, p := range starter.Paths() {
		f, _ := starter.Get(p)
		op := workspace.Op{Op: workspace.OpCreate, File: p, Content: f.Content}
		if f.Exec {
			exec := true
			op.Exec = &exec
		}
		payload, err := json.Marshal(op)
		if err != nil {
			return nil, err
		}
		out = append(out, audit.Entry{SubmissionID: sub.ID, Kind: audit.KindEditorOps,
			Actor: audit.ActorSystem, ClientID: "starter:" + p, Payload: payload})
	}
	return out, nil
}
