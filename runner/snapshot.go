package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/devmesh/devmesh/audit"
	"github.com/devmesh/devmesh/blob"
	"github.com/devmesh/devmesh/store"
	"github.com/devmesh/devmesh/workspace"
)

// SnapshotPayload is the payload of the workspace.snapshot events this
// package appends: the digest and size of the workspace's deterministic
// tarball and the sequence number of the last event it was built from.
// The tarball is in blob storage under Digest, in the submission's scope.
type SnapshotPayload struct {
	Digest workspace.Digest `json:"digest"`
	Size   int64            `json:"size"`
	Seq    int64            `json:"seq"`
}

// Snapshot is a frozen workspace: stored, and bound to the log by a
// workspace.snapshot event.
type Snapshot struct {
	SnapshotPayload
	// EventSeq is the sequence number of the workspace.snapshot event.
	EventSeq int64
	// Tree is the workspace; the caller must not modify it.
	Tree *workspace.Tree
}

// snapshotter freezes workspaces.
type snapshotter struct {
	db    *store.DB
	blobs *blob.Store
	audit audit.Appender
	trees *treeCache
}

// freeze rebuilds submission sub's workspace at its latest event from
// the log, stores the tarball write-once under its digest in
// the submission's scope, and appends a workspace.snapshot event. The
// tarball is stored before the event that names it, so an event never
// names a missing tarball.
func (s snapshotter) freeze(ctx context.Context, sub string) (Snapshot, error) {
	seq, err := LastSeq(ctx, s.db, sub)
	if err != nil {
		return Snapshot{}, err
	}
	tree, err := s.trees.rebuild(ctx, s.db, sub, seq)
	if err != nil {
		return Snapshot{}, err
	}
	p, err := s.store(ctx, sub, tree)
	if err != nil {
		return Snapshot{}, err
	}
	p.Seq = seq
	payload, err := json.Marshal(p)
	if err != nil {
		return Snapshot{}, err
	}
	acks, err := s.audit.Append(ctx, audit.Entry{SubmissionID: sub,
		Kind: audit.KindWorkspaceSnapshot, Actor: audit.ActorSystem, Payload: payload})
	if err != nil {
		return Snapshot{}, fmt.Errorf("log workspace snapshot: %w", err)
	}
	return Snapshot{SnapshotPayload: p, EventSeq: acks[0].Seq, Tree: tree}, nil
}

// store writes tree's tarball once into the scope of submission sub.
func (s snapshotter) store(ctx context.Context, sub string, tree *workspace.Tree) (SnapshotPayload, error) {
	var buf bytes.Buffer
	buf.Grow(int(tree.Size()/2) + 4096)
	d, n, err := workspace.WriteArchive(&buf, tree)
	if err != nil {
		return SnapshotPayload{}, fmt.Errorf("archive workspace: %w", err)
	}
	bd, err := blob.ParseDigest(d.String())
	if err != nil {
		return SnapshotPayload{}, err
	}
	if _, err := s.blobs.Put(ctx, sub, bd, &buf); err != nil {
		return SnapshotPayload{}, fmt.Errorf("store workspace: %w", err)
	}
	return SnapshotPayload{Digest: d, Size: n}, nil
}
