// Package datadir owns the embedded data directory: its layout, its
// permissions (0700 directories, 0600 files: it holds keys and candidate
// data) and the lock that keeps a second process out.
package datadir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// Dir is an open, locked data directory.
type Dir struct {
	Root string
	lock *os.File
}

// Subdirectories of a data directory.
const (
	Blobs = "blobs"
	Keys  = "keys"
)

// ErrLocked is returned by Open when another process holds the directory.
var ErrLocked = errors.New("data directory is locked")

// Open creates the directory (mode 0700) and its subdirectories if needed,
// tightens the mode of an existing one, and takes an exclusive lock that
// lasts until Close or the process exits. A second Open of the same
// directory, from any process, fails with ErrLocked.
func Open(root string) (*Dir, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("data directory %q: %w", root, err)
	}
	for _, d := range []string{abs, filepath.Join(abs, Blobs), filepath.Join(abs, Keys)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("create data directory: %w", err)
		}
		if err := os.Chmod(d, 0o700); err != nil {
			return nil, fmt.Errorf("restrict data directory: %w", err)
		}
	}
	f, err := os.OpenFile(filepath.Join(abs, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open data directory lock: %w", err)
	}
	// flock is released by the kernel when the process dies, so a crash
	// never leaves a stale lock behind.
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, abs)
		}
		return nil, fmt.Errorf("lock data directory %q: %w", abs, err)
	}
	f.Truncate(0)
	fmt.Fprintf(f, "%d\n", os.Getpid())
	return &Dir{Root: abs, lock: f}, nil
}

// Path returns the path of name inside the directory.
func (d *Dir) Path(name ...string) string {
	return filepath.Join(append([]string{d.Root}, name...)...)
}

// Close releases the lock.
func (d *Dir) Close() error { return d.lock.Close() }

// WriteFileOnce writes data to path with mode 0600 only if path does not
// exist yet. It reports whether it wrote. The write is atomic: a crash
// leaves either no file or the whole file.
func WriteFileOnce(path string, data []byte) (bool, error) {
	if _, err := os.Stat(path); err == nil {
		return false, nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return false, err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return false, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return false, err
	}
	if err := tmp.Close(); err != nil {
		return false, err
	}
	// Link fails if path appeared meanwhile, so a racing writer never
	// replaces a file that someone already read.
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}
