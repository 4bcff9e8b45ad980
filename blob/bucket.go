package blob

import (
	"context"
	"errors"
	"fmt"
	"io"

	gcblob "gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

// BucketBackend stores objects in a gocloud.dev bucket whose driver
// enforces put-if-absent on the server: Azure Blob Storage
// (If-None-Match: * on the upload, also on the final block-list commit),
// any S3 API that supports conditional writes (If-None-Match: * on
// PutObject and CompleteMultipartUpload), or memblob for tests in one
// process. Do not use it over fileblob: fileblob's IfNotExist only holds
// within one process; use LocalBackend instead.
type BucketBackend struct {
	bucket *gcblob.Bucket
}

var _ Backend = (*BucketBackend)(nil)

// NewBucketBackend returns a backend over b. It takes ownership of b:
// Close closes it.
func NewBucketBackend(b *gcblob.Bucket) *BucketBackend {
	return &BucketBackend{bucket: b}
}

// Create implements Backend with a conditional write. If r fails, the
// write's context is cancelled before Close, which aborts the upload
// (and any multipart upload) so nothing becomes visible.
func (b *BucketBackend) Create(ctx context.Context, key string, r io.Reader) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	w, err := b.bucket.NewWriter(ctx, key, &gcblob.WriterOptions{
		IfNotExist:                  true,
		ContentType:                 "application/octet-stream",
		DisableContentTypeDetection: true,
	})
	if err != nil {
		return classifyWrite(key, err)
	}
	if _, err := io.Copy(w, r); err != nil {
		cancel()
		_ = w.Close()
		return classifyWrite(key, err)
	}
	return classifyWrite(key, w.Close())
}

// classifyWrite maps a refused precondition to ErrExists.
func classifyWrite(key string, err error) error {
	switch {
	case err == nil:
		return nil
	case gcerrors.Code(err) == gcerrors.FailedPrecondition:
		return fmt.Errorf("create %q: %w", key, ErrExists)
	default:
		return fmt.Errorf("create %q: %w", key, err)
	}
}

// Open implements Backend.
func (b *BucketBackend) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	r, err := b.bucket.NewReader(ctx, key, nil)
	if err != nil {
		return nil, classifyRead(key, err)
	}
	return r, nil
}

// Size implements Backend.
func (b *BucketBackend) Size(ctx context.Context, key string) (int64, error) {
	a, err := b.bucket.Attributes(ctx, key)
	if err != nil {
		return 0, classifyRead(key, err)
	}
	return a.Size, nil
}

func classifyRead(key string, err error) error {
	if gcerrors.Code(err) == gcerrors.NotFound {
		return fmt.Errorf("open %q: %w", key, ErrNotFound)
	}
	return fmt.Errorf("open %q: %w", key, err)
}

// Close implements Backend.
func (b *BucketBackend) Close() error { return b.bucket.Close() }

// Bucket returns the underlying bucket, for operators' tools and tests
// that must inspect raw objects. Writing through it bypasses every
// guarantee of this package.
func (b *BucketBackend) Bucket() *gcblob.Bucket { return b.bucket }

// isExists reports whether err says the key was taken.
func isExists(err error) bool { return errors.Is(err, ErrExists) }
