package audit

import (
	"fmt"

	"golang.org/x/mod/sumdb/tlog"
)

// frontier is the right edge of a Merkle tree: the roots of the complete
// subtrees that make up a tree of size leaves. It is all that is needed
// to append leaves and to compute the root, so the sequencer and Verify
// keep only this in memory. nodes[L] is valid when bit L of size is set.
type frontier struct {
	size  int64
	nodes []tlog.Hash
}

// push appends a leaf and returns the hashes tlog stores for it (the
// same as tlog.StoredHashes): the leaf hash, then the hash of each
// subtree that the leaf completes, lowest level first.
func (f *frontier) push(leaf tlog.Hash) []tlog.Hash {
	out := []tlog.Hash{leaf}
	h := leaf
	level := 0
	for f.size>>level&1 == 1 {
		h = tlog.NodeHash(f.nodes[level], h)
		out = append(out, h)
		level++
	}
	for len(f.nodes) <= level {
		f.nodes = append(f.nodes, tlog.Hash{})
	}
	f.nodes[level] = h
	f.size++
	return out
}

// root returns the tree hash (tlog.TreeHash) of the tree; the zero hash
// for an empty tree.
func (f *frontier) root() tlog.Hash {
	var h tlog.Hash
	first := true
	for level := 0; level < len(f.nodes); level++ {
		if f.size>>level&1 == 0 {
			continue
		}
		if first {
			h, first = f.nodes[level], false
			continue
		}
		h = tlog.NodeHash(f.nodes[level], h)
	}
	return h
}

// frontierLeaves returns, for each level L set in size, the leaf whose
// stored hashes hold the frontier node at level L (at offset L).
func frontierLeaves(size int64) map[int]int64 {
	out := map[int]int64{}
	for level := 0; level < 63; level++ {
		if size>>level&1 == 1 {
			out[level] = (size>>level)<<level - 1
		}
	}
	return out
}

// newFrontier builds the frontier of a tree of size leaves from the
// stored hash rows of the leaves frontierLeaves names.
func newFrontier(size int64, rows map[int64][]byte) (*frontier, error) {
	f := &frontier{size: size}
	for level, leaf := range frontierLeaves(size) {
		h, err := hashAt(rows[leaf], leaf, level)
		if err != nil {
			return nil, err
		}
		for len(f.nodes) <= level {
			f.nodes = append(f.nodes, tlog.Hash{})
		}
		f.nodes[level] = h
	}
	return f, nil
}

// hashAt extracts the level's hash from a leaf's stored hash row.
func hashAt(row []byte, leaf int64, level int) (tlog.Hash, error) {
	var h tlog.Hash
	if len(row) < (level+1)*tlog.HashSize || len(row)%tlog.HashSize != 0 {
		return h, fmt.Errorf("stored hashes of leaf %d: %d bytes, want level %d", leaf, len(row), level)
	}
	copy(h[:], row[level*tlog.HashSize:])
	return h, nil
}

// storageLocation maps a tlog storage index to the leaf whose row holds
// the hash and its level (its offset in that row, in hashes).
func storageLocation(index int64) (leaf int64, level int) {
	level, n := tlog.SplitStoredHashIndex(index)
	return (n+1)<<level - 1, level
}

// joinHashes concatenates hashes into one stored row.
func joinHashes(hs []tlog.Hash) []byte {
	b := make([]byte, 0, len(hs)*tlog.HashSize)
	for _, h := range hs {
		b = append(b, h[:]...)
	}
	return b
}
