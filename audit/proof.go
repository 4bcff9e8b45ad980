package audit

import (
	"context"
	"fmt"

	"github.com/devmesh/devmesh/internal/errs"
	"golang.org/x/mod/sumdb/tlog"
)

// InclusionProof proves that the leaf at index is in the tree of size
// leaves: the RFC 6962 audit path, as tlog.ProveRecord computes it.
func (l *Log) InclusionProof(ctx context.Context, index, size int64) (tlog.RecordProof, error) {
	head, _, err := l.Head(ctx)
	if err != nil {
		return nil, err
	}
	if index < 0 || size <= index || size > head {
		return nil, errs.E(errs.Invalid,
			"invalid inclusion proof request: want 0 <= index (%d) < size (%d) <= tree size (%d)",
			index, size, head)
	}
	p, err := tlog.ProveRecord(size, index, dbHashes{ctx, l.db})
	if err != nil {
		return nil, fmt.Errorf("prove event %d in tree %d: %w", index, size, err)
	}
	return p, nil
}

// ConsistencyProof proves that the tree of size old is a prefix of the
// tree of size new (RFC 6962, as tlog.ProveTree computes it).
func (l *Log) ConsistencyProof(ctx context.Context, old, new int64) (tlog.TreeProof, error) {
	head, _, err := l.Head(ctx)
	if err != nil {
		return nil, err
	}
	if old < 1 || new < old || new > head {
		return nil, errs.E(errs.Invalid,
			"invalid consistency proof request: want 1 <= old (%d) <= new (%d) <= tree size (%d)",
			old, new, head)
	}
	p, err := tlog.ProveTree(new, old, dbHashes{ctx, l.db})
	if err != nil {
		return nil, fmt.Errorf("prove tree %d consistent with %d: %w", new, old, err)
	}
	return p, nil
}

// TreeHash returns the root hash of the tree of size leaves.
func (l *Log) TreeHash(ctx context.Context, size int64) (tlog.Hash, error) {
	h, err := tlog.TreeHash(size, dbHashes{ctx, l.db})
	if err != nil {
		return h, fmt.Errorf("tree hash of size %d: %w", size, err)
	}
	return h, nil
}
