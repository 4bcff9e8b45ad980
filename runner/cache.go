package runner

import (
	"context"
	"sync"

	"github.com/devmesh/devmesh/store"
	"github.com/devmesh/devmesh/workspace"
)

// maxCachedTrees bounds the submissions whose latest rebuilt workspace
// is kept in memory.
const maxCachedTrees = 64

// treeCache keeps the latest rebuilt workspace of recent submissions, so
// a rebuild applies only the events logged since. Events never change,
// so a tree rebuilt at seq stays right for seq forever; the cache only
// saves work and is never a source of truth.
type treeCache struct {
	mu    sync.Mutex // guards trees
	trees map[string]cachedTree
}

type cachedTree struct {
	seq  int64
	tree *workspace.Tree // never modified once cached
}

// rebuild returns the workspace of sub at seq, starting from the cached
// tree when one at or below seq is there.
func (c *treeCache) rebuild(ctx context.Context, db *store.DB, sub string, seq int64) (*workspace.Tree, error) {
	c.mu.Lock()
	got, ok := c.trees[sub]
	c.mu.Unlock()
	var (
		t   *workspace.Tree
		err error
	)
	if ok && got.seq <= seq {
		t = got.tree.Clone()
		err = applyEvents(ctx, db, t, sub, got.seq, seq)
	} else {
		t, err = Rebuild(ctx, db, sub, seq)
	}
	if err != nil {
		return nil, err
	}
	c.put(sub, seq, t.Clone())
	return t, nil
}

func (c *treeCache) put(sub string, seq int64, t *workspace.Tree) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.trees == nil || len(c.trees) >= maxCachedTrees {
		c.trees = map[string]cachedTree{}
	}
	if old, ok := c.trees[sub]; !ok || old.seq <= seq {
		c.trees[sub] = cachedTree{seq: seq, tree: t}
	}
}
