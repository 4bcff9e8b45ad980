package blob_test

import (
	stdcontext "context"
	"os"
	"path/filepath"
	"testing"

	"gocloud.dev/secrets"
	"gocloud.dev/secrets/localsecrets"

	"github.com/devmesh/devmesh/blob"
	"github.com/devmesh/devmesh/blob/blobtest"
)

func mustKEK(t testing.TB, id string) blob.KEK {
	t.Helper()
	key, err := localsecrets.NewRandomKey()
	if err != nil {
		t.Fatal(err)
	}
	k := localsecrets.NewKeeper(key)
	t.Cleanup(func() { k.Close() })
	return blob.KEK{ID: id, Keeper: k}
}

func mustKeyring(t testing.TB, primary blob.KEK, older ...blob.KEK) *blob.Keyring {
	t.Helper()
	kr, err := blob.NewKeyring(primary, older...)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func mustStore(t testing.TB, b blob.Backend, opts blob.Options) *blob.Store {
	t.Helper()
	s, err := blob.New(b, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustLocal(t testing.TB, dir string) *blob.LocalBackend {
	t.Helper()
	b, err := blob.NewLocalBackend(dir)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// encrypted returns the options of an encrypted store with a fresh KEK
// and in-memory data keys.
func encrypted(t testing.TB) blob.Options {
	return blob.Options{
		Keys:     mustKeyring(t, mustKEK(t, "kek1")),
		DataKeys: &blob.MemDataKeys{},
	}
}

// localFixture opens a local store and gives raw access to its files.
func localFixture(t *testing.T, opts blob.Options) blobtest.Fixture {
	b := mustLocal(t, t.TempDir())
	return blobtest.Fixture{
		Store: mustStore(t, b, opts),
		Raw: func(t *testing.T, key string) []byte {
			raw, err := os.ReadFile(b.Path(key))
			if err != nil {
				t.Fatal(err)
			}
			return raw
		},
		Replace: func(t *testing.T, key string, raw []byte) {
			p := b.Path(key)
			tmp := filepath.Join(filepath.Dir(p), "replace")
			if err := os.WriteFile(tmp, raw, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, p); err != nil {
				t.Fatal(err)
			}
		},
	}
}

// keeperOf is the secrets keeper of a fresh KEK, for tests that unwrap by hand.
func keeperOf(k blob.KEK) *secrets.Keeper { return k.Keeper }

// context returns a background context for the race child, which runs
// outside any test.
func context() stdcontext.Context { return stdcontext.Background() }
