// Package storetest is the conformance suite every store backend must
// pass. It runs the same behaviours against a freshly migrated SQLite file
// and a fresh PostgreSQL database, so the two dialects cannot drift apart.
package storetest

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/devmesh/devmesh/internal/errs"
	"github.com/devmesh/devmesh/internal/testenv"
	"github.com/devmesh/devmesh/store"
)

// Backend opens a fresh, migrated database for one test.
type Backend struct {
	Name string
	Open func(t testing.TB) *store.DB
}

// Backends returns SQLite and PostgreSQL. The PostgreSQL backend skips
// (or, under CI, fails) when no test server is configured.
func Backends() []Backend {
	return []Backend{
		{Name: "sqlite", Open: func(t testing.TB) *store.DB {
			return MustOpen(t, filepath.Join(t.TempDir(), "devmesh.db"))
		}},
		{Name: "postgres", Open: func(t testing.TB) *store.DB {
			return MustOpen(t, testenv.PostgresURL(t))
		}},
	}
}

// MustOpen opens and migrates the database at url, closing it when the
// test ends.
func MustOpen(t testing.TB, url string) *store.DB {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, url, store.Options{})
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return db
}

// Run runs the conformance suite against every backend.
func Run(t *testing.T) {
	for _, b := range Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Run("migrations are current and idempotent", func(t *testing.T) { testMigrations(t, b.Open(t)) })
			t.Run("organizations", func(t *testing.T) { testOrganizations(t, b.Open(t)) })
			t.Run("recruiters", func(t *testing.T) { testRecruiters(t, b.Open(t)) })
			t.Run("tasks deduplicate by digest", func(t *testing.T) { testTasks(t, b.Open(t)) })
			t.Run("assessments are scoped to their organization", func(t *testing.T) { testAssessments(t, b.Open(t)) })
			t.Run("an invite opens exactly one submission once", func(t *testing.T) { testInvites(t, b.Open(t)) })
			t.Run("submission states only move forward", func(t *testing.T) { testAdvance(t, b.Open(t)) })
		})
	}
}

func wantKind(t *testing.T, what string, err error, kind errs.Kind) {
	t.Helper()
	if got := errs.KindOf(err); err == nil || got != kind {
		t.Fatalf("%s: got error %v (kind %v), want kind %v", what, err, got, kind)
	}
}

func testMigrations(t *testing.T, db *store.DB) {
	ctx := t.Context()
	ok, err := db.MigrationsCurrent(ctx)
	if err != nil || !ok {
		t.Fatalf("MigrationsCurrent = %v, %v; want true, nil", ok, err)
	}
	n, err := db.Migrate(ctx)
	if err != nil || n != 0 {
		t.Fatalf("second Migrate applied %d, err %v; want 0, nil", n, err)
	}
}

func testOrganizations(t *testing.T, db *store.DB) {
	ctx := t.Context()
	a, created, err := db.EnsureOrganization(ctx, "Acme")
	if err != nil || !created {
		t.Fatalf("first EnsureOrganization: created=%v err=%v", created, err)
	}
	b, created, err := db.EnsureOrganization(ctx, "Acme")
	if err != nil || created || b.ID != a.ID {
		t.Fatalf("second EnsureOrganization: id %q created=%v err=%v; want %q, false", b.ID, created, err, a.ID)
	}
	_, _, err = db.EnsureOrganization(ctx, "  ")
	wantKind(t, "blank name", err, errs.Invalid)
	n, err := db.CountOrganizations(ctx)
	if err != nil || n != 1 {
		t.Fatalf("CountOrganizations = %d, %v; want 1", n, err)
	}
}

