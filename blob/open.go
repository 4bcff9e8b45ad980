package blob

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"

	gcblob "gocloud.dev/blob"
	_ "gocloud.dev/blob/azureblob" // azblob://
	_ "gocloud.dev/blob/memblob"   // mem://, for tests in one process
	_ "gocloud.dev/blob/s3blob"    // s3://

	"github.com/devmesh/devmesh/internal/errs"
)

// Open opens an encrypted Store from a URL:
//
//   - file:///path: LocalBackend under /path (the embedded default)
//   - azblob://container?...: Azure Blob Storage; the account and
//     credentials come from AZURE_STORAGE_* variables as documented by
//     gocloud.dev/blob/azureblob
//   - s3://bucket?endpoint=...&region=...&use_path_style=true: any S3
//     API with conditional writes; credentials from the usual AWS_*
//     variables
//   - mem://: in-memory, one process only, for tests
//
// keys and dataKeys are required: Open never stores plaintext.
func Open(ctx context.Context, rawURL string, keys *Keyring, dataKeys DataKeys, log *slog.Logger) (*Store, error) {
	if keys == nil || dataKeys == nil {
		return nil, errs.E(errs.Invalid, "open blob store: a keyring and a data key store are required")
	}
	b, err := OpenBackend(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	s, err := New(b, Options{Keys: keys, DataKeys: dataKeys, Logger: log})
	if err != nil {
		b.Close()
		return nil, err
	}
	return s, nil
}

// OpenBackend opens the raw Backend named by a URL (see Open).
func OpenBackend(ctx context.Context, rawURL string) (Backend, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, errs.E(errs.Invalid, "invalid blob store URL %q: %v", redactURL(rawURL), err)
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" || u.Path == "" {
			return nil, errs.E(errs.Invalid, "invalid blob store URL %q: want file:///absolute/path", redactURL(rawURL))
		}
		return NewLocalBackend(u.Path)
	case "azblob", "s3", "mem":
		b, err := gcblob.OpenBucket(ctx, rawURL)
		if err != nil {
			return nil, fmt.Errorf("open blob store %q: %w", redactURL(rawURL), err)
		}
		return NewBucketBackend(b), nil
	default:
		return nil, errs.E(errs.Invalid, "invalid blob store URL %q: scheme must be file, azblob, s3 or mem", redactURL(rawURL))
	}
}

// redactURL drops user information, in case an operator put a credential
// there, before the URL reaches an error or a log line.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	u.User = nil
	u.RawQuery = ""
	return u.String()
}
