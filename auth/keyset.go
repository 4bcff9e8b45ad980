package auth

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/devmesh/devmesh/internal/errs"
)

// keySet is the in-memory copy of the signing keys that verification
// reads. Verification never touches the database for a key: it looks a
// kid up here, and only a well-formed unknown kid may trigger a reload,
// at most once per minReload.
type keySet struct {
	store     *keyStore
	log       *slog.Logger
	now       func() time.Time
	minReload time.Duration

	// mu guards the fields below; readers (every request) take it shared.
	mu         sync.RWMutex
	byKid      map[string]*signingKey
	signer     *signingKey // newest key that signs, nil before the first load
	loadedAt   time.Time   // when byKid was last read from the store
	reloadMu   sync.Mutex  // serialises reloads so a burst makes one query
	reloadsRun int         // how many reloads hit the database, for tests
}

// reload reads the key set from the store and swaps it in.
func (ks *keySet) reload(ctx context.Context) error {
	keys, err := ks.store.load(ctx)
	if err != nil {
		return err
	}
	byKid := make(map[string]*signingKey, len(keys))
	var signer *signingKey
	for _, k := range keys {
		byKid[k.kid] = k
		if signer == nil && k.signs() {
			signer = k
		}
	}
	ks.mu.Lock()
	ks.byKid, ks.signer, ks.loadedAt = byKid, signer, ks.now()
	ks.reloadsRun++
	ks.mu.Unlock()
	return nil
}

// lookup returns the verifying key kid. An unknown kid makes one reload
// unless the set was loaded less than minReload ago: a flood of bogus
// well-formed kids costs at most one query per minReload per replica.
func (ks *keySet) lookup(ctx context.Context, kid string) (*signingKey, error) {
	if k := ks.get(kid); k != nil {
		return k, nil
	}
	ks.reloadMu.Lock()
	defer ks.reloadMu.Unlock()
	if k := ks.get(kid); k != nil {
		return k, nil // another request's reload found it
	}
	ks.mu.RLock()
	fresh := ks.now().Sub(ks.loadedAt) < ks.minReload
	ks.mu.RUnlock()
	if !fresh {
		if err := ks.reload(ctx); err != nil {
			ks.log.WarnContext(ctx, "reload signing keys", "err", err)
		}
	}
	if k := ks.get(kid); k != nil {
		return k, nil
	}
	return nil, errs.E(errs.Unauthenticated, "unknown signing key")
}

// get returns the key kid if it still verifies now, or nil.
func (ks *keySet) get(kid string) *signingKey {
	ks.mu.RLock()
	k := ks.byKid[kid]
	ks.mu.RUnlock()
	if k == nil || !k.verifies(ks.now()) {
		return nil
	}
	return k
}

// current returns the key to sign with.
func (ks *keySet) current() (*signingKey, error) {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	if ks.signer == nil {
		return nil, errs.E(errs.Unavailable, "no signing key is loaded")
	}
	return ks.signer, nil
}

// verifying returns the keys that verify now, newest first.
func (ks *keySet) verifying() []*signingKey {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	now := ks.now()
	var out []*signingKey
	for _, k := range ks.byKid {
		if k.verifies(now) {
			out = append(out, k)
		}
	}
	sortKeys(out)
	return out
}

// ensure creates a signing key when the store has none that signs, as on
// first start.
func (ks *keySet) ensure(ctx context.Context) error {
	if err := ks.reload(ctx); err != nil {
		return err
	}
	if _, err := ks.current(); err == nil {
		return nil
	}
	if _, err := ks.store.create(ctx, ks.store.db.SQL, ks.now().UTC()); err != nil {
		return err
	}
	return ks.reload(ctx)
}

// rotate adds a new signing key, schedules every older key to retire once
// all tokens it can have signed have expired (at now+keep), and retires
// the keys whose time has come.
func (ks *keySet) rotate(ctx context.Context, keep time.Duration) (string, error) {
	now := ks.now().UTC()
	db := ks.store.db
	var kid string
	err := db.InTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, db.Rebind(`UPDATE signing_keys SET retired_at = ?
			WHERE retired_at IS NULL AND retire_after IS NOT NULL AND retire_after <= ?`), now, now)
		if err != nil {
			return fmt.Errorf("retire signing keys: %w", err)
		}
		_, err = tx.ExecContext(ctx, db.Rebind(`UPDATE signing_keys SET retire_after = ?
			WHERE retired_at IS NULL AND retire_after IS NULL`), now.Add(keep))
		if err != nil {
			return fmt.Errorf("schedule signing key retirement: %w", err)
		}
		k, err := ks.store.create(ctx, tx, now)
		if err != nil {
			return err
		}
		kid = k.kid
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("rotate signing keys: %w", err)
	}
	return kid, ks.reload(ctx)
}

// run reloads the key set every interval until ctx ends, so rotations made
// by another replica or by the CLI reach this one.
func (ks *keySet) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := ks.reload(ctx); err != nil && ctx.Err() == nil {
				ks.log.WarnContext(ctx, "reload signing keys", "err", err)
			}
		}
	}
}

// reloads returns how many times the set was read from the store.
func (ks *keySet) reloads() int {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	return ks.reloadsRun
}
