package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	gcblob "gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
)

// tempPrefix starts the name of every temporary file. Object names are
// 64 hex digits, so a temp file can never be mistaken for an object.
const tempPrefix = ".tmp-"

// Modes of what the local backend creates. Objects are read-only: the
// store never rewrites one, and a stray writer should fail loudly.
const (
	dirMode    = 0o750
	objectMode = 0o440
)

// LocalBackend keeps objects as files under a root directory, as laid
// out by keys ("v1/<scope>/<hex>"). Reads go through gocloud.dev's
// fileblob; writes do not, because fileblob's IfNotExist only guards
// against writers in the same process.
//
// Create is write-once across processes: the bytes go to a uniquely named
// temporary file in the object's directory, which is synced and then
// hard-linked to the final name. link(2) fails if the name exists, so of
// two racing processes exactly one wins, and the name only ever points at
// complete, synced bytes. A crash before the link leaves only a temporary
// file, never a partial object, and never blocks a retry (temp names are
// unique); Sweep removes such leftovers.
type LocalBackend struct {
	root   string
	bucket *gcblob.Bucket
}

var _ Backend = (*LocalBackend)(nil)

// NewLocalBackend opens (creating if needed) a local store rooted at dir.
func NewLocalBackend(dir string) (*LocalBackend, error) {
	root, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open local blob store %q: %w", dir, err)
	}
	if err := os.MkdirAll(root, dirMode); err != nil {
		return nil, fmt.Errorf("open local blob store %q: %w", dir, err)
	}
	b, err := fileblob.OpenBucket(root, &fileblob.Options{NoTempDir: true})
	if err != nil {
		return nil, fmt.Errorf("open local blob store %q: %w", dir, err)
	}
	return &LocalBackend{root: root, bucket: b}, nil
}

// Root returns the absolute root directory.
func (l *LocalBackend) Root() string { return l.root }

// Path returns the file that holds key.
func (l *LocalBackend) Path(key string) string {
	return filepath.Join(l.root, filepath.FromSlash(key))
}

// Create implements Backend.
func (l *LocalBackend) Create(ctx context.Context, key string, r io.Reader) error {
	final := l.Path(key)
	dir := filepath.Dir(final)
	if err := l.mkdirAll(dir); err != nil {
		return fmt.Errorf("create %q: %w", key, err)
	}
	if _, err := os.Lstat(final); err == nil {
		return fmt.Errorf("create %q: %w", key, ErrExists)
	}

	tmp, err := os.CreateTemp(dir, tempPrefix+"*")
	if err != nil {
		return fmt.Errorf("create %q: %w", key, err)
	}
	// The temp name is removed in every outcome: after a successful link
	// the object lives on under its final name.
	defer os.Remove(tmp.Name())
	if err := writeSynced(ctx, tmp, r); err != nil {
		return fmt.Errorf("create %q: %w", key, err)
	}

	if err := os.Link(tmp.Name(), final); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("create %q: %w", key, ErrExists)
		}
		return fmt.Errorf("create %q: %w", key, err)
	}
	// The new name must survive a crash before the caller is told it did.
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("create %q: %w", key, err)
	}
	return nil
}

// writeSynced copies r into f, makes it read-only, syncs and closes it.
// A full disk shows up here as ENOSPC, before any name points at f.
func writeSynced(ctx context.Context, f *os.File, r io.Reader) error {
	_, err := io.Copy(f, ctxReader{ctx: ctx, r: r})
	if err == nil {
		err = f.Chmod(objectMode)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// mkdirAll creates dir and any missing parents, syncing each parent
// whose entries changed so the directories survive a crash.
func (l *LocalBackend) mkdirAll(dir string) error {
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != dir && strings.HasPrefix(parent, l.root) {
		if err := l.mkdirAll(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, dirMode); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return syncDir(parent)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Open implements Backend.
func (l *LocalBackend) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	r, err := l.bucket.NewReader(ctx, key, nil)
	if err != nil {
		return nil, classifyRead(key, err)
	}
	return r, nil
}

// Size implements Backend.
func (l *LocalBackend) Size(ctx context.Context, key string) (int64, error) {
	a, err := l.bucket.Attributes(ctx, key)
	if err != nil {
		return 0, classifyRead(key, err)
	}
	return a.Size, nil
}

// Close implements Backend.
func (l *LocalBackend) Close() error { return l.bucket.Close() }

// Sweep removes temporary files older than age: leftovers of writers
// that crashed between writing and linking. A temp file younger than
// age may belong to a write in progress, so pick an age well above the
// longest write (an hour is plenty). It returns how many it removed.
func (l *LocalBackend) Sweep(ctx context.Context, age time.Duration, now time.Time) (int, error) {
	removed := 0
	err := filepath.WalkDir(l.root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() || !strings.HasPrefix(d.Name(), tempPrefix) {
			return nil
		}
		fi, err := d.Info()
		if err != nil || now.Sub(fi.ModTime()) < age {
			return nil
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		removed++
		return nil
	})
	if err != nil {
		return removed, fmt.Errorf("sweep temporary files under %q: %w", l.root, err)
	}
	return removed, nil
}

// ctxReader stops a copy once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
