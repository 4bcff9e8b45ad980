package runner

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"gocloud.dev/secrets/localsecrets"

	"github.com/devmesh/devmesh/audit"
	"github.com/devmesh/devmesh/blob"
	"github.com/devmesh/devmesh/internal/errs"
	"github.com/devmesh/devmesh/sandbox"
	"github.com/devmesh/devmesh/sandbox/local"
	"github.com/devmesh/devmesh/server"
	"github.com/devmesh/devmesh/store"
	"github.com/devmesh/devmesh/store/storetest"
	"github.com/devmesh/devmesh/task"
	"github.com/devmesh/devmesh/workspace"
)

func TestMain(m *testing.M) {
	local.MaybeRunTrampoline()
	os.Exit(m.Run())
}

// testCandidateAuth is a test authenticator: the bearer token is a
// submission id, accepted only while that submission is open, the same
// rule auth.Service applies to real candidate tokens.
type testCandidateAuth struct{ db *store.DB }

func (a testCandidateAuth) Authenticate(r *http.Request, aud server.Audience) (server.Principal, error) {
	id, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || aud != server.Candidate {
		return server.Principal{}, errs.E(errs.Unauthenticated, "no candidate token")
	}
	sub, err := a.db.SubmissionByID(r.Context(), id)
	if err != nil || sub.State != store.StateOpen {
		return server.Principal{}, errs.E(errs.Unauthenticated, "submission is not open")
	}
	return server.Principal{Audience: server.Candidate, Subject: id, OrgID: sub.OrgID,
		SubmissionID: id}, nil
}

// env is one database, blob store, audit log and API server.
type env struct {
	t      testing.TB
	db     *store.DB
	blobs  *blob.Store
	log    *audit.Log
	api    *API
	srv    *httptest.Server
	logger *slog.Logger
	org    store.Organization
}

func testLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func newEnv(t testing.TB, b storetest.Backend) *env {
	t.Helper()
	db := b.Open(t)
	if err := Migrate(t.Context(), db, testLogger()); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, db: db, blobs: mustBlobs(t), logger: testLogger()}
	e.log = audit.Open(db, audit.Options{Logger: e.logger})
	t.Cleanup(func() { e.log.Close() })
	api, err := NewAPI(APIDeps{DB: db, Blobs: e.blobs, Audit: e.log, Log: e.logger,
		PollEvery: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	e.api = api
	s := server.New(e.logger, testCandidateAuth{db})
	s.Handle(api.Routes()...)
	e.srv = httptest.NewServer(s.Handler())
	t.Cleanup(e.srv.Close)
	e.org, _, err = db.EnsureOrganization(t.Context(), "Acme")
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func mustBlobs(t testing.TB) *blob.Store {
	t.Helper()
	key, err := localsecrets.NewRandomKey()
	if err != nil {
		t.Fatal(err)
	}
	keeper := localsecrets.NewKeeper(key)
	t.Cleanup(func() { keeper.Close() })
	ring, err := blob.NewKeyring(blob.KEK{ID: "test", Keeper: keeper})
	if err != nil {
		t.Fatal(err)
	}
	backend, err := blob.NewLocalBackend(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s, err := blob.New(backend, blob.Options{Keys: ring, DataKeys: &blob.MemDataKeys{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// sampleTask returns the sample bundle, with edit applied to its
// manifest text when edit is set.
func sampleTask(t testing.TB, edit func(string) string) *task.Bundle {
	t.Helper()
	b, err := task.Sample()
	if err != nil {
		t.Fatal(err)
	}
	if edit == nil {
		return b
	}
	files := b.Files()
	m, _ := files.Get(task.ManifestFile)
	m.Content = edit(m.Content)
	if err := files.Put(task.ManifestFile, m); err != nil {
		t.Fatal(err)
	}
	b, err = task.ParseTree(files)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// openSubmission stores bundle, makes an assessment of it and opens a
// submission for it, with the starter files logged as the opening does.
func (e *env) openSubmission(b *task.Bundle) string {
	e.t.Helper()
	ctx := context.Background()
	a := e.assessment(b)
	hash := e.db.NewID("invite")
	sub, err := e.db.CreateSubmission(ctx, e.org.ID, a.ID, "cand@example.com", hash, time.Now().Add(time.Hour))
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.db.OpenSubmission(ctx, hash, time.Hour); err != nil {
		e.t.Fatal(err)
	}
	e.appendStarter(sub.ID, b)
	return sub.ID
}

// assessment stores bundle and makes an assessment of it.
func (e *env) assessment(b *task.Bundle) store.Assessment {
	e.t.Helper()
	ctx := context.Background()
	d, _ := blob.ParseDigest(b.Digest().String())
	if _, err := e.blobs.Put(ctx, blob.ScopeTasks, d, bytes.NewReader(b.Archive())); err != nil {
		e.t.Fatal(err)
	}
	tk, _, err := e.db.PutTask(ctx, store.Task{OrgID: e.org.ID, Name: b.Manifest.Name,
		Version: b.Manifest.Version, Digest: b.Digest().String(), Runtime: b.Manifest.Runtime,
		Manifest: []byte(`{}`), SizeBytes: int64(len(b.Archive()))})
	if err != nil {
		e.t.Fatal(err)
	}
	a, err := e.db.CreateAssessment(ctx, store.Assessment{OrgID: e.org.ID, TaskID: tk.ID, Title: "Runs"})
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// appendStarter logs the task's starter files as create ops, as the
// session opening does.
func (e *env) appendStarter(sub string, b *task.Bundle) {
	e.t.Helper()
	e.appendTree(sub, b.Starter())
}

// appendTree logs every file of tree as a create op by the system.
func (e *env) appendTree(sub string, starter *workspace.Tree) {
	e.t.Helper()
	var entries []audit.Entry
	for _, p := range starter.Paths() {
		f, _ := starter.Get(p)
		op := workspace.Op{Op: workspace.OpCreate, File: p, Content: f.Content}
		if f.Exec {
			x := true
			op.Exec = &x
		}
		payload, _ := json.Marshal(op)
		entries = append(entries, audit.Entry{SubmissionID: sub, Kind: audit.KindEditorOps,
			Actor: audit.ActorSystem, Payload: payload})
	}
	if _, err := e.log.Append(context.Background(), entries...); err != nil {
		e.t.Fatal(err)
	}
}

// appendOps logs editor ops of sub as the ingest API would.
func (e *env) appendOps(sub string, ops ...workspace.Op) {
	e.t.Helper()
	for _, op := range ops {
		p, err := json.Marshal(op)
		if err != nil {
			e.t.Fatal(err)
		}
		if _, err := e.log.Append(context.Background(), audit.Entry{SubmissionID: sub,
			Kind: audit.KindEditorOps, Actor: audit.ActorCandidate, Payload: p}); err != nil {
			e.t.Fatal(err)
		}
	}
}

// replaceFile returns an edit op replacing the whole ASCII content old
// of file with content.
func replaceFile(file, old, content string) workspace.Op {
	return workspace.Op{File: file, Changes: []workspace.Change{{From: 0, To: len(old), Insert: content}}}
}

// do sends a request as the candidate of sub and returns status and body.
func (e *env) do(method, path, sub string, body any) (int, []byte) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+sub)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

func (e *env) createRun(sub, command string) RunCreated {
	e.t.Helper()
	status, body := e.do("POST", "/api/v1/session/runs", sub, RunRequest{Command: command})
	if status != http.StatusAccepted {
		e.t.Fatalf("create run: status %d %s, want 202", status, body)
	}
	var rc RunCreated
	if err := json.Unmarshal(body, &rc); err != nil {
		e.t.Fatal(err)
	}
	return rc
}

// waitRun polls the run until done reports true or the time is up.
func (e *env) waitRun(sub, id string, within time.Duration, done func(RunView) bool) RunView {
	e.t.Helper()
	deadline := time.Now().Add(within)
	var v RunView
	for time.Now().Before(deadline) {
		status, body := e.do("GET", "/api/v1/session/runs/"+id, sub, nil)
		if status != http.StatusOK {
			e.t.Fatalf("get run: status %d %s", status, body)
		}
		v = RunView{}
		if err := json.Unmarshal(body, &v); err != nil {
			e.t.Fatal(err)
		}
		if done(v) {
			return v
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.t.Fatalf("run %s: still %s after %v (reason %q)", id, v.Status, within, v.Reason)
	return v
}

func isDone(v RunView) bool { return v.Status == StatusFinished || v.Status == StatusFailed }

// events returns the submission's events of kind.
func (e *env) events(sub string, kind audit.Kind) []audit.Event {
	e.t.Helper()
	all, err := audit.ReadEvents(context.Background(), e.db, sub, 0, 100000)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []audit.Event
	for _, ev := range all {
		if ev.Kind == kind {
			out = append(out, ev)
		}
	}
	return out
}

var (
	driverOnce sync.Once
	driver     *local.Driver
	driverErr  error
)

// mustDriver returns the real local sandbox driver, shared by the tests
// of this package, or skips when this host cannot run it (not root, no
// bubblewrap). Under CI a missing bwrap fails.
func mustDriver(t testing.TB) sandbox.Driver {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the local sandbox driver needs root to create cgroups")
	}
	if _, err := exec.LookPath("bwrap"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("bwrap is not installed: CI must test runs in the local sandbox")
		}
		t.Skip("bwrap is not installed")
	}
	driverOnce.Do(func() {
		driver, driverErr = local.New(local.Options{Logger: testLogger(), BaseUID: 63000})
	})
	if driverErr != nil {
		t.Fatal(driverErr)
	}
	return driver
}

// startRunner starts a runner on e with the real driver; it is stopped
// when the test ends.
func (e *env) startRunner(d sandbox.Driver, tweak func(*Deps)) *Runner {
	e.t.Helper()
	deps := Deps{DB: e.db, Blobs: e.blobs, Audit: e.log, Driver: d, Log: e.logger,
		Concurrency: 2, SweepEvery: 200 * time.Millisecond}
	if tweak != nil {
		tweak(&deps)
	}
	r, err := Start(context.Background(), deps)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r.StopNow(ctx)
	})
	return r
}

// sseEvent is one parsed Server-Sent Event.
type sseEvent struct{ name, id, data string }

// readSSE parses a Server-Sent Events stream until it ends.
func readSSE(r io.Reader) ([]sseEvent, error) {
	var out []sseEvent
	var cur sseEvent
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur.name != "" || cur.data != "" {
				out = append(out, cur)
			}
			cur = sseEvent{}
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "event: "):
			cur.name = line[len("event: "):]
		case strings.HasPrefix(line, "id: "):
			cur.id = line[len("id: "):]
		case strings.HasPrefix(line, "data: "):
			cur.data += line[len("data: "):]
		default:
			return out, fmt.Errorf("unexpected SSE line %q", line)
		}
	}
	return out, sc.Err()
}
