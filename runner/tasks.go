package runner

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"github.com/devmesh/devmesh/blob"
	"github.com/devmesh/devmesh/internal/errs"
	"github.com/devmesh/devmesh/store"
	"github.com/devmesh/devmesh/task"
)

// maxBundleArchive bounds the stored task archive read into memory. A
// bundle holds at most task.MaxBundleBytes of files; its archive is
// compressed, so this leaves ample room.
const maxBundleArchive = 2 * task.MaxBundleBytes

// maxCachedBundles bounds the parsed bundles kept in memory.
const maxCachedBundles = 32

// bundles loads a submission's task bundle from blob storage, parsed and
// validated, and caches bundles by digest: a digest names one content
// forever, so a cached bundle never goes stale.
type bundles struct {
	db    *store.DB
	blobs *blob.Store

	mu    sync.Mutex // guards cache
	cache map[string]*task.Bundle
}

func newBundles(db *store.DB, blobs *blob.Store) *bundles {
	return &bundles{db: db, blobs: blobs, cache: map[string]*task.Bundle{}}
}

// forSubmission returns the task bundle of submission sub. A deleted
// assessment keeps its submissions' task.
func (b *bundles) forSubmission(ctx context.Context, sub string) (*task.Bundle, error) {
	var digest string
	err := b.db.SQL.QueryRowContext(ctx, b.db.Rebind(`SELECT t.digest
		FROM submissions s JOIN assessments a ON a.id = s.assessment_id
		JOIN tasks t ON t.id = a.task_id WHERE s.id = ?`), sub).Scan(&digest)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errs.E(errs.NotFound, "submission %q not found", sub)
	}
	if err != nil {
		return nil, fmt.Errorf("read task of submission %q: %w", sub, err)
	}
	return b.byDigest(ctx, digest)
}

func (b *bundles) byDigest(ctx context.Context, digest string) (*task.Bundle, error) {
	b.mu.Lock()
	cached := b.cache[digest]
	b.mu.Unlock()
	if cached != nil {
		return cached, nil
	}
	d, err := blob.ParseDigest(digest)
	if err != nil {
		return nil, err
	}
	data, err := b.blobs.ReadAll(ctx, blob.ScopeTasks, d, maxBundleArchive)
	if err != nil {
		return nil, fmt.Errorf("load task bundle %s: %w", digest, err)
	}
	bundle, err := task.ParseArchive(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("load task bundle %s: %w", digest, err)
	}
	if got := bundle.Digest().String(); got != digest {
		return nil, fmt.Errorf("load task bundle %s: content has digest %s", digest, got)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.cache) >= maxCachedBundles {
		clear(b.cache)
	}
	b.cache[digest] = bundle
	return bundle, nil
}
