package audit

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/devmesh/devmesh/internal/errs"
	"github.com/devmesh/devmesh/server"
	"github.com/devmesh/devmesh/store"
	"github.com/devmesh/devmesh/store/storetest"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/tlog"
)

// fakeAuth is a test fake for the token verifier, which lives in another
// package: "Bearer candidate:<submission>" and "Bearer recruiter:<org>".
type fakeAuth struct{}

func (fakeAuth) Authenticate(r *http.Request, aud server.Audience) (server.Principal, error) {
	kind, id, ok := strings.Cut(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "), ":")
	switch {
	case ok && kind == "candidate":
		return server.Principal{Audience: server.Candidate, Subject: id, SubmissionID: id}, nil
	case ok && kind == "recruiter":
		return server.Principal{Audience: server.Recruiter, Subject: "rec", OrgID: id, Role: "owner"}, nil
	}
	return server.Principal{}, errs.E(errs.Unauthenticated, "no test token")
}

// env is a log behind a real HTTP server, with one open submission.
type env struct {
	db  *store.DB
	log *Log
	url string
	org string
	sub string
}

func newEnv(t *testing.T, db *store.DB) *env {
	t.Helper()
	l := mustLog(t, db, Options{Signer: testSigner(t)})
	org, sub := mustOpenSubmission(t, db, "hash-1")
	return &env{db: db, log: l, url: serve(t, l), org: org, sub: sub}
}

func mustOpenSubmission(t *testing.T, db *store.DB, inviteHash string) (org, sub string) {
	t.Helper()
	ctx := t.Context()
	o, _, err := db.EnsureOrganization(ctx, "Acme")
	if err != nil {
		t.Fatal(err)
	}
	task, _, err := db.PutTask(ctx, store.Task{OrgID: o.ID, Name: "t", Version: "1",
		Digest: "sha256:" + inviteHash, Runtime: "python", Manifest: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	a, err := db.CreateAssessment(ctx, store.Assessment{OrgID: o.ID, TaskID: task.ID, Title: "A"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := db.CreateSubmission(ctx, o.ID, a.ID, "c@example.com", inviteHash, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.OpenSubmission(ctx, inviteHash, time.Hour); err != nil {
		t.Fatal(err)
	}
	return o.ID, s.ID
}

// do sends a request and decodes a JSON response into out, returning the
// status and the raw body.
func (e *env) do(t *testing.T, method, path, token string, body any, out any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequestWithContext(t.Context(), method, e.url+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("decode %s: %v", raw, err)
		}
	}
	return resp.StatusCode, raw
}

func decodeProof(t *testing.T, p []string) [][]byte {
	t.Helper()
	out := make([][]byte, len(p))
	for i, s := range p {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = b
	}
	return out
}

// TestProofsVerifyIndependently checks the proof routes' answers with
// transparency-dev/merkle, a verifier we did not write.
func TestProofsVerifyIndependently(t *testing.T) {
	forBackends(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		var leaves [][]byte
		for i := range 37 {
			acks := mustAppend(t, e.log, entry(e.sub, fmt.Sprint(i), i))
			ev, err := EventAt(t.Context(), db, acks[0].Index)
			if err != nil {
				t.Fatal(err)
			}
			leaves = append(leaves, ev.Encode())
		}
		roots := map[int64][]byte{}
		for size := int64(1); size <= 37; size++ {
			h, err := e.log.TreeHash(t.Context(), size)
			if err != nil {
				t.Fatal(err)
			}
			roots[size] = h[:]
		}
		checkInclusion(t, e, leaves, roots)
		checkConsistency(t, e, roots)
		checkCheckpointRoute(t, e, roots[37])
	})
}

func checkInclusion(t *testing.T, e *env, leaves [][]byte, roots map[int64][]byte) {
	h := rfc6962.DefaultHasher
	for _, c := range [][2]int64{{0, 1}, {0, 37}, {5, 6}, {17, 32}, {36, 37}, {12, 20}} {
		var resp ProofResponse
		path := fmt.Sprintf("/api/v1/log/proofs/inclusion?index=%d&size=%d", c[0], c[1])
		if st, body := e.do(t, "GET", path, "", nil, &resp); st != 200 {
			t.Fatalf("%s: %d %s", path, st, body)
		}
		p := decodeProof(t, resp.Proof)
		leaf := h.HashLeaf(leaves[c[0]])
		if err := proof.VerifyInclusion(h, uint64(c[0]), uint64(c[1]), leaf, p, roots[c[1]]); err != nil {
			t.Errorf("inclusion of %d in %d: %v", c[0], c[1], err)
		}
		wrong := h.HashLeaf(append([]byte("x"), leaves[c[0]]...))
		if proof.VerifyInclusion(h, uint64(c[0]), uint64(c[1]), wrong, p, roots[c[1]]) == nil {
			t.Errorf("inclusion proof of %d in %d also proves another leaf", c[0], c[1])
		}
	}
	for _, bad := range []string{"index=5&size=5", "index=0&size=38", "index=-1&size=3", "size=3"} {
		if st, _ := e.do(t, "GET", "/api/v1/log/proofs/inclusion?"+bad, "", nil, nil); st != 400 {
			t.Errorf("inclusion ?%s: status %d, want 400", bad, st)
		}
	}
}

func checkConsistency(t *testing.T, e *env, roots map[int64][]byte) {
	h := rfc6962.DefaultHasher
	for _, c := range [][2]int64{{1, 37}, {7, 8}, {8, 32}, {13, 37}, {37, 37}, {20, 21}} {
		var resp ProofResponse
		path := fmt.Sprintf("/api/v1/log/proofs/consistency?old=%d&new=%d", c[0], c[1])
		if st, body := e.do(t, "GET", path, "", nil, &resp); st != 200 {
			t.Fatalf("%s: %d %s", path, st, body)
		}
		p := decodeProof(t, resp.Proof)
		if err := proof.VerifyConsistency(h, uint64(c[0]), uint64(c[1]), p, roots[c[0]], roots[c[1]]); err != nil {
			t.Errorf("consistency %d -> %d: %v", c[0], c[1], err)
		}
	}
	for _, bad := range []string{"old=0&new=3", "old=5&new=4", "old=3&new=38"} {
		if st, _ := e.do(t, "GET", "/api/v1/log/proofs/consistency?"+bad, "", nil, nil); st != 400 {
			t.Errorf("consistency ?%s: status %d, want 400", bad, st)
		}
	}
}

func checkCheckpointRoute(t *testing.T, e *env, root []byte) {
	st, key := e.do(t, "GET", "/api/v1/log/key", "", nil, nil)
	if st != 200 || strings.TrimSpace(string(key)) != testVerifierKey(t) {
		t.Fatalf("key route: %d %q", st, key)
	}
	st, note := e.do(t, "GET", "/api/v1/log/checkpoint", "", nil, nil)
	if st != 200 {
		t.Fatalf("checkpoint route: %d %s", st, note)
	}
	c, err := OpenCheckpoint(note, strings.TrimSpace(string(key)))
	if err != nil || c.Size != 37 || !bytes.Equal(c.Root[:], root) {
		t.Fatalf("checkpoint = %+v, %v; want size 37 and the tree's root", c, err)
	}
	want := FormatCheckpoint("devmesh.test/log", 37, tlog.Hash(root))
	if !strings.HasPrefix(string(note), want+"\n— devmesh.test/log ") {
		t.Errorf("checkpoint note = %q, want body %q and a signature line", note, want)
	}
}

func mustSQLite(t *testing.T) *store.DB {
	t.Helper()
	return storetest.MustOpen(t, filepath.Join(t.TempDir(), "devmesh.db"))
}

// serve starts an HTTP server for l's routes and returns its URL.
func serve(t *testing.T, l *Log) string {
	t.Helper()
	s := server.New(slog.New(slog.DiscardHandler), fakeAuth{})
	s.Handle(NewAPI(l).Routes()...)
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts.URL
}
