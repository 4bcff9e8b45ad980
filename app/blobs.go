package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"path/filepath"
	"time"

	"gocloud.dev/secrets"

	"github.com/devmesh/devmesh/blob"
	"github.com/devmesh/devmesh/blob/kek"
	"github.com/devmesh/devmesh/internal/secret"
	"github.com/devmesh/devmesh/store"
)

// TaskScope is the blob scope of task bundle archives.
const TaskScope = "tasks"

// openBlobs opens encrypted blob storage: files in the data directory
// unless a blob URL is configured. The key-encryption key is a key file
// in the data directory, or the keeper named by DEVMESH_BLOB_KEK_URL
// (for example an Azure Key Vault key) in production.
func (a *App) openBlobs(ctx context.Context) (*blob.Store, error) {
	var (
		keeper *secrets.Keeper
		kekID  = "local-1"
		err    error
	)
	if u := a.Getenv("DEVMESH_BLOB_KEK_URL"); u != "" {
		keeper, err = kek.Open(ctx, secret.New(u))
		kekID = "kek-1"
	} else {
		keeper, err = kek.LoadOrCreateFile(a.Dir.Path("keys", "blob-kek.key"), rand.Reader)
	}
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, keeper.Close)
	ring, err := blob.NewKeyring(blob.KEK{ID: kekID, Keeper: keeper})
	if err != nil {
		return nil, err
	}
	ph := blob.QuestionMark
	if a.DB.Dialect == store.Postgres {
		ph = blob.Dollar
	}
	url := a.Cfg.BlobURL
	if url == "" {
		abs, err := filepath.Abs(a.Dir.Path("blobs"))
		if err != nil {
			return nil, err
		}
		url = "file://" + abs
	}
	s, err := blob.Open(ctx, url, ring, blob.NewSQLDataKeys(a.DB.SQL, ph, a.Now), a.Log)
	if err != nil {
		return nil, fmt.Errorf("open blob storage: %w", err)
	}
	// Temp files older than an hour are leftovers of writes that crashed
	// before their final link; nothing can still be writing them.
	if lb, ok := s.Backend().(*blob.LocalBackend); ok {
		if _, err := lb.Sweep(ctx, time.Hour, a.Now()); err != nil {
			a.Log.Warn("sweep stale blob temp files", "err", err)
		}
	}
	return s, nil
}

// taskArchives stores task bundles in the blob store's task scope.
type taskArchives struct{ blobs *blob.Store }

func (t taskArchives) PutTaskArchive(r *http.Request, digest string, archive []byte) error {
	d, err := blob.ParseDigest(digest)
	if err != nil {
		return err
	}
	_, err = t.blobs.Put(r.Context(), TaskScope, d, bytes.NewReader(archive))
	return err
}
