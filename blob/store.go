package blob

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/devmesh/devmesh/internal/errs"
)

// Info describes a stored object.
type Info struct {
	Scope      string
	Digest     Digest
	Key        string // storage key, "v1/<scope>/<hex>"
	Size       int64  // plaintext bytes
	StoredSize int64  // bytes in the backend, with encryption overhead
	Encrypted  bool
	// Created is true when this Put stored the object, false when it was
	// already there (Put only; Stat leaves it false).
	Created bool
}

// Options configures a Store.
type Options struct {
	// Keys wraps and unwraps data keys. Required unless Plaintext.
	Keys *Keyring
	// DataKeys keeps the wrapped data keys. Required unless Plaintext.
	DataKeys DataKeys
	// Plaintext stores objects unencrypted. Only for tests and for
	// measuring the cost of encryption; Open never sets it.
	Plaintext bool
	// Logger receives operator events (key created, shredded). Nil
	// discards them.
	Logger *slog.Logger
	// Rand is the source of data keys and salts; nil means crypto/rand.
	Rand io.Reader
	// KeyCacheTTL bounds how long an unwrapped data key stays in memory.
	// A key shredded by another process stays usable here for at most
	// this long. Zero means DefaultKeyCacheTTL.
	KeyCacheTTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DefaultKeyCacheTTL is how long a Store keeps an unwrapped data key.
const DefaultKeyCacheTTL = 30 * time.Second

// maxCachedKeys bounds the key cache; when full it is emptied.
const maxCachedKeys = 1024

// Store is write-once, content-addressed, encrypted object storage. Its
// methods are safe for concurrent use.
type Store struct {
	backend Backend
	opts    Options
	log     *slog.Logger

	mu    sync.Mutex // guards cache
	cache map[string]cachedKey
}

type cachedKey struct {
	key     []byte
	expires time.Time
}

// New returns a Store over backend. The Store owns backend: Close closes it.
func New(backend Backend, opts Options) (*Store, error) {
	if !opts.Plaintext && (opts.Keys == nil || opts.DataKeys == nil) {
		return nil, errs.E(errs.Invalid, "blob store needs a keyring and a data key store")
	}
	if opts.Rand == nil {
		opts.Rand = rand.Reader
	}
	if opts.KeyCacheTTL <= 0 {
		opts.KeyCacheTTL = DefaultKeyCacheTTL
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Store{backend: backend, opts: opts, log: log, cache: map[string]cachedKey{}}, nil
}

// Backend returns the store's backend.
func (s *Store) Backend() Backend { return s.backend }

// Close closes the backend.
func (s *Store) Close() error { return s.backend.Close() }

func validate(scope string, d Digest) error {
	if err := ValidateScope(scope); err != nil {
		return err
	}
	return d.Validate()
}

// Put stores the content read from r as digest d in scope, once.
//
// The content must hash to d; otherwise Put fails with ErrDigestMismatch
// (kind Invalid) and nothing becomes visible. If the object exists
// already, Put reads r to the end to check it, re-verifies the stored
// object, and returns Created false; a stored object that does not
// verify is an ErrIntegrity error and stays as it is for inspection.
func (s *Store) Put(ctx context.Context, scope string, d Digest, r io.Reader) (Info, error) {
	if err := validate(scope, d); err != nil {
		return Info{}, err
	}
	key := objectKey(scope, d)
	dataKey, err := s.dataKey(ctx, scope, true)
	if err != nil {
		return Info{}, err
	}
	vr := newDigestReader(r, d, putMismatch(scope, d))

	if _, err := s.backend.Size(ctx, key); err == nil {
		return s.confirmExisting(ctx, scope, d, vr)
	} else if !errors.Is(err, ErrNotFound) {
		return Info{}, fmt.Errorf("put %s in scope %q: %w", d, scope, err)
	}

	src, err := s.sealed(vr, dataKey, scope, d)
	if err != nil {
		return Info{}, err
	}
	err = s.backend.Create(ctx, key, src)
	switch {
	case vr.err != nil && vr.err != io.EOF:
		return Info{}, vr.err
	case isExists(err):
		return s.confirmExisting(ctx, scope, d, vr)
	case err != nil:
		return Info{}, fmt.Errorf("put %s in scope %q: %w", d, scope, err)
	case !vr.verified():
		return Info{}, fmt.Errorf("put %s in scope %q: backend stopped before the end of the content", d, scope)
	}
	return s.info(scope, d, vr.n, true), nil
}

// sealed returns what the backend stores for the plaintext stream.
func (s *Store) sealed(plain io.Reader, dataKey []byte, scope string, d Digest) (io.Reader, error) {
	if s.opts.Plaintext {
		return plain, nil
	}
	salt := make([]byte, saltSize)
	if _, err := io.ReadFull(s.opts.Rand, salt); err != nil {
		return nil, fmt.Errorf("put %s in scope %q: read random salt: %w", d, scope, err)
	}
	seg, err := newSegmentAEAD(dataKey, salt, scope, d)
	if err != nil {
		return nil, err
	}
	return newSealer(plain, seg, salt), nil
}

// confirmExisting finishes a Put whose key is taken: the caller's content
// must still match d, and the stored object must verify.
func (s *Store) confirmExisting(ctx context.Context, scope string, d Digest, vr *digestReader) (Info, error) {
	if _, err := io.Copy(io.Discard, vr); err != nil {
		return Info{}, err
	}
	n, err := s.verifyStored(ctx, scope, d)
	if err != nil {
		return Info{}, err
	}
	return s.info(scope, d, n, false), nil
}

// verifyStored reads the stored object to the end through every check.
func (s *Store) verifyStored(ctx context.Context, scope string, d Digest) (int64, error) {
	rc, err := s.Get(ctx, scope, d)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	return io.Copy(io.Discard, rc)
}

func (s *Store) info(scope string, d Digest, n int64, created bool) Info {
	stored := n
	if !s.opts.Plaintext {
		stored = sealedSize(n)
	}
	return Info{
		Scope: scope, Digest: d, Key: objectKey(scope, d),
		Size: n, StoredSize: stored, Encrypted: !s.opts.Plaintext,
		Created: created,
	}
}

// Get returns a reader of the plaintext of digest d in scope.
//
// The reader verifies as it goes: each encrypted segment is released
// only after it authenticated, and at the end the digest is recomputed.
// Any failure, including truncation, is returned in place of io.EOF as
// an ErrIntegrity error naming the digest, so a caller that treats only
// io.EOF as success never accepts bad content. A caller that cannot
// undo what it did with early bytes should use ReadAll. The caller must
// Close the reader.
func (s *Store) Get(ctx context.Context, scope string, d Digest) (io.ReadCloser, error) {
	if err := validate(scope, d); err != nil {
		return nil, err
	}
	dataKey, err := s.dataKey(ctx, scope, false)
	if errors.Is(err, ErrNoDataKey) {
		return nil, notFound(scope, d)
	}
	if err != nil {
		return nil, err
	}
	raw, err := s.backend.Open(ctx, objectKey(scope, d))
	if errors.Is(err, ErrNotFound) {
		return nil, notFound(scope, d)
	}
	if err != nil {
		return nil, fmt.Errorf("get %s in scope %q: %w", d, scope, err)
	}
	var plain io.Reader = raw
	if !s.opts.Plaintext {
		o, err := newOpener(raw, dataKey, scope, d)
		if err != nil {
			raw.Close()
			return nil, err
		}
		plain = o
	}
	return readCloser{newDigestReader(plain, d, readMismatch(scope, d)), raw}, nil
}

// ReadAll returns the verified plaintext of digest d in scope, holding
// at most limit bytes in memory: a larger object fails with kind
// TooLarge. Nothing is returned unless every check passed.
func (s *Store) ReadAll(ctx context.Context, scope string, d Digest, limit int64) ([]byte, error) {
	rc, err := s.Get(ctx, scope, d)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, errs.E(errs.TooLarge, "blob %s in scope %q is over %d bytes", d, scope, limit)
	}
	return b, nil
}

// Stat describes the stored object without reading it.
func (s *Store) Stat(ctx context.Context, scope string, d Digest) (Info, error) {
	if err := validate(scope, d); err != nil {
		return Info{}, err
	}
	stored, err := s.backend.Size(ctx, objectKey(scope, d))
	if errors.Is(err, ErrNotFound) {
		return Info{}, notFound(scope, d)
	}
	if err != nil {
		return Info{}, fmt.Errorf("stat %s in scope %q: %w", d, scope, err)
	}
	n := stored
	if !s.opts.Plaintext {
		if n = plainSize(stored); n < 0 {
			return Info{}, integrityError(scope, d, fmt.Sprintf("impossible stored size %d", stored))
		}
	}
	return s.info(scope, d, n, false), nil
}
