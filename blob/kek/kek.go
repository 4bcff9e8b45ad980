// Package kek opens the key-encryption keys that wrap the blob store's
// data keys: a key file in the data directory for the embedded default,
// or a gocloud.dev/secrets keeper URL in production.
//
// Wired keeper URL schemes:
//
//   - base64key://<base64 of 32 bytes>: gocloud.dev/secrets/localsecrets
//   - azurekeyvault://<vault>.vault.azure.net/keys/<name>[/<version>]?algorithm=RSA-OAEP-256:
//     Azure Key Vault, with credentials from azidentity's default chain
//
// HashiCorp Vault has no keeper in gocloud.dev v0.49 and is not wired;
// AWS KMS and Google Cloud KMS are left out to keep their SDKs out of the
// binary.
package kek

import (
	"context"
	"fmt"
	"net/url"

	"gocloud.dev/secrets"
	_ "gocloud.dev/secrets/azurekeyvault" // azurekeyvault://
	_ "gocloud.dev/secrets/localsecrets"  // base64key://

	"github.com/devmesh/devmesh/internal/errs"
	"github.com/devmesh/devmesh/internal/secret"
)

// Open opens the keeper named by keeperURL. The URL may embed key
// material (base64key://), so it is a secret and never appears in an
// error.
func Open(ctx context.Context, keeperURL secret.String) (*secrets.Keeper, error) {
	u, err := url.Parse(keeperURL.Reveal())
	if err != nil {
		return nil, errs.E(errs.Invalid, "invalid KEK URL: cannot parse it")
	}
	switch u.Scheme {
	case "base64key", "azurekeyvault":
	default:
		return nil, errs.E(errs.Invalid,
			"invalid KEK URL scheme %q: want base64key or azurekeyvault", u.Scheme)
	}
	k, err := secrets.OpenKeeper(ctx, keeperURL.Reveal())
	if err != nil {
		// The cause may quote the URL; keep it out of the message.
		return nil, fmt.Errorf("open %s KEK keeper: %w", u.Scheme, redactedError{err})
	}
	return k, nil
}

// redactedError hides the text of an error that may quote a secret URL,
// while keeping it in the chain for errors.Is and errors.As.
type redactedError struct{ err error }

func (r redactedError) Error() string { return "details withheld, they may contain key material" }
func (r redactedError) Unwrap() error { return r.err }
