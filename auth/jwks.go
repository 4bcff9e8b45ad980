package auth

import (
	"encoding/base64"
	"net/http"
	"slices"
	"strings"

	"github.com/devmesh/devmesh/server"
)

// JWK is one public key in a JSON Web Key Set (RFC 8037 OKP form).
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

// JWKS is a JSON Web Key Set.
type JWKS struct {
	Keys []JWK `json:"keys"`
}

// JWKS returns the public keys that verify tokens now: the current key
// and every older key not yet retired, the signing key first.
func (s *Service) JWKS() JWKS {
	set := JWKS{Keys: []JWK{}}
	for _, k := range s.keys.verifying() {
		set.Keys = append(set.Keys, JWK{Kty: "OKP", Crv: "Ed25519",
			X:   base64.RawURLEncoding.EncodeToString(k.public),
			Kid: k.kid, Alg: algorithm, Use: "sig"})
	}
	return set
}

func (s *Service) serveJWKS(w http.ResponseWriter, r *http.Request) error {
	return server.WriteJSON(w, http.StatusOK, s.JWKS())
}

// sortKeys orders keys that sign before keys being retired, and each
// group newest first.
func sortKeys(keys []*signingKey) {
	slices.SortFunc(keys, func(a, b *signingKey) int {
		if a.signs() != b.signs() {
			if a.signs() {
				return -1
			}
			return 1
		}
		if c := b.createdAt.Compare(a.createdAt); c != 0 {
			return c
		}
		return strings.Compare(b.kid, a.kid)
	})
}
