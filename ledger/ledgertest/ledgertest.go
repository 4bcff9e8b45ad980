// Package ledgertest creates the rows a token account hangs off, for the
// tests of the ledger and of its users.
package ledgertest

import (
	"testing"
	"time"

	"github.com/devmesh/devmesh/store"
)

// MustSubmission creates an organisation, task, assessment and an open
// submission in db and returns the submission id.
func MustSubmission(t testing.TB, db *store.DB) string {
	t.Helper()
	ctx := t.Context()
	org, _, err := db.EnsureOrganization(ctx, "Ledger Test Org")
	if err != nil {
		t.Fatal(err)
	}
	task, _, err := db.PutTask(ctx, store.Task{OrgID: org.ID, Name: "t",
		Version: "1", Digest: "sha256:" + db.NewID("d"), Runtime: "python",
		Manifest: []byte(`{}`), SizeBytes: 1})
	if err != nil {
		t.Fatal(err)
	}
	a, err := db.CreateAssessment(ctx, store.Assessment{OrgID: org.ID,
		TaskID: task.ID, Title: "ledger"})
	if err != nil {
		t.Fatal(err)
	}
	hash := db.NewID("invite")
	s, err := db.CreateSubmission(ctx, org.ID, a.ID, "cand@example.com",
		hash, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.OpenSubmission(ctx, hash, time.Hour); err != nil {
		t.Fatal(err)
	}
	return s.ID
}
