package workspace

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/devmesh/devmesh/internal/errs"
)

// ReadArchive reads a .tar.gz or plain tar stream into a new tree with
// budgets lim. It accepts only regular files and directories with safe
// names (see CheckPath; one leading "./" is allowed), and refuses links,
// devices, FIFOs, set-id and sticky bits, duplicate entries and anything
// over a budget, naming the entry and the rule. A gzip checksum is
// verified, and anything but zero padding after the archive's end is an
// error. Empty directories are
// dropped: a tree holds files. The exec bit is kept; other mode bits are
// not.
func ReadArchive(r io.Reader, lim Limits) (*Tree, error) {
	er, err := newEntryReader(r, lim)
	if err != nil {
		return nil, err
	}
	t := NewTree(lim)
	for {
		e, err := er.next()
		if err == io.EOF {
			return t, nil
		}
		if err != nil {
			return nil, err
		}
		if e.dir {
			continue
		}
		var b strings.Builder
		if _, err := io.Copy(&b, e.r); err != nil {
			return nil, err
		}
		if err := t.Put(e.name, File{Content: b.String(), Exec: e.exec}); err != nil {
			return nil, err
		}
	}
}

// Extract reads a .tar.gz or plain tar stream, with the rules and
// budgets of ReadArchive, into dir, which must exist and be empty. Every
// file and directory is created through an os.Root on dir, which refuses
// any path that would resolve outside it, and files are created with
// O_EXCL, so nothing already there is followed or overwritten. Files get
// mode 0644 or 0755 and directories 0755, before the umask.
//
// On error dir may hold part of the archive; the caller should remove it.
func Extract(r io.Reader, dir string, lim Limits) error {
	root, err := openEmptyRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	er, err := newEntryReader(r, lim)
	if err != nil {
		return err
	}
	for {
		e, err := er.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := writeEntryTo(root, e); err != nil {
			return err
		}
	}
}

// openEmptyRoot opens dir as an os.Root after checking it is empty.
func openEmptyRoot(dir string) (*os.Root, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("extract to %q: %w", dir, err)
	}
	names, err := fs.ReadDir(root.FS(), ".")
	if err != nil {
		root.Close()
		return nil, fmt.Errorf("extract to %q: %w", dir, err)
	}
	if len(names) > 0 {
		root.Close()
		return nil, errs.E(errs.Invalid,
			"extract to %q: directory is not empty", dir)
	}
	return root, nil
}

// writeEntryTo creates one entry under root.
func writeEntryTo(root *os.Root, e entry) error {
	if e.dir {
		return mkdirAll(root, e.name)
	}
	if i := strings.LastIndexByte(e.name, '/'); i > 0 {
		if err := mkdirAll(root, e.name[:i]); err != nil {
			return err
		}
	}
	perm := os.FileMode(0o644)
	if e.exec {
		perm = 0o755
	}
	flag := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	f, err := root.OpenFile(e.name, flag, perm)
	if err != nil {
		return fmt.Errorf("extract %q: %w", e.name, err)
	}
	_, err = io.Copy(f, e.r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("extract %q: %w", e.name, err)
	}
	return nil
}

func mkdirAll(root *os.Root, dir string) error {
	err := root.MkdirAll(dir, 0o755)
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("extract %q: %w", dir, err)
	}
	return nil
}
