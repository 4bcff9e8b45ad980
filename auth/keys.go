package auth

import (
	"context"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"fmt"
	"regexp"
	"time"

	"github.com/devmesh/devmesh/store"
)

// kidPattern is the shape of every key id we issue. A kid from a token
// header is checked against it before it is used for anything, so a kid
// carrying path characters, quotes or megabytes never reaches a lookup or
// a log line.
var kidPattern = regexp.MustCompile(`^k_[a-z2-7]{26}$`)

// validKid reports whether kid has the shape of a key id we issue.
func validKid(kid string) bool { return len(kid) <= 64 && kidPattern.MatchString(kid) }

// signingKey is one row of signing_keys, opened.
type signingKey struct {
	kid         string
	public      ed25519.PublicKey
	private     ed25519.PrivateKey // nil when it could not be unsealed
	createdAt   time.Time
	retireAfter *time.Time
	retiredAt   *time.Time
}

// verifies reports whether tokens signed with k are still accepted at now:
// not retired, and not past its retire-after time.
func (k *signingKey) verifies(now time.Time) bool {
	if k.retiredAt != nil {
		return false
	}
	return k.retireAfter == nil || now.Before(*k.retireAfter)
}

// signs reports whether k is a current signing key: one not yet scheduled
// for retirement and whose private half opened.
func (k *signingKey) signs() bool {
	return k.retiredAt == nil && k.retireAfter == nil && k.private != nil
}

// keyStore reads and writes signing_keys.
type keyStore struct {
	db   *store.DB
	aead cipher.AEAD
}

// create generates a key pair, seals the private half and inserts it.
func (s *keyStore) create(ctx context.Context, q store.Querier, now time.Time) (*signingKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	kid := "k" + s.db.NewID("")
	sealed, err := seal(s.aead, kid, priv.Seed())
	if err != nil {
		return nil, err
	}
	_, err = q.ExecContext(ctx, s.db.Rebind(`INSERT INTO signing_keys
		(kid, algorithm, public_key, private_key, created_at) VALUES (?, ?, ?, ?, ?)`),
		kid, "EdDSA", base64.RawURLEncoding.EncodeToString(pub), sealed, now)
	if err != nil {
		return nil, fmt.Errorf("insert signing key: %w", err)
	}
	return &signingKey{kid: kid, public: pub, private: priv, createdAt: now}, nil
}

// load returns every key not yet retired, newest first.
func (s *keyStore) load(ctx context.Context) ([]*signingKey, error) {
	rows, err := s.db.SQL.QueryContext(ctx, `SELECT kid, public_key, private_key,
		created_at, retire_after, retired_at FROM signing_keys
		WHERE retired_at IS NULL ORDER BY created_at DESC, kid DESC`)
	if err != nil {
		return nil, fmt.Errorf("load signing keys: %w", err)
	}
	defer rows.Close()
	var keys []*signingKey
	for rows.Next() {
		k, err := s.scan(rows)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load signing keys: %w", err)
	}
	return keys, nil
}

func (s *keyStore) scan(rows *sql.Rows) (*signingKey, error) {
	var (
		k              signingKey
		pub, sealed    string
		after, retired sql.NullTime
	)
	if err := rows.Scan(&k.kid, &pub, &sealed, &k.createdAt, &after, &retired); err != nil {
		return nil, fmt.Errorf("load signing keys: %w", err)
	}
	p, err := base64.RawURLEncoding.DecodeString(pub)
	if err != nil || len(p) != ed25519.PublicKeySize || !validKid(k.kid) {
		return nil, fmt.Errorf("load signing key %q: malformed row", k.kid)
	}
	k.public = ed25519.PublicKey(p)
	seed, err := unseal(s.aead, k.kid, sealed)
	if err != nil {
		return nil, err
	}
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("load signing key %q: malformed seed", k.kid)
	}
	k.private = ed25519.NewKeyFromSeed(seed)
	if !k.private.Public().(ed25519.PublicKey).Equal(k.public) {
		return nil, fmt.Errorf("load signing key %q: private and public halves differ", k.kid)
	}
	k.retireAfter, k.retiredAt = timePtr(after), timePtr(retired)
	return &k, nil
}

func timePtr(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	u := t.Time.UTC()
	return &u
}