func mustOrg(t *testing.T, db *store.DB, name string) store.Organization {
	t.Helper()
	o, _, err := db.EnsureOrganization(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func testRecruiters(t *testing.T, db *store.DB) {
	ctx := t.Context()
	org := mustOrg(t, db, "Acme")
	r, err := db.CreateRecruiter(ctx, org.ID, " Ada@Example.COM ", store.RoleOwner, "$argon2id$x")
	if err != nil {
		t.Fatal(err)
	}
	if r.Email != "ada@example.com" {
		t.Errorf("email = %q, want lowercased and trimmed", r.Email)
	}
	got, err := db.RecruiterByEmail(ctx, "ADA@example.com")
	if err != nil || got.ID != r.ID || got.Role != store.RoleOwner || got.Disabled {
		t.Fatalf("RecruiterByEmail = %+v, %v", got, err)
	}
	_, err = db.CreateRecruiter(ctx, org.ID, "ada@example.com", store.RoleViewer, "h")
	wantKind(t, "duplicate email", err, errs.Conflict)
	_, err = db.CreateRecruiter(ctx, org.ID, "bob@example.com", "superuser", "h")
	wantKind(t, "unknown role", err, errs.Invalid)
	_, err = db.CreateRecruiter(ctx, org.ID, "not-an-email", store.RoleViewer, "h")
	wantKind(t, "bad email", err, errs.Invalid)
	_, err = db.CreateRecruiter(ctx, "org_missing", "carol@example.com", store.RoleViewer, "h")
	wantKind(t, "missing organization", err, errs.NotFound)
	_, err = db.RecruiterByEmail(ctx, "nobody@example.com")
	wantKind(t, "unknown email", err, errs.NotFound)
}

func mustTask(t *testing.T, db *store.DB, orgID, digest string) store.Task {
	t.Helper()
	task, _, err := db.PutTask(t.Context(), store.Task{OrgID: orgID, Name: "rle",
		Version: "1", Digest: digest, Runtime: "python",
		Manifest: []byte(`{"name":"rle"}`), SizeBytes: 10})
	if err != nil {
		t.Fatal(err)
	}
	return task
}

func testTasks(t *testing.T, db *store.DB) {
	ctx := t.Context()
	org := mustOrg(t, db, "Acme")
	other := mustOrg(t, db, "Other")
	a := mustTask(t, db, org.ID, "sha256:aa")
	b, created, err := db.PutTask(ctx, store.Task{OrgID: org.ID, Name: "renamed",
		Version: "2", Digest: "sha256:aa", Runtime: "python", Manifest: []byte(`{}`)})
	if err != nil || created || b.ID != a.ID || b.Name != "rle" {
		t.Fatalf("same digest again: id %q name %q created=%v err=%v; want existing %q", b.ID, b.Name, created, err, a.ID)
	}
	c := mustTask(t, db, other.ID, "sha256:aa")
	if c.ID == a.ID {
		t.Fatalf("another organization's upload reused task %q", a.ID)
	}
	list, err := db.Tasks(ctx, org.ID)
	if err != nil || len(list) != 1 || list[0].ID != a.ID {
		t.Fatalf("Tasks = %+v, %v; want only %q", list, err, a.ID)
	}
	_, err = db.Task(ctx, other.ID, a.ID)
	wantKind(t, "task of another organization", err, errs.NotFound)
	if string(list[0].Manifest) != `{"name":"rle"}` {
		t.Errorf("manifest = %s", list[0].Manifest)
	}
}

func testAssessments(t *testing.T, db *store.DB) {
	ctx := t.Context()
	org := mustOrg(t, db, "Acme")
	other := mustOrg(t, db, "Other")
	task := mustTask(t, db, org.ID, "sha256:bb")
	a, err := db.CreateAssessment(ctx, store.Assessment{OrgID: org.ID, TaskID: task.ID, Title: "Backend"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.CreateAssessment(ctx, store.Assessment{OrgID: other.ID, TaskID: task.ID, Title: "Steal"})
	wantKind(t, "assessment of another organization's task", err, errs.Invalid)
	_, err = db.CreateAssessment(ctx, store.Assessment{OrgID: org.ID, TaskID: task.ID, Title: ""})
	wantKind(t, "empty title", err, errs.Invalid)
	_, err = db.Assessment(ctx, other.ID, a.ID)
	wantKind(t, "read across organizations", err, errs.NotFound)
	got, err := db.Assessment(ctx, org.ID, a.ID)
	if err != nil || got.TaskID != task.ID || string(got.Settings) != "{}" {
		t.Fatalf("Assessment = %+v, %v", got, err)
	}
	wantKind(t, "delete across organizations", db.DeleteAssessment(ctx, other.ID, a.ID), errs.NotFound)
	if err := db.DeleteAssessment(ctx, org.ID, a.ID); err != nil {
		t.Fatal(err)
	}
	_, err = db.Assessment(ctx, org.ID, a.ID)
	wantKind(t, "deleted assessment", err, errs.NotFound)
	list, err := db.Assessments(ctx, org.ID)
	if err != nil || len(list) != 0 {
		t.Fatalf("Assessments after delete = %+v, %v; want none", list, err)
	}
}

func mustAssessment(t *testing.T, db *store.DB) (store.Organization, store.Assessment) {
	t.Helper()
	org := mustOrg(t, db, "Acme")
	task := mustTask(t, db, org.ID, "sha256:cc")
	a, err := db.CreateAssessment(t.Context(), store.Assessment{OrgID: org.ID, TaskID: task.ID, Title: "Backend"})
	if err != nil {
		t.Fatal(err)
	}
	return org, a
}

func testInvites(t *testing.T, db *store.DB) {
	ctx := t.Context()
	org, a := mustAssessment(t, db)
	s, err := db.CreateSubmission(ctx, org.ID, a.ID, "cand@example.com", "hash-1", time.Now().Add(time.Hour))
	if err != nil || s.State != store.StateInvited {
		t.Fatalf("CreateSubmission = %+v, %v", s, err)
	}

	const racers = 8
	var wg sync.WaitGroup
	results := make(chan error, racers)
	for range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := db.OpenSubmission(ctx, "hash-1", time.Hour)
			results <- err
		}()
	}
	wg.Wait()
	close(results)
	wins := 0
	for err := range results {
		if err == nil {
			wins++
		} else if !errs.Is(err, errs.Unauthenticated) {
			t.Errorf("losing exchange: %v, want invalid invite", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d of %d racing exchanges won, want exactly 1", wins, racers)
	}
	got, err := db.SubmissionByID(ctx, s.ID)
	if err != nil || got.State != store.StateOpen || got.OpenedAt == nil || got.DeadlineAt == nil {
		t.Fatalf("after exchange: %+v, %v", got, err)
	}

	_, err = db.CreateSubmission(ctx, org.ID, a.ID, "late@example.com", "hash-expired", time.Now().Add(-time.Second))
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.OpenSubmission(ctx, "hash-expired", time.Hour)
	wantKind(t, "expired invite", err, errs.Unauthenticated)

	_, err = db.CreateSubmission(ctx, org.ID, a.ID, "gone@example.com", "hash-deleted", time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteAssessment(ctx, org.ID, a.ID); err != nil {
		t.Fatal(err)
	}
	_, err = db.OpenSubmission(ctx, "hash-deleted", time.Hour)
	wantKind(t, "invite of a deleted assessment", err, errs.Unauthenticated)
	_, err = db.OpenSubmission(ctx, "hash-unknown", time.Hour)
	wantKind(t, "unknown invite", err, errs.Unauthenticated)
}

func testAdvance(t *testing.T, db *store.DB) {
	ctx := t.Context()
	org, a := mustAssessment(t, db)
	s, err := db.CreateSubmission(ctx, org.ID, a.ID, "cand@example.com", "h", time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Advance(ctx, s.ID, store.StateOpen, store.StateSubmitted)
	wantKind(t, "submit before open", err, errs.Conflict)
	if _, err := db.OpenSubmission(ctx, "h", time.Hour); err != nil {
		t.Fatal(err)
	}
	got, err := db.Advance(ctx, s.ID, store.StateOpen, store.StateSubmitted)
	if err != nil || got.State != store.StateSubmitted || got.SubmittedAt == nil {
		t.Fatalf("submit: %+v, %v", got, err)
	}
	_, err = db.Advance(ctx, s.ID, store.StateOpen, store.StateSubmitted)
	wantKind(t, "submit twice", err, errs.Conflict)
	if _, err := db.Advance(ctx, s.ID, store.StateSubmitted, store.StateOpen); err == nil {
		t.Fatal("moving back to open succeeded")
	}
}
