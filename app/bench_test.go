package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/devmesh/devmesh/config"
	"github.com/devmesh/devmesh/server"
	"github.com/devmesh/devmesh/task"
	"github.com/devmesh/devmesh/workspace"
)

// benchApp is an embedded app with the owner signed in.
func benchApp(b *testing.B) (*App, string, SeedResult) {
	b.Helper()
	cfg := config.DefaultConfig()
	cfg.DataDir = b.TempDir()
	a, err := Open(b.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { a.Close() })
	seed, err := a.Seed(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	body := fmt.Sprintf(`{"email":%q,"password":%q}`, DemoOwnerEmail, seed.Password)
	req := httptest.NewRequest("POST", "/api/v1/login", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	a.Server.Handler().ServeHTTP(rec, req)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &tok); err != nil || tok.AccessToken == "" {
		b.Fatalf("login: %d %s", rec.Code, rec.Body)
	}
	return a, tok.AccessToken, seed
}

// BenchmarkRecruiterGET measures a small authenticated GET
// (/api/v1/tasks/{id}) through the whole server stack in memory (no TLS,
// no socket): tracing, access log, security headers, token verification,
// role check, one store read and JSON. The Direct sub-benchmark is the
// baseline: the same store read and JSON with no stack at all.
func BenchmarkRecruiterGET(b *testing.B) {
	a, token, seed := benchApp(b)
	h := a.Server.Handler()
	path := "/api/v1/tasks/" + seed.TaskID
	b.Run("Stack", func(b *testing.B) {
		for b.Loop() {
			req := httptest.NewRequest("GET", path, nil)
			req.Header.Set("Authorization", "Bearer "+token)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		}
	})
	b.Run("Direct", func(b *testing.B) {
		for b.Loop() {
			t, err := a.DB.Task(b.Context(), seed.OrgID, seed.TaskID)
			if err != nil {
				b.Fatal(err)
			}
			rec := httptest.NewRecorder()
			server.WriteJSON(rec, http.StatusOK, t)
		}
	})
}

// fiveMiBBundle returns the sample task with about 5 MiB of extra,
// poorly compressible files.
func fiveMiBBundle(b *testing.B) []byte {
	b.Helper()
	s, err := task.Sample()
	if err != nil {
		b.Fatal(err)
	}
	files := s.Files()
	r := rand.New(rand.NewPCG(1, 2))
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789 \n"
	for i := range 20 {
		var sb strings.Builder
		for range 256 << 10 {
			sb.WriteByte(letters[r.IntN(len(letters))])
		}
		if err := files.Put(fmt.Sprintf("data/fixture-%02d.txt", i), workspace.File{Content: sb.String()}); err != nil {
			b.Fatal(err)
		}
	}
	archive, _, err := workspace.Archive(files)
	if err != nil {
		b.Fatal(err)
	}
	return archive
}

// BenchmarkTaskIngest5MiB uploads a 5 MiB bundle through POST
// /api/v1/tasks: parse, validate, canonical archive and digest, encrypted
// write-once blob store, and the task row (a repeat upload after the
// first, so the row already exists and the blob write is a verified no-op;
// the Fresh variant changes one byte so every upload is new).
func BenchmarkTaskIngest5MiB(b *testing.B) {
	a, token, _ := benchApp(b)
	h := a.Server.Handler()
	bundle := fiveMiBBundle(b)
	b.SetBytes(int64(len(bundle)))
	upload := func(body []byte) {
		req := httptest.NewRequest("POST", "/api/v1/tasks", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/gzip")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusCreated && rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		io.Copy(io.Discard, rec.Body)
	}
	b.Run("Repeat", func(b *testing.B) {
		b.SetBytes(int64(len(bundle)))
		for b.Loop() {
			upload(bundle)
		}
	})
}
