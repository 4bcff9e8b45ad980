package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// dataKey returns scope's unwrapped data key, from the cache or the
// DataKeys store. With create, a scope without a key gets a new one; two
// processes creating at once agree on the first one stored.
func (s *Store) dataKey(ctx context.Context, scope string, create bool) ([]byte, error) {
	if s.opts.Plaintext {
		return nil, nil
	}
	if k := s.cached(scope); k != nil {
		return k, nil
	}
	w, err := s.opts.DataKeys.Get(ctx, scope)
	if errors.Is(err, ErrNoDataKey) && create {
		w, err = s.createDataKey(ctx, scope)
	}
	switch {
	case errors.Is(err, ErrShredded):
		return nil, shredded(scope)
	case err != nil:
		return nil, fmt.Errorf("data key of scope %q: %w", scope, err)
	}
	k, err := s.opts.Keys.unwrap(ctx, scope, w)
	if err != nil {
		return nil, err
	}
	s.remember(scope, k)
	return k, nil
}

func (s *Store) createDataKey(ctx context.Context, scope string) (WrappedKey, error) {
	k := make([]byte, dataKeySize)
	defer clear(k)
	if _, err := io.ReadFull(s.opts.Rand, k); err != nil {
		return WrappedKey{}, fmt.Errorf("read random data key: %w", err)
	}
	w, err := s.opts.Keys.wrap(ctx, scope, k)
	if err != nil {
		return WrappedKey{}, err
	}
	stored, err := s.opts.DataKeys.Create(ctx, scope, w)
	if err == nil && stored.Equal(w) {
		s.log.InfoContext(ctx, "created data key", "scope", scope, "kek", w.KEKID)
	}
	return stored, err
}

func (s *Store) cached(scope string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.cache[scope]
	if !ok || !s.opts.Now().Before(c.expires) {
		return nil
	}
	return c.key
}

func (s *Store) remember(scope string, k []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.cache) >= maxCachedKeys {
		clear(s.cache)
	}
	s.cache[scope] = cachedKey{key: k, expires: s.opts.Now().Add(s.opts.KeyCacheTTL)}
}

func (s *Store) forget(scope string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.cache, scope)
}

// Shred crypto-shreds scope: its wrapped data key is destroyed, so every
// object stored under scope becomes unreadable for good, while the
// objects themselves, other scopes and anything that refers to the
// digests (such as the audit log) stay as they are. Afterwards Get and
// Put in scope fail with ErrShredded. Other processes that cached the key
// stop using it within their KeyCacheTTL.
func (s *Store) Shred(ctx context.Context, scope string) error {
	if err := ValidateScope(scope); err != nil {
		return err
	}
	if s.opts.Plaintext {
		return fmt.Errorf("shred scope %q: a plaintext store has no data keys", scope)
	}
	if err := s.opts.DataKeys.Shred(ctx, scope); err != nil {
		return fmt.Errorf("shred scope %q: %w", scope, err)
	}
	s.forget(scope)
	s.log.InfoContext(ctx, "shredded data key", "scope", scope)
	return nil
}

// rewrapPage is how many scopes Rewrap reads at a time.
const rewrapPage = 256

// Rewrap rewraps every live data key that is not wrapped by the primary
// KEK of the keyring, after a KEK rotation. No object is read or
// rewritten. It is safe to run while the store is in use and to rerun
// after an interruption; it returns how many keys it rewrapped.
func (s *Store) Rewrap(ctx context.Context) (int, error) {
	if s.opts.Plaintext {
		return 0, nil
	}
	n := 0
	after := ""
	for {
		scopes, err := s.opts.DataKeys.List(ctx, after, rewrapPage)
		if err != nil {
			return n, fmt.Errorf("rewrap data keys: %w", err)
		}
		for _, scope := range scopes {
			done, err := s.rewrapOne(ctx, scope)
			if err != nil {
				return n, err
			}
			if done {
				n++
			}
		}
		if len(scopes) < rewrapPage {
			break
		}
		after = scopes[len(scopes)-1]
	}
	s.log.InfoContext(ctx, "rewrapped data keys", "count", n, "kek", s.opts.Keys.PrimaryID())
	return n, nil
}

// rewrapOne rewraps scope's key if needed. A key shredded or rewrapped
// by someone else meanwhile is left alone.
func (s *Store) rewrapOne(ctx context.Context, scope string) (bool, error) {
	old, err := s.opts.DataKeys.Get(ctx, scope)
	if errors.Is(err, ErrShredded) || errors.Is(err, ErrNoDataKey) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("rewrap data key of scope %q: %w", scope, err)
	}
	if old.KEKID == s.opts.Keys.PrimaryID() {
		return false, nil
	}
	k, err := s.opts.Keys.unwrap(ctx, scope, old)
	if err != nil {
		return false, err
	}
	defer clear(k)
	w, err := s.opts.Keys.wrap(ctx, scope, k)
	if err != nil {
		return false, err
	}
	err = s.opts.DataKeys.Rewrap(ctx, scope, old, w)
	switch {
	case errors.Is(err, ErrRewrapConflict), errors.Is(err, ErrShredded):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("rewrap data key of scope %q: %w", scope, err)
	}
	return true, nil
}
