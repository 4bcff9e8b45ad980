package blob

import (
	"context"
	"io"
)

// Backend is raw write-once object storage: the part of a driver that
// differs between the local disk, Azure Blob Storage and S3. Keys are
// produced by this package and are already safe.
//
// Implementations must be safe for concurrent use, also by several
// processes sharing the same storage.
type Backend interface {
	// Create stores the bytes read from r under key if, and only if, key
	// does not exist yet. It returns ErrExists (possibly wrapped) when
	// the key is taken. When r returns an error, or Create fails for any
	// other reason, nothing becomes visible under key.
	Create(ctx context.Context, key string, r io.Reader) error
	// Open returns the stored bytes of key, or an error wrapping
	// ErrNotFound.
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	// Size returns the stored size of key, or an error wrapping
	// ErrNotFound.
	Size(ctx context.Context, key string) (int64, error)
	// Close releases the backend.
	Close() error
}
