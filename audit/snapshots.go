package audit

import (
	"context"
	"io"

	"github.com/devmesh/devmesh/blob"
	"github.com/devmesh/devmesh/workspace"
)

// BlobSnapshots loads workspace snapshots from blob storage, where runs
// and submits store each tarball in the submission's scope under its
// digest. The blob store verifies the tarball against the digest the log
// recorded, and the archive is read with the workspace's budgets.
type BlobSnapshots struct {
	Blobs  *blob.Store
	Limits workspace.Limits
}

var _ SnapshotLoader = BlobSnapshots{}

// LoadSnapshot implements SnapshotLoader.
func (b BlobSnapshots) LoadSnapshot(ctx context.Context, sub string, d workspace.Digest) (*workspace.Tree, error) {
	bd, err := blob.ParseDigest(d.String())
	if err != nil {
		return nil, err
	}
	rc, err := b.Blobs.Get(ctx, sub, bd)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	t, err := workspace.ReadArchive(rc, b.Limits)
	if err != nil {
		return nil, err
	}
	// Get reports a digest mismatch at the end of the stream; make sure
	// the whole object was read so that check has run.
	if _, err := io.Copy(io.Discard, rc); err != nil {
		return nil, err
	}
	return t, nil
}
