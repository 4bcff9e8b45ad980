package auth

import (
	"crypto/ed25519"
	"encoding/base64"
	"slices"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/devmesh/devmesh/internal/secret"
	"github.com/devmesh/devmesh/store/storetest"
)

func (e *env) jwks() JWKS {
	e.t.Helper()
	r := e.do("GET", "/.well-known/jwks.json", "", nil)
	wantStatus(e.t, "jwks", r, 200)
	var set JWKS
	r.json(e.t, &set)
	return set
}

func kids(set JWKS) []string {
	var out []string
	for _, k := range set.Keys {
		out = append(out, k.Kid)
	}
	return out
}

func TestJWKSVerifiesIssuedTokens(t *testing.T) {
	e := newEnv(t, storetest.Backends()[0])
	access, _ := e.mustLogin(e.owner.Email)
	set := e.jwks()
	if len(set.Keys) != 1 {
		t.Fatalf("jwks has %d keys, want 1", len(set.Keys))
	}
	k := set.Keys[0]
	if k.Kty != "OKP" || k.Crv != "Ed25519" || k.Alg != "EdDSA" || k.Use != "sig" {
		t.Errorf("jwk = %+v", k)
	}
	x, err := base64.RawURLEncoding.DecodeString(k.X)
	if err != nil || len(x) != ed25519.PublicKeySize {
		t.Fatalf("jwk x = %q: %v", k.X, err)
	}
	// An outside verifier holding only the JWKS accepts our token.
	_, err = jwt.Parse(access, func(tok *jwt.Token) (any, error) {
		if tok.Header["kid"] != k.Kid {
			t.Errorf("token kid %v, jwk kid %s", tok.Header["kid"], k.Kid)
		}
		return ed25519.PublicKey(x), nil
	}, jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithTimeFunc(e.clock.Now))
	if err != nil {
		t.Fatalf("verify with the published key: %v", err)
	}
}

