package blob

import (
	"bytes"
	"context"
	"fmt"

	"gocloud.dev/secrets"

	"github.com/devmesh/devmesh/internal/errs"
)

// dataKeySize is the AES-256 data key length.
const dataKeySize = 32

// wrapLabel starts every wrapped plaintext; with the scope after it, it
// ties a wrapped key to its scope so a key copied to another scope's row
// is refused on unwrap. Stored: never change it.
const wrapLabel = "devmesh data key v1\x00"

// KEK is a key-encryption key: a gocloud.dev/secrets keeper and the
// stable name under which wrapped keys remember it.
type KEK struct {
	ID     string // 1-64 letters, digits, '-' or '_'; stored with each wrapped key
	Keeper *secrets.Keeper
}

// Keyring holds the KEK that wraps new data keys (the primary) and older
// KEKs that can still unwrap keys not yet rewrapped. It does not close
// the keepers; their owner does.
type Keyring struct {
	primary KEK
	byID    map[string]*secrets.Keeper
}

// NewKeyring returns a keyring that wraps with primary and unwraps with
// primary or any of older.
func NewKeyring(primary KEK, older ...KEK) (*Keyring, error) {
	k := &Keyring{primary: primary, byID: map[string]*secrets.Keeper{}}
	for _, kek := range append([]KEK{primary}, older...) {
		if err := ValidateScope(kek.ID); err != nil {
			return nil, fmt.Errorf("invalid KEK id: %w", err)
		}
		if kek.Keeper == nil {
			return nil, errs.E(errs.Invalid, "KEK %q has no keeper", kek.ID)
		}
		if _, dup := k.byID[kek.ID]; dup {
			return nil, errs.E(errs.Invalid, "KEK id %q appears twice", kek.ID)
		}
		k.byID[kek.ID] = kek.Keeper
	}
	return k, nil
}

// PrimaryID returns the id of the KEK that wraps new data keys.
func (k *Keyring) PrimaryID() string { return k.primary.ID }

func wrapPlaintext(scope string, dataKey []byte) []byte {
	return append([]byte(wrapLabel+scope+"\x00"), dataKey...)
}

// wrap encrypts dataKey for scope with the primary KEK.
func (k *Keyring) wrap(ctx context.Context, scope string, dataKey []byte) (WrappedKey, error) {
	pt := wrapPlaintext(scope, dataKey)
	defer clear(pt)
	ct, err := k.primary.Keeper.Encrypt(ctx, pt)
	if err != nil {
		return WrappedKey{}, fmt.Errorf("wrap data key of scope %q with KEK %q: %w",
			scope, k.primary.ID, err)
	}
	return WrappedKey{KEKID: k.primary.ID, Ciphertext: ct}, nil
}

// unwrap decrypts w and checks that it belongs to scope.
func (k *Keyring) unwrap(ctx context.Context, scope string, w WrappedKey) ([]byte, error) {
	keeper, ok := k.byID[w.KEKID]
	if !ok {
		return nil, fmt.Errorf("unwrap data key of scope %q: KEK %q is not in the keyring", scope, w.KEKID)
	}
	pt, err := keeper.Decrypt(ctx, w.Ciphertext)
	if err != nil {
		return nil, fmt.Errorf("unwrap data key of scope %q with KEK %q: %w", scope, w.KEKID, err)
	}
	prefix := []byte(wrapLabel + scope + "\x00")
	if len(pt) != len(prefix)+dataKeySize || !bytes.HasPrefix(pt, prefix) {
		clear(pt)
		return nil, fmt.Errorf("unwrap data key of scope %q: it belongs to another scope", scope)
	}
	return pt[len(prefix):], nil
}
