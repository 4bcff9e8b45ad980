package auth

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/devmesh/devmesh/audit"
	"github.com/devmesh/devmesh/internal/secret"
	"github.com/devmesh/devmesh/server"
	"github.com/devmesh/devmesh/store"
	"github.com/devmesh/devmesh/store/storetest"
)

// memAppender is a test fake of the audit log: it keeps entries in memory
// and can be told to fail.
type memAppender struct {
	mu      sync.Mutex
	entries []audit.Entry
	fail    error
}

func (m *memAppender) Append(ctx context.Context, entries ...audit.Entry) ([]audit.Ack, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return nil, m.fail
	}
	acks := make([]audit.Ack, len(entries))
	for i, e := range entries {
		m.entries = append(m.entries, e)
		acks[i] = audit.Ack{Index: int64(len(m.entries) - 1), Seq: 1}
	}
	return acks, nil
}

func (m *memAppender) count(kind audit.Kind) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, e := range m.entries {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

// countingHasher wraps the real argon2id hasher and counts the hashing
// work it does, so tests can assert every sign-in path pays for one.
type countingHasher struct {
	*Hasher
	verifies atomic.Int64
}

func (c *countingHasher) Verify(encoded, password string) (bool, error) {
	c.verifies.Add(1)
	return c.Hasher.Verify(encoded, password)
}

// testParams are cheap argon2id parameters so tests stay fast; the
// encoded hash carries them, so production verification is unchanged.
var testParams = Params{Memory: 64, Time: 1, Threads: 1}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is one service on one real database behind a real HTTP server,
// with an organisation, an owner account and an assessment.
type env struct {
	t      testing.TB
	db     *store.DB
	svc    *Service
	srv    *httptest.Server
	clock  *clock
	audit  *memAppender
	hasher *countingHasher
	master secret.Bytes
	logs   *lockedBuffer // every log line of the service and the server
	org    store.Organization
	owner  store.Recruiter
	asm    store.Assessment
}

const ownerPassword = "correct horse battery staple"

func newEnv(t testing.TB, b storetest.Backend) *env {
	t.Helper()
	return newEnvWith(t, b.Open(t), func(*Config) {})
}

func newEnvWith(t testing.TB, db *store.DB, tweak func(*Config)) *env {
	t.Helper()
	e := &env{t: t, db: db, clock: &clock{t: time.Now().UTC()}, audit: &memAppender{},
		hasher: &countingHasher{Hasher: NewHasher(testParams)},
		master: secret.NewBytes([]byte(strings.Repeat("k", MasterKeySize))),
		logs:   &lockedBuffer{}}
	cfg := DefaultConfig()
	tweak(&cfg)
	e.svc = e.newService(cfg)
	s := server.New(e.logger(), e.svc)
	s.Handle(e.svc.Routes()...)
	s.Handle(server.Route{Pattern: "GET /api/v1/session/submissions/{id}",
		Audience: server.Candidate, Handler: func(w http.ResponseWriter, r *http.Request) error {
			if err := SameSubmission(r.Context(), r.PathValue("id")); err != nil {
				return err
			}
			return server.WriteJSON(w, 200, map[string]string{"id": r.PathValue("id")})
		}})
	s.Handle(server.Route{Pattern: "GET /api/v1/whoami", Audience: server.Recruiter,
		Roles: CanRead, Handler: func(w http.ResponseWriter, r *http.Request) error {
			p, _ := server.PrincipalFrom(r.Context())
			return server.WriteJSON(w, 200, p)
		}})
	e.srv = httptest.NewServer(s.Handler())
	t.Cleanup(e.srv.Close)
	e.org, e.owner = e.account("Acme", "owner@acme.example", store.RoleOwner)
	e.asm = e.assessment(e.org.ID)
	return e
}

func (e *env) newService(cfg Config) *Service {
	e.t.Helper()
	svc, err := New(context.Background(), Deps{DB: e.db, MasterKey: e.master, Audit: e.audit,
		Now: e.clock.Now, Hasher: e.hasher, Log: e.logger()}, cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	return svc
}

func (e *env) account(orgName, email, role string) (store.Organization, store.Recruiter) {
	e.t.Helper()
	ctx := context.Background()
	org, _, err := e.db.EnsureOrganization(ctx, orgName)
	if err != nil {
		e.t.Fatal(err)
	}
	hash, err := e.hasher.Hash(ownerPassword)
	if err != nil {
		e.t.Fatal(err)
	}
	rec, err := e.db.CreateRecruiter(ctx, org.ID, email, role, hash)
	if err != nil {
		e.t.Fatal(err)
	}
	return org, rec
}

func (e *env) assessment(orgID string) store.Assessment {
	e.t.Helper()
	ctx := context.Background()
	task, _, err := e.db.PutTask(ctx, store.Task{OrgID: orgID, Name: "rle", Version: "1",
		Digest: "sha256:" + orgID, Runtime: "python", Manifest: []byte(`{}`), SizeBytes: 1})
	if err != nil {
		e.t.Fatal(err)
	}
	a, err := e.db.CreateAssessment(ctx, store.Assessment{OrgID: orgID, TaskID: task.ID, Title: "Backend"})
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// response is a finished HTTP exchange.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (e *env) do(method, path, token string, body io.Reader, header ...string) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

func (e *env) postJSON(path, token string, v any) response {
	e.t.Helper()
	b, _ := json.Marshal(v)
	return e.do("POST", path, token, strings.NewReader(string(b)), "Content-Type", "application/json")
}

func (e *env) postForm(path string, form url.Values) response {
	e.t.Helper()
	return e.do("POST", path, "", strings.NewReader(form.Encode()),
		"Content-Type", "application/x-www-form-urlencoded")
}

func (e *env) login(email, password string) response {
	e.t.Helper()
	return e.postJSON("/api/v1/login", "", map[string]string{"email": email, "password": password})
}

// mustLogin signs in and returns the access and refresh tokens.
func (e *env) mustLogin(email string) (access, refresh string) {
	e.t.Helper()
	r := e.login(email, ownerPassword)
	if r.status != 200 {
		e.t.Fatalf("login %s: status %d %s", email, r.status, r.body)
	}
	var tr TokenResponse
	r.json(e.t, &tr)
	return tr.AccessToken, tr.RefreshToken
}

// mustInvite invites a candidate to assessment id and returns the answer.
func (e *env) mustInvite(access, asmID string) Invitation {
	e.t.Helper()
	r := e.postJSON("/api/v1/assessments/"+asmID+"/invitations", access,
		map[string]string{"email": "cand@example.com"})
	if r.status != 201 {
		e.t.Fatalf("invite: status %d %s", r.status, r.body)
	}
	var inv Invitation
	r.json(e.t, &inv)
	return inv
}

func tokenForm(subject, subjectType string) url.Values {
	return url.Values{"grant_type": {GrantTokenExchange}, "subject_token": {subject},
		"subject_token_type": {subjectType}}
}

// exchange trades an invite for a candidate token.
func (e *env) exchange(invite string) response {
	e.t.Helper()
	return e.postForm("/oauth/token", tokenForm(invite, TokenTypeInvite))
}

// mustCandidate invites and exchanges, returning the candidate token and
// the submission id.
func (e *env) mustCandidate() (token, submission string) {
	e.t.Helper()
	access, _ := e.mustLogin(e.owner.Email)
	inv := e.mustInvite(access, e.asm.ID)
	r := e.exchange(inv.InviteToken)
	if r.status != 200 {
		e.t.Fatalf("exchange: status %d %s", r.status, r.body)
	}
	var er ExchangeResponse
	r.json(e.t, &er)
	return er.AccessToken, inv.SubmissionID
}

func backends(t *testing.T, f func(t *testing.T, b storetest.Backend)) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) { f(t, b) })
	}
}

func wantStatus(t testing.TB, what string, r response, want int) {
	t.Helper()
	if r.status != want {
		t.Fatalf("%s: got status %d (%s), want %d", what, r.status, r.body, want)
	}
}

// lockedBuffer collects log output from concurrent requests.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (e *env) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
