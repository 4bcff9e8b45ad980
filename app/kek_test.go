package app

import (
	"bytes"
	"log/slog"
	"testing"

	"github.com/devmesh/devmesh/blob"
	"github.com/devmesh/devmesh/config"
	"github.com/devmesh/devmesh/task"
)

func TestBlobKEKRotationRewrapsAndKeepsBlobsReadable(t *testing.T) {
	dir := t.TempDir()
	var logs bytes.Buffer
	a := testApp(t, dir, &logs)
	if _, err := a.Seed(t.Context()); err != nil {
		t.Fatal(err)
	}
	sample, err := task.Sample()
	if err != nil {
		t.Fatal(err)
	}
	d, _ := blob.ParseDigest(sample.Digest().String())
	raw := func(a *App) []byte {
		key, err := blob.ObjectKey(TaskScope, d)
		if err != nil {
			t.Fatal(err)
		}
		b, err := a.Blobs.Backend().(*blob.LocalBackend).Open(t.Context(), key)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		var buf bytes.Buffer
		buf.ReadFrom(b)
		return buf.Bytes()
	}
	before := raw(a)

	id, n, err := a.RotateBlobKEK(t.Context())
	if err != nil || id != "local-2" || n != 1 {
		t.Fatalf("RotateBlobKEK = %q, %d, %v; want local-2 rewrapping the one task scope key", id, n, err)
	}
	var kekID string
	if err := a.DB.SQL.QueryRow(`SELECT kek_id FROM blob_data_keys WHERE scope = ?`, TaskScope).Scan(&kekID); err != nil || kekID != "local-2" {
		t.Fatalf("task scope key wrapped by %q (%v), want local-2", kekID, err)
	}
	a.Close()

	cfg := config.DefaultConfig()
	cfg.DataDir = dir
	b, err := Open(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if !bytes.Equal(raw(b), before) {
		t.Fatal("rotation rewrote the stored blob")
	}
	got, err := b.Blobs.ReadAll(t.Context(), TaskScope, d, task.MaxBundleBytes)
	if err != nil || !bytes.Equal(got, sample.Archive()) {
		t.Fatalf("read after rotation and restart: %v", err)
	}
}
