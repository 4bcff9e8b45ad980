package workspace

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/devmesh/devmesh/internal/errs"
)

// File is one regular file of a Tree. Content is raw bytes; it need not
// be text. Exec records the executable bit: archives give such files mode
// 0755 and every other file 0644.
type File struct {
	Content string
	Exec    bool
}

// Tree is a workspace in memory: a set of regular files by path. Paths
// are checked with CheckPath; directories exist only as the parents of
// files, so a tree never holds an empty directory, and no path may be both
// a file and the parent of another file.
//
// Every mutating method either succeeds or leaves the tree unchanged, and
// every one enforces the tree's Limits. A Tree is not safe for concurrent
// mutation; concurrent reads are safe.
type Tree struct {
	lim   Limits
	files map[string]File
	dirs  map[string]int // directory -> number of files below it
	size  int64          // sum of len(Content)
}

// NewTree returns an empty tree with budgets lim (zero fields take their
// defaults).
func NewTree(lim Limits) *Tree {
	return &Tree{
		lim:   lim.withDefaults(),
		files: map[string]File{},
		dirs:  map[string]int{},
	}
}

// Limits returns the tree's budgets with defaults filled in.
func (t *Tree) Limits() Limits { return t.lim }

// Len returns the number of files.
func (t *Tree) Len() int { return len(t.files) }

// Size returns the total bytes of all file contents.
func (t *Tree) Size() int64 { return t.size }

// Get returns the file at p.
func (t *Tree) Get(p string) (File, bool) {
	f, ok := t.files[p]
	return f, ok
}

// Paths returns every file path in byte order.
func (t *Tree) Paths() []string {
	return slices.Sorted(maps.Keys(t.files))
}

// IsDir reports whether p is a directory of the tree, that is, the
// parent of at least one file.
func (t *Tree) IsDir(p string) bool { return t.dirs[p] > 0 }

// Clone returns an independent copy of t with the same budgets.
func (t *Tree) Clone() *Tree {
	return &Tree{
		lim:   t.lim,
		files: maps.Clone(t.files),
		dirs:  maps.Clone(t.dirs),
		size:  t.size,
	}
}

// Equal reports whether t and u hold the same files with the same
// contents and exec bits. Budgets are not compared.
func (t *Tree) Equal(u *Tree) bool {
	return maps.Equal(t.files, u.files)
}

// Put creates or replaces the file at p. It fails, changing nothing, if
// p is not a valid path, p is a directory or lies below a file, or a
// budget would be exceeded.
func (t *Tree) Put(p string, f File) error {
	if err := t.checkPut(p, f); err != nil {
		return err
	}
	t.put(p, f)
	return nil
}

// Delete removes the file at p. It fails if there is no such file.
func (t *Tree) Delete(p string) error {
	if _, ok := t.files[p]; !ok {
		return errs.E(errs.Invalid, "delete %q: no such file", p)
	}
	t.remove(p)
	return nil
}

// Sub returns the files below directory dir, with dir and its slash
// removed from their paths, in a tree with the same budgets. An empty
// dir or "." gives a copy of t.
func (t *Tree) Sub(dir string) *Tree {
	dir = strings.TrimSuffix(dir, "/")
	if dir == "" || dir == "." {
		return t.Clone()
	}
	s := NewTree(t.lim)
	prefix := dir + "/"
	for p, f := range t.files {
		if rest, ok := strings.CutPrefix(p, prefix); ok {
			s.put(rest, f)
		}
	}
	return s
}

// checkPut validates putting f at p without changing t.
func (t *Tree) checkPut(p string, f File) error {
	if err := CheckPath(p, t.lim); err != nil {
		return errs.E(errs.Invalid, "file %q: %v", clip(p), err)
	}
	if t.dirs[p] > 0 {
		return errs.E(errs.Invalid, "file %q: is a directory", p)
	}
	for _, d := range parents(p) {
		if _, ok := t.files[d]; ok {
			return errs.E(errs.Invalid,
				"file %q: parent %q is a file", p, d)
		}
	}
	n := int64(len(f.Content))
	if n > t.lim.FileBytes {
		return errs.E(errs.TooLarge,
			"file %q: %d bytes, over the per-file limit of %d",
			p, n, t.lim.FileBytes)
	}
	old, exists := t.files[p]
	if !exists && len(t.files) >= t.lim.Files {
		return errs.E(errs.TooLarge,
			"file %q: workspace already holds the limit of %d files",
			p, t.lim.Files)
	}
	if total := t.size - int64(len(old.Content)) + n; total > t.lim.TotalBytes {
		return errs.E(errs.TooLarge,
			"file %q: workspace would hold %d bytes, over the limit of %d",
			p, total, t.lim.TotalBytes)
	}
	return nil
}

// put stores f at p; the caller has checked it.
func (t *Tree) put(p string, f File) {
	if old, ok := t.files[p]; ok {
		t.size -= int64(len(old.Content))
	} else {
		for _, d := range parents(p) {
			t.dirs[d]++
		}
	}
	t.files[p] = f
	t.size += int64(len(f.Content))
}

// remove deletes the file at p, which must exist.
func (t *Tree) remove(p string) {
	t.size -= int64(len(t.files[p].Content))
	delete(t.files, p)
	for _, d := range parents(p) {
		if t.dirs[d]--; t.dirs[d] == 0 {
			delete(t.dirs, d)
		}
	}
}

// String summarises the tree for test failures and logs; it never
// includes file contents.
func (t *Tree) String() string {
	return fmt.Sprintf("workspace.Tree{%d files, %d bytes}", t.Len(), t.size)
}
