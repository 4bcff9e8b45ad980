package workspace

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/devmesh/devmesh/internal/errs"
)

// ReadDir reads the regular files below dir into a new tree with budgets
// lim. Symbolic links, devices, sockets and FIFOs are errors naming the
// path, as are set-id and sticky bits; empty directories are dropped. It
// reads through an os.Root on dir, so nothing outside dir is reached.
func ReadDir(dir string, lim Limits) (*Tree, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("read directory %q: %w", dir, err)
	}
	defer root.Close()
	t := NewTree(lim)
	walk := func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("read directory %q: %w", dir, err)
		}
		if p == "." {
			return nil
		}
		if err := CheckPath(p, t.lim); err != nil {
			return errs.E(errs.Invalid, "file %q: %v", p, err)
		}
		if d.IsDir() {
			return nil
		}
		return readDirFile(root, t, p, d)
	}
	if err := fs.WalkDir(root.FS(), ".", walk); err != nil {
		return nil, err
	}
	return t, nil
}

// readDirFile adds the regular file p to t, refusing every other type.
func readDirFile(root *os.Root, t *Tree, p string, d fs.DirEntry) error {
	if !d.Type().IsRegular() {
		return errs.E(errs.Invalid, "file %q: %s", p, typeRule(d.Type()))
	}
	f, err := root.Open(p)
	if err != nil {
		return fmt.Errorf("read file %q: %w", p, err)
	}
	defer f.Close()
	// Stat the open file: the entry may have been swapped since the walk
	// listed it.
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("read file %q: %w", p, err)
	}
	if !info.Mode().IsRegular() {
		return errs.E(errs.Invalid, "file %q: %s", p, typeRule(info.Mode()))
	}
	if info.Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != 0 {
		return errs.E(errs.Invalid,
			"file %q: setuid, setgid and sticky bits are not allowed", p)
	}
	if info.Size() > t.lim.FileBytes {
		return errs.E(errs.TooLarge,
			"file %q: %d bytes, over the per-file limit of %d",
			p, info.Size(), t.lim.FileBytes)
	}
	var b strings.Builder
	if _, err := io.Copy(&b, io.LimitReader(f, t.lim.FileBytes+1)); err != nil {
		return fmt.Errorf("read file %q: %w", p, err)
	}
	return t.Put(p, File{Content: b.String(), Exec: info.Mode()&0o111 != 0})
}

// typeRule names why a non-regular file type is refused.
func typeRule(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "symbolic links are not allowed"
	case m&fs.ModeDevice != 0:
		return "device files are not allowed"
	case m&fs.ModeNamedPipe != 0:
		return "FIFOs are not allowed"
	case m&fs.ModeSocket != 0:
		return "sockets are not allowed"
	default:
		return fmt.Sprintf("file type %v is not allowed", m.Type())
	}
}

// WriteDir writes t's files into dir, which must exist and be empty,
// through an os.Root on dir and with O_EXCL, like Extract. Files get mode
// 0644 or 0755 and directories 0755, before the umask.
func WriteDir(dir string, t *Tree) error {
	root, err := openEmptyRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	for _, p := range t.Paths() {
		f := t.files[p]
		e := entry{name: p, exec: f.Exec, r: strings.NewReader(f.Content)}
		if err := writeEntryTo(root, e); err != nil {
			return err
		}
	}
	return nil
}
