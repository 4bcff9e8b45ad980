package blob

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sort"
	"sync"
)

// Errors of a DataKeys store.
var (
	// ErrNoDataKey: the scope has no data key yet.
	ErrNoDataKey = errors.New("no data key for scope")
	// ErrRewrapConflict: Rewrap found a different wrapped key than the
	// one it was told to replace (another rotation got there first).
	ErrRewrapConflict = errors.New("wrapped data key changed concurrently")
)

// WrappedKey is a scope's data key encrypted by a key-encryption key.
// It is safe to store and log: without the KEK it reveals nothing.
type WrappedKey struct {
	KEKID      string // which KEK of the Keyring wrapped it
	Ciphertext []byte
}

// Equal reports whether w and o are the same wrapped key.
func (w WrappedKey) Equal(o WrappedKey) bool {
	return w.KEKID == o.KEKID && bytes.Equal(w.Ciphertext, o.Ciphertext)
}

// DataKeys keeps each scope's wrapped data key, outside the blobs. A
// shredded scope keeps a tombstone, so no new key can ever be created
// for it. Implementations must be safe for concurrent use, also by
// several processes sharing the same database.
type DataKeys interface {
	// Get returns the wrapped key of scope, or an error wrapping
	// ErrNoDataKey or ErrShredded.
	Get(ctx context.Context, scope string) (WrappedKey, error)
	// Create stores w for scope unless scope already has a key, and
	// returns the key that is stored afterwards: w, or the one another
	// writer stored first. It fails with ErrShredded for a shredded scope.
	Create(ctx context.Context, scope string, w WrappedKey) (WrappedKey, error)
	// Rewrap replaces old with new, only if old is still what is stored;
	// otherwise it fails with ErrRewrapConflict, ErrNoDataKey or
	// ErrShredded.
	Rewrap(ctx context.Context, scope string, old, new WrappedKey) error
	// Shred destroys scope's wrapped key and leaves a tombstone. It is
	// idempotent, and works for a scope that never had a key.
	Shred(ctx context.Context, scope string) error
	// List returns up to limit scopes that hold a live key, in byte
	// order, starting after the scope named by after ("" for the first).
	List(ctx context.Context, after string, limit int) ([]string, error)
}

// MemDataKeys is an in-memory DataKeys for tests and for other packages'
// tests. Its zero value is ready to use; it is safe for concurrent use
// within one process.
type MemDataKeys struct {
	mu   sync.Mutex             // guards keys
	keys map[string]*WrappedKey // nil value: shredded
}

var _ DataKeys = (*MemDataKeys)(nil)

func cloneKey(w WrappedKey) WrappedKey {
	return WrappedKey{KEKID: w.KEKID, Ciphertext: slices.Clone(w.Ciphertext)}
}

// Get implements DataKeys.
func (m *MemDataKeys) Get(_ context.Context, scope string) (WrappedKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	w, ok := m.keys[scope]
	switch {
	case !ok:
		return WrappedKey{}, ErrNoDataKey
	case w == nil:
		return WrappedKey{}, ErrShredded
	}
	return cloneKey(*w), nil
}

// Create implements DataKeys.
func (m *MemDataKeys) Create(_ context.Context, scope string, w WrappedKey) (WrappedKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.keys == nil {
		m.keys = make(map[string]*WrappedKey)
	}
	if cur, ok := m.keys[scope]; ok {
		if cur == nil {
			return WrappedKey{}, ErrShredded
		}
		return cloneKey(*cur), nil
	}
	c := cloneKey(w)
	m.keys[scope] = &c
	return cloneKey(c), nil
}

// Rewrap implements DataKeys.
func (m *MemDataKeys) Rewrap(_ context.Context, scope string, old, new WrappedKey) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.keys[scope]
	switch {
	case !ok:
		return ErrNoDataKey
	case cur == nil:
		return ErrShredded
	case !cur.Equal(old):
		return ErrRewrapConflict
	}
	c := cloneKey(new)
	m.keys[scope] = &c
	return nil
}

// Shred implements DataKeys.
func (m *MemDataKeys) Shred(_ context.Context, scope string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.keys == nil {
		m.keys = make(map[string]*WrappedKey)
	}
	if cur := m.keys[scope]; cur != nil {
		clear(cur.Ciphertext)
	}
	m.keys[scope] = nil
	return nil
}

// List implements DataKeys.
func (m *MemDataKeys) List(_ context.Context, after string, limit int) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for s, w := range m.keys {
		if w != nil && s > after {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	if len(out) > limit {
		out = out[:max(limit, 0)]
	}
	return out, nil
}
