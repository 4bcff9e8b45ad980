package task

import (
	"embed"
	"fmt"
	"io/fs"

	"github.com/devmesh/devmesh/workspace"
)

//go:embed sample
var sampleFS embed.FS

// Sample returns the bundled sample task, a small Python exercise in
// run-length encoding, parsed and validated like an upload.
func Sample() (*Bundle, error) {
	files := workspace.NewTree(BundleLimits())
	walk := func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := sampleFS.ReadFile(p)
		if err != nil {
			return err
		}
		return files.Put(p[len("sample/"):], workspace.File{Content: string(data)})
	}
	if err := fs.WalkDir(sampleFS, "sample", walk); err != nil {
		return nil, fmt.Errorf("load sample task: %w", err)
	}
	return ParseTree(files)
}
