package task

import (
	"fmt"
	"io"
	"strings"

	"github.com/devmesh/devmesh/sandbox"
	"github.com/devmesh/devmesh/workspace"
)

// Budgets of a bundle, counted while it is read. A bundle is a recruiter
// upload; the server should also cap the upload's compressed size (with
// http.MaxBytesReader) at MaxBundleBytes.
const (
	MaxBundleBytes = 20 << 20
	MaxBundleFiles = 2000
)

// BundleLimits are the workspace budgets a bundle is read with. Files are
// capped at the workspace's own per-file budget, so every starter file
// fits a candidate's workspace.
func BundleLimits() workspace.Limits {
	return workspace.Limits{
		Files:       MaxBundleFiles,
		FileBytes:   workspace.DefaultFileBytes,
		TotalBytes:  MaxBundleBytes,
		Entries:     2 * MaxBundleFiles,
		StreamBytes: 2 * MaxBundleBytes,
	}
}

// Bundle is a parsed, valid task bundle. It is immutable: accessors that
// return trees return copies.
type Bundle struct {
	// Manifest is the decoded devmesh-task.yaml with defaults filled in.
	// Callers must not modify it.
	Manifest Manifest

	files   *workspace.Tree
	starter *workspace.Tree // set by Validate
	archive []byte
	digest  workspace.Digest
}

// ParseDir reads and validates the bundle in directory dir. Symbolic
// links and other non-regular files in it are errors.
func ParseDir(dir string) (*Bundle, error) {
	files, err := workspace.ReadDir(dir, BundleLimits())
	if err != nil {
		return nil, fmt.Errorf("read task bundle %q: %w", dir, err)
	}
	return ParseTree(files)
}

// ParseArchive reads and validates a bundle from a .tar.gz (or plain
// tar) stream, with workspace.ReadArchive's rules and BundleLimits.
func ParseArchive(r io.Reader) (*Bundle, error) {
	files, err := workspace.ReadArchive(r, BundleLimits())
	if err != nil {
		return nil, fmt.Errorf("read task bundle: %w", err)
	}
	return ParseTree(files)
}

// ParseTree validates the bundle made of files and computes its
// canonical archive and digest. It keeps files; the caller must not
// modify the tree afterwards.
func ParseTree(files *workspace.Tree) (*Bundle, error) {
	f, ok := files.Get(ManifestFile)
	if !ok {
		return nil, &ValidationError{Problems: []Problem{{ManifestFile,
			"is missing from the bundle root"}}}
	}
	m, err := DecodeManifest([]byte(f.Content))
	if err != nil {
		return nil, &ValidationError{Problems: []Problem{{ManifestFile,
			err.Error()}}}
	}
	b := &Bundle{Manifest: m, files: files}
	if err := b.Validate(); err != nil {
		return nil, err
	}
	b.archive, b.digest, err = workspace.Archive(files)
	if err != nil {
		return nil, fmt.Errorf("archive task bundle: %w", err)
	}
	return b, nil
}

// Digest is the SHA-256 of the bundle's canonical archive: equal for
// equal files, whatever tool, order or timestamps made the upload.
func (b *Bundle) Digest() workspace.Digest { return b.digest }

// Archive returns the canonical .tar.gz of the bundle, the bytes to
// store under Digest. The caller must not modify them.
func (b *Bundle) Archive() []byte { return b.archive }

// Files returns a copy of every file of the bundle.
func (b *Bundle) Files() *workspace.Tree { return b.files.Clone() }

// Prompt returns the text of the prompt file.
func (b *Bundle) Prompt() string {
	f, _ := b.files.Get(b.Manifest.Prompt)
	return f.Content
}

// Starter returns the candidate's starting workspace: the starter files
// with the visible tests laid over them, with default workspace budgets.
func (b *Bundle) Starter() *workspace.Tree { return b.starter.Clone() }

// Hidden returns the hidden test files, relative to the workspace root.
func (b *Bundle) Hidden() *workspace.Tree {
	return b.files.Sub(b.Manifest.Tests.Hidden)
}

// WithHiddenTests returns a copy of a submitted workspace with the hidden
// tests laid over it, ready for evaluation. Hidden tests win every clash:
// they replace a file of the same path, and candidate files that block
// one (a file where a test's directory goes, a directory where a test
// goes) are removed, so a candidate can neither shadow nor block them.
func (b *Bundle) WithHiddenTests(ws *workspace.Tree) (*workspace.Tree, error) {
	out := ws.Clone()
	hidden := b.Hidden()
	for _, p := range hidden.Paths() {
		clearWay(out, p)
	}
	if err := overlay(out, hidden, true); err != nil {
		return nil, fmt.Errorf("add hidden tests: %w", err)
	}
	return out, nil
}

// clearWay deletes the files of t that stop a file being put at p: files
// at p's parent directories and files below p.
func clearWay(t *workspace.Tree, p string) {
	for i := range len(p) {
		if p[i] == '/' {
			t.Delete(p[:i]) // absent is fine
		}
	}
	if t.IsDir(p) {
		for _, q := range t.Paths() {
			if strings.HasPrefix(q, p+"/") {
				t.Delete(q)
			}
		}
	}
}

// SandboxLimits returns the limits for runs of this task.
func (b *Bundle) SandboxLimits() sandbox.Limits {
	return b.Manifest.SandboxLimits()
}

// overlay puts every file of src into dst. Unless replace is set, a file
// already in dst is an error.
func overlay(dst, src *workspace.Tree, replace bool) error {
	for _, p := range src.Paths() {
		f, _ := src.Get(p)
		if _, ok := dst.Get(p); ok && !replace {
			return fmt.Errorf("file %q is already a starter file", p)
		}
		if err := dst.Put(p, f); err != nil {
			return err
		}
	}
	return nil
}
