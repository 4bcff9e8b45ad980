package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/devmesh/devmesh/blob"
	"github.com/devmesh/devmesh/store"
	"github.com/devmesh/devmesh/task"
)

// SeedResult says what Seed created. Password is set only on the start
// that created the owner account; it is never stored in clear.
type SeedResult struct {
	OwnerEmail string
	Password   string
	OrgID      string
	TaskID     string
}

// Seeded organisation and owner of a fresh embedded installation.
const (
	DemoOrg        = "Demo"
	DemoOwnerEmail = "owner@devmesh.local"
)

// Seed prepares a fresh embedded installation on its first start: an
// organisation, an owner account with a generated password and the sample
// task. On later starts (any organisation exists) it changes nothing and
// returns no password.
func (a *App) Seed(ctx context.Context) (SeedResult, error) {
	res := SeedResult{OwnerEmail: DemoOwnerEmail}
	n, err := a.DB.CountOrganizations(ctx)
	if err != nil {
		return res, err
	}
	if n > 0 {
		if owner, err := a.DB.RecruiterByEmail(ctx, DemoOwnerEmail); err == nil {
			res.OrgID = owner.OrgID
		} else {
			res.OwnerEmail = ""
		}
		return res, nil
	}
	password := GeneratePassword()
	owner, _, err := CreateRecruiter(ctx, a.DB, DemoOrg, DemoOwnerEmail, store.RoleOwner, password)
	if err != nil {
		return res, fmt.Errorf("create owner: %w", err)
	}
	t, err := a.storeSampleTask(ctx, owner.OrgID)
	if err != nil {
		return res, err
	}
	a.Log.Info("seeded first start", "org", owner.OrgID, "owner", owner.Email, "task", t.ID)
	res.Password, res.OrgID, res.TaskID = password.Reveal(), owner.OrgID, t.ID
	return res, nil
}

func (a *App) storeSampleTask(ctx context.Context, orgID string) (store.Task, error) {
	b, err := task.Sample()
	if err != nil {
		return store.Task{}, fmt.Errorf("load sample task: %w", err)
	}
	d, err := blob.ParseDigest(b.Digest().String())
	if err != nil {
		return store.Task{}, err
	}
	if _, err := a.Blobs.Put(ctx, TaskScope, d, bytes.NewReader(b.Archive())); err != nil {
		return store.Task{}, fmt.Errorf("store sample task: %w", err)
	}
	manifest, err := json.Marshal(b.Manifest)
	if err != nil {
		return store.Task{}, err
	}
	t, _, err := a.DB.PutTask(ctx, store.Task{OrgID: orgID, Name: b.Manifest.Name,
		Version: b.Manifest.Version, Digest: b.Digest().String(), Runtime: b.Manifest.Runtime,
		Manifest: manifest, SizeBytes: int64(len(b.Archive()))})
	return t, err
}
