package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"time"

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

var (
	_ SnapshotLoader = BlobSnapshots{}
	_ SnapshotSaver  = BlobSnapshots{}
)

// SaveSnapshot implements SnapshotSaver: it stores t's deterministic
// archive write-once in the submission's scope and returns its digest.
func (b BlobSnapshots) SaveSnapshot(ctx context.Context, sub string, t *workspace.Tree) (workspace.Digest, error) {
	archive, d, err := workspace.Archive(t)
	if err != nil {
		return d, err
	}
	bd, err := blob.ParseDigest(d.String())
	if err != nil {
		return d, err
	}
	_, err = b.Blobs.Put(ctx, sub, bd, bytes.NewReader(archive))
	return d, err
}

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

// SnapshotSaver stores a workspace so that a snapshot event can name it.
type SnapshotSaver interface {
	SaveSnapshot(ctx context.Context, sub string, t *workspace.Tree) (workspace.Digest, error)
}

// SnapshotEvery is how many events apart the ingest path leaves a
// workspace snapshot of its own, so that a submission whose candidate
// never runs anything still replays from a nearby starting point.
const SnapshotEvery = 2000

// crossesSnapshotMark reports whether a batch acknowledged from first to
// last passes a multiple of SnapshotEvery.
func crossesSnapshotMark(first, last int64) bool {
	return (first-1)/SnapshotEvery != last/SnapshotEvery
}

// snapshotAfter appends a workspace.snapshot of submission sub as it
// stands after event seq, rebuilt from the log itself, so the snapshot is
// right whatever other events landed meanwhile. It runs in the
// background after an ingest; a failure costs only replay speed.
func (a *API) snapshotAfter(sub string, seq int64) {
	saver, ok := a.replayer.snaps.(SnapshotSaver)
	if !ok || !a.snapshotting.TryLock() {
		return // one at a time per process; the next mark catches up
	}
	go func() {
		defer a.snapshotting.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := a.writeSnapshot(ctx, saver, sub, seq); err != nil {
			a.log.log.Warn("periodic workspace snapshot", "submission", sub, "seq", seq, "err", err)
		}
	}()
}

func (a *API) writeSnapshot(ctx context.Context, saver SnapshotSaver, sub string, seq int64) error {
	t, err := a.replayer.Replay(ctx, sub, seq)
	if err != nil {
		return err
	}
	d, err := saver.SaveSnapshot(ctx, sub, t)
	if err != nil {
		return err
	}
	payload, err := json.Marshal(Snapshot{Digest: d, Seq: seq})
	if err != nil {
		return err
	}
	_, err = a.log.Append(ctx, Entry{SubmissionID: sub, Kind: KindWorkspaceSnapshot,
		Actor: ActorSystem, Payload: payload})
	return err
}
