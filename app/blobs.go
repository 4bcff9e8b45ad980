package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

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
	ring, err := a.blobKeyring(ctx)
	if err != nil {
		return nil, err
	}
	url := a.Cfg.BlobURL
	if url == "" {
		abs, err := filepath.Abs(a.Dir.Path("blobs"))
		if err != nil {
			return nil, err
		}
		url = "file://" + abs
	}
	s, err := blob.Open(ctx, url, ring, a.dataKeys(), a.Log)
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

// blobKEKFile is the local key-encryption key file of generation n: the
// first is blob-kek.key, later ones blob-kek-N.key.
func (a *App) blobKEKFile(n int) string {
	if n == 1 {
		return a.Dir.Path("keys", "blob-kek.key")
	}
	return a.Dir.Path("keys", fmt.Sprintf("blob-kek-%d.key", n))
}

// blobKeyring opens the key-encryption keys of the blob store. With
// DEVMESH_BLOB_KEK_URL set it is that keeper (Azure Key Vault, ...);
// otherwise the local key files in the data directory: the newest
// generation wraps new data keys, older ones still unwrap keys not yet
// rewrapped (see RotateBlobKEK). The first start creates generation 1.
func (a *App) blobKeyring(ctx context.Context) (*blob.Keyring, error) {
	if u := a.Getenv("DEVMESH_BLOB_KEK_URL"); u != "" {
		k, err := kek.Open(ctx, secret.New(u))
		if err != nil {
			return nil, err
		}
		a.closers = append(a.closers, k.Close)
		return blob.NewKeyring(blob.KEK{ID: "kek-1", Keeper: k})
	}
	var keks []blob.KEK
	for n := 1; ; n++ {
		path := a.blobKEKFile(n)
		if n > 1 {
			if _, err := os.Stat(path); err != nil {
				break
			}
		}
		k, err := kek.LoadOrCreateFile(path, rand.Reader)
		if err != nil {
			return nil, err
		}
		a.closers = append(a.closers, k.Close)
		keks = append(keks, blob.KEK{ID: fmt.Sprintf("local-%d", n), Keeper: k})
	}
	slices.Reverse(keks)
	return blob.NewKeyring(keks[0], keks[1:]...)
}

// RotateBlobKEK adds a new local key-encryption key generation and
// rewraps every data key under it. No blob is read or rewritten. It
// returns the new generation's key id and how many keys it rewrapped.
// Older key files can be removed once a rotation has completed.
func (a *App) RotateBlobKEK(ctx context.Context) (string, int, error) {
	if a.Getenv("DEVMESH_BLOB_KEK_URL") != "" {
		return "", 0, fmt.Errorf("the blob key-encryption key is external (DEVMESH_BLOB_KEK_URL): rotate it in its vault")
	}
	n := 1
	for {
		if _, err := os.Stat(a.blobKEKFile(n + 1)); err != nil {
			break
		}
		n++
	}
	if _, err := kek.LoadOrCreateFile(a.blobKEKFile(n+1), rand.Reader); err != nil {
		return "", 0, err
	}
	ring, err := a.blobKeyring(ctx)
	if err != nil {
		return "", 0, err
	}
	store, err := blob.New(a.Blobs.Backend(), blob.Options{Keys: ring,
		DataKeys: a.dataKeys(), Logger: a.Log})
	if err != nil {
		return "", 0, err
	}
	count, err := store.Rewrap(ctx)
	return ring.PrimaryID(), count, err
}

// dataKeys is the database table of wrapped per-scope data keys.
func (a *App) dataKeys() blob.DataKeys {
	ph := blob.QuestionMark
	if a.DB.Dialect == store.Postgres {
		ph = blob.Dollar
	}
	return blob.NewSQLDataKeys(a.DB.SQL, ph, a.Now)
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
