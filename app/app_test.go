package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devmesh/devmesh/config"
	"github.com/devmesh/devmesh/task"
)

// testApp opens an embedded app in a temp directory, logging JSON to logs.
func testApp(t *testing.T, dir string, logs *bytes.Buffer) *App {
	t.Helper()
	cfg := config.DefaultConfig()
	cfg.DataDir = dir
	a, err := Open(t.Context(), cfg, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

type client struct {
	t      *testing.T
	base   string
	bodies *bytes.Buffer // every response body, for leak checks
}

func (c *client) do(method, path, token, ctype string, body io.Reader) (int, map[string]any) {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.base+path, body)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 400 {
		c.bodies.Write(b)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

func (c *client) json(method, path, token string, v any) (int, map[string]any) {
	b, _ := json.Marshal(v)
	return c.do(method, path, token, "application/json", bytes.NewReader(b))
}

func str(m map[string]any, k string) string { s, _ := m[k].(string); return s }

func TestSeedRunsOnceAndTheFlowLeaksNoSecret(t *testing.T) {
	dir := t.TempDir()
	var logs bytes.Buffer
	a := testApp(t, dir, &logs)
	ctx := t.Context()

	seed, err := a.Seed(ctx)
	if err != nil || seed.Password == "" || seed.TaskID == "" {
		t.Fatalf("first Seed = %+v, %v; want a password and the sample task", seed, err)
	}
	again, err := a.Seed(ctx)
	if err != nil || again.Password != "" || again.OwnerEmail != DemoOwnerEmail {
		t.Fatalf("second Seed = %+v, %v; want no new password", again, err)
	}

	ts := httptest.NewServer(a.Server.Handler())
	defer ts.Close()
	c := &client{t: t, base: ts.URL, bodies: &bytes.Buffer{}}

	// A failed sign-in with a password that is itself a known secret.
	wrong := "not-the-password-Zq81"
	if st, _ := c.json("POST", "/api/v1/login", "", map[string]string{"email": DemoOwnerEmail, "password": wrong}); st != 401 {
		t.Fatalf("wrong password: status %d, want 401", st)
	}
	st, login := c.json("POST", "/api/v1/login", "", map[string]string{"email": DemoOwnerEmail, "password": seed.Password})
	rec := str(login, "access_token")
	if st != 200 || rec == "" {
		t.Fatalf("login: %d %v", st, login)
	}

	sample, err := task.Sample()
	if err != nil {
		t.Fatal(err)
	}
	st, up := c.do("POST", "/api/v1/tasks", rec, "application/gzip", bytes.NewReader(sample.Archive()))
	if st != 200 || str(up, "id") != seed.TaskID || str(up, "digest") != sample.Digest().String() {
		t.Fatalf("re-upload of the sample: %d %v; want the seeded task %s", st, up, seed.TaskID)
	}
	st, asm := c.json("POST", "/api/v1/assessments", rec, map[string]string{"task_id": seed.TaskID, "title": "Backend"})
	if st != 201 {
		t.Fatalf("create assessment: %d %v", st, asm)
	}
	st, inv := c.json("POST", "/api/v1/assessments/"+str(asm, "id")+"/invitations", rec, map[string]string{"email": "cand@example.com"})
	invite := str(inv, "invite_token")
	if st != 201 || invite == "" || str(inv, "submission_id") == "" {
		t.Fatalf("invite: %d %v", st, inv)
	}
	form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"},
		"subject_token": {invite}, "subject_token_type": {"urn:devmesh:params:oauth:token-type:invite"}}
	st, tok := c.do("POST", "/oauth/token", "", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	cand := str(tok, "access_token")
	if st != 200 || cand == "" {
		t.Fatalf("exchange: %d %v", st, tok)
	}
	if st, _ := c.do("POST", "/oauth/token", "", "application/x-www-form-urlencoded", strings.NewReader(form.Encode())); st != 400 {
		t.Fatalf("second exchange of one invite: %d, want 400", st)
	}
	if st, sess := c.do("GET", "/api/v1/session", cand, "", nil); st != 200 || str(sess, "submission_id") != str(inv, "submission_id") {
		t.Fatalf("session: %d %v", st, sess)
	}
	if st, _ := c.do("GET", "/api/v1/tasks", cand, "", nil); st != 401 {
		t.Fatalf("candidate token on a recruiter route: %d, want 401", st)
	}
	sub := str(inv, "submission_id")
	if st, _ := c.do("GET", "/api/v1/submissions/"+sub, rec, "", nil); st != 200 {
		t.Fatalf("recruiter reads the submission: %d", st)
	}

	// The candidate edits the starter file; the log alone rebuilds it.
	edit := map[string]any{"events": []map[string]any{{
		"id": "e1", "kind": "editor.ops",
		"payload": map[string]any{"file": "rle.py", "changes": []map[string]any{{"from": 0, "to": 0, "insert": "# edited\n"}}},
	}}}
	st, acks := c.json("POST", "/api/v1/session/events", cand, edit)
	if st != 200 {
		t.Fatalf("ingest: %d %v", st, acks)
	}
	seq := lastSeq(t, acks)
	if st, again := c.json("POST", "/api/v1/session/events", cand, edit); st != 200 || lastSeq(t, again) != seq {
		t.Fatalf("retry of an accepted batch: %d %v; want the same ack (seq %d)", st, again, seq)
	}
	bad := map[string]any{"events": []map[string]any{
		{"id": "e2", "kind": "editor.ops", "payload": map[string]any{"file": "rle.py",
			"changes": []map[string]any{{"from": 0, "to": 0, "insert": "ok"}}}},
		{"id": "e3", "kind": "editor.ops", "payload": map[string]any{"file": "rle.py",
			"changes": []map[string]any{{"from": 1 << 20, "to": 1 << 20, "insert": "x"}}}},
	}}
	st, refusal := c.json("POST", "/api/v1/session/events", cand, bad)
	if msg := errMessage(refusal); st != 400 || !strings.Contains(msg, `event 1 (id "e3")`) {
		t.Fatalf("edit past the end of the file: %d %q; want 400 naming event 1", st, msg)
	}
	st, replay := c.do("GET", fmt.Sprintf("/api/v1/submissions/%s/replay?seq=%d", sub, seq), rec, "", nil)
	if st != 200 || !strings.HasPrefix(fileContent(replay, "rle.py"), "# edited\n") {
		t.Fatalf("replay at %d: %d %v", seq, st, replay)
	}
	if fileContent(replay, "main.py") == "" {
		t.Fatalf("replay lacks the starter file main.py: %v", replay)
	}

	secrets := map[string]string{
		"owner password": seed.Password, "wrong password": wrong,
		"recruiter token": rec, "candidate token": cand, "invite": invite,
	}
	for _, f := range []string{"master.key", "log-signer.key", "blob-kek.key"} {
		b, err := os.ReadFile(filepath.Join(dir, "keys", f))
		if err != nil {
			t.Fatal(err)
		}
		// Key files hold base64 key material; the log signer's is the
		// last field of a note key, PRIVATE+KEY+<name>+<hash>+<key>.
		text := strings.TrimSpace(string(b))
		if parts := strings.SplitN(text, "+", 5); len(parts) == 5 && parts[0] == "PRIVATE" {
			text = parts[4]
		}
		secrets[f] = text
	}
	for name, s := range secrets {
		if len(s) < 8 {
			t.Fatalf("secret %s too short to search for: %q", name, s)
		}
		if strings.Contains(logs.String(), s) {
			t.Errorf("the %s appears in the logs", name)
		}
		if strings.Contains(c.bodies.String(), s) {
			t.Errorf("the %s appears in an error body", name)
		}
	}
	if !strings.Contains(logs.String(), `"msg":"http request"`) {
		t.Fatal("no access records were logged: the leak check saw nothing")
	}
}

func TestBadTaskBundlesLeaveNothingBehind(t *testing.T) {
	var logs bytes.Buffer
	a := testApp(t, t.TempDir(), &logs)
	seed, err := a.Seed(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(a.Server.Handler())
	defer ts.Close()
	c := &client{t: t, base: ts.URL, bodies: &bytes.Buffer{}}
	_, login := c.json("POST", "/api/v1/login", "", map[string]string{"email": DemoOwnerEmail, "password": seed.Password})
	rec := str(login, "access_token")

	blobsBefore := countFiles(t, a.Dir.Path("blobs"))
	tests := []struct {
		name, ctype string
		body        []byte
		status      int
	}{
		{"not gzip", "application/gzip", []byte("hello"), 400},
		{"wrong content type", "application/json", []byte("{}"), 400},
		{"over the size limit", "application/gzip", bytes.Repeat([]byte{0}, 21<<20), 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, body := c.do("POST", "/api/v1/tasks", rec, tt.ctype, bytes.NewReader(tt.body))
			if st != tt.status {
				t.Fatalf("status %d %v, want %d", st, body, tt.status)
			}
		})
	}
	list, err := a.DB.Tasks(context.Background(), seed.OrgID)
	if err != nil || len(list) != 1 {
		t.Fatalf("tasks after bad uploads: %d, %v; want only the sample", len(list), err)
	}
	if after := countFiles(t, a.Dir.Path("blobs")); after != blobsBefore {
		t.Fatalf("blob files: %d before, %d after bad uploads", blobsBefore, after)
	}
}

func errMessage(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	s, _ := e["message"].(string)
	return s
}

func lastSeq(t *testing.T, acks map[string]any) int64 {
	t.Helper()
	list, _ := acks["acks"].([]any)
	if len(list) == 0 {
		t.Fatalf("no acks in %v", acks)
	}
	last, _ := list[len(list)-1].(map[string]any)
	seq, _ := last["seq"].(float64)
	return int64(seq)
}

func fileContent(replay map[string]any, path string) string {
	files, _ := replay["files"].([]any)
	for _, f := range files {
		m, _ := f.(map[string]any)
		if m["path"] == path {
			s, _ := m["content"].(string)
			return s
		}
	}
	return ""
}

func countFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return nil
	})
	return n
}