func TestRotation(t *testing.T) {
	backends(t, func(t *testing.T, b storetest.Backend) {
		e := newEnv(t, b)
		oldAccess, _ := e.mustLogin(e.owner.Email)
		oldKey, _ := e.svc.keys.current()
		oldForgery := validForgery(t, e, oldAccess, recruiterKind) // signed by the old key

		newKid, err := e.svc.Rotate(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if got := kids(e.jwks()); !slices.Equal(got, []string{newKid, oldKey.kid}) {
			t.Errorf("jwks after rotation = %v, want [new old]", got)
		}
		newAccess, _ := e.mustLogin(e.owner.Email)
		if h := header(t, newAccess); h["kid"] != newKid {
			t.Errorf("new token signed by %v, want %s", h["kid"], newKid)
		}
		wantStatus(t, "old token after rotation", e.do("GET", "/api/v1/whoami", oldAccess, nil), 200)

		// Past every old token's expiry the old key stops verifying, and
		// the next rotation retires it for good.
		e.clock.Add(MaxTokenLifetime + DefaultConfig().Leeway + time.Second)
		wantStatus(t, "token by a key past retirement",
			e.do("GET", "/api/v1/whoami", resign(t, e, oldForgery), nil), 401)
		if _, err := e.svc.Rotate(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got := kids(e.jwks()); slices.Contains(got, oldKey.kid) || len(got) != 2 {
			t.Errorf("jwks after the second rotation = %v, want two keys without %s", got, oldKey.kid)
		}
		var retired int
		err = e.db.SQL.QueryRow(e.db.Rebind(`SELECT COUNT(*) FROM signing_keys
			WHERE kid = ? AND retired_at IS NOT NULL`), oldKey.kid).Scan(&retired)
		if err != nil || retired != 1 {
			t.Fatalf("old key retired rows = %d, %v; want 1", retired, err)
		}
		wantStatus(t, "token by a retired key",
			e.do("GET", "/api/v1/whoami", resign(t, e, oldForgery), nil), 401)
	})
}

// resign signs f again with fresh times, as an attacker holding the old
// private key would.
func resign(t *testing.T, e *env, f *forgery) string {
	now := e.clock.Now()
	f.claims["iat"], f.claims["nbf"] = now.Unix(), now.Unix()
	f.claims["exp"] = now.Add(5 * time.Minute).Unix()
	return f.sign(t)
}

func header(t *testing.T, tok string) map[string]any {
	t.Helper()
	p, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	return p.Header
}

func TestRotationReachesOtherReplicas(t *testing.T) {
	backends(t, func(t *testing.T, b storetest.Backend) {
		e := newEnv(t, b)
		replica := e.newService(DefaultConfig()) // same database, own key set
		newKid, err := e.svc.Rotate(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		access, _ := e.mustLogin(e.owner.Email)
		// The replica has not reloaded yet; the unknown, well-formed kid
		// makes it reload once.
		e.clock.Add(DefaultConfig().MinKeyReload)
		p, err := replica.AuthenticateRecruiter(t.Context(), access)
		if err != nil || p.Subject != e.owner.ID {
			t.Fatalf("replica verifies a token of the new key %s: %+v, %v", newKid, p, err)
		}
		if k, _ := replica.keys.current(); k.kid != newKid {
			t.Errorf("replica signs with %s, want %s", k.kid, newKid)
		}
	})
}

func TestRetiredKeyFromTheDatabase(t *testing.T) {
	e := newEnv(t, storetest.Backends()[0])
	access, _ := e.mustLogin(e.owner.Email)
	key, _ := e.svc.keys.current()
	// An operator retires a compromised key directly; replicas drop it at
	// their next reload.
	_, err := e.db.SQL.Exec(`UPDATE signing_keys SET retired_at = ? WHERE kid = ?`, e.clock.Now(), key.kid)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.keys.reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "token by a retired key", e.do("GET", "/api/v1/whoami", access, nil), 401)
}

func TestSigningKeysAreSealed(t *testing.T) {
	db := storetest.Backends()[0].Open(t)
	e := newEnvWith(t, db, func(*Config) {})
	key, _ := e.svc.keys.current()
	var sealed string
	if err := db.SQL.QueryRow(`SELECT private_key FROM signing_keys WHERE kid = ?`, key.kid).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(sealed)
	if slices.Equal(raw, key.private.Seed()) || containsBytes(raw, key.private.Seed()) {
		t.Fatal("the private key is stored in the clear")
	}

	other := secret.NewBytes(make([]byte, MasterKeySize))
	if _, err := New(t.Context(), Deps{DB: db, MasterKey: other, Audit: e.audit}, DefaultConfig()); err == nil {
		t.Error("a service with the wrong master key loaded the signing keys")
	}

	// A sealed key moved to another kid's row does not open.
	aead, _ := newAEAD(e.master)
	if _, err := unseal(aead, "k_"+string(make([]byte, 0))+"aaaaaaaaaaaaaaaaaaaaaaaaaa", sealed); err == nil {
		t.Error("a sealed key opened under another kid")
	}
}

func containsBytes(haystack, needle []byte) bool {
	for i := 0; i+len(needle) <= len(haystack); i++ {
		if slices.Equal(haystack[i:i+len(needle)], needle) {
			return true
		}
	}
	return false
}

func TestRotateKeysWithoutAService(t *testing.T) {
	db := storetest.Backends()[0].Open(t)
	e := newEnvWith(t, db, func(*Config) {})
	before, _ := e.svc.keys.current()
	kid, err := RotateKeys(t.Context(), db, e.master, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.keys.reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if k, _ := e.svc.keys.current(); k.kid != kid || kid == before.kid {
		t.Errorf("after RotateKeys the service signs with %s, want the new %s", k.kid, kid)
	}
	if _, err := RotateKeys(t.Context(), db, secret.NewBytes(make([]byte, 32)), nil); err == nil {
		t.Error("RotateKeys with the wrong master key succeeded")
	}
}
