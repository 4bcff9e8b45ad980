package kek_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/devmesh/devmesh/blob/kek"
	"github.com/devmesh/devmesh/internal/errs"
	"github.com/devmesh/devmesh/internal/secret"
)

func TestLoadOrCreateFileKeepsOneKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kek.key")
	k1, err := kek.LoadOrCreateFile(path, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	defer k1.Close()
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	ct, err := k1.Encrypt(t.Context(), []byte("data key"))
	if err != nil {
		t.Fatal(err)
	}
	k2, err := kek.LoadOrCreateFile(path, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	defer k2.Close()
	if pt, err := k2.Decrypt(t.Context(), ct); err != nil || string(pt) != "data key" {
		t.Fatalf("reloaded keeper Decrypt = %q, %v; want the same key as before", pt, err)
	}
}

// TestLoadOrCreateFileConcurrentStarts starts several creators at once:
// all must end up with the one key that was written.
func TestLoadOrCreateFileConcurrentStarts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kek.key")
	const n = 8
	cts := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			k, err := kek.LoadOrCreateFile(path, rand.Reader)
			if err != nil {
				t.Error(err)
				return
			}
			defer k.Close()
			cts[i], _ = k.Encrypt(t.Context(), []byte{byte(i)})
		})
	}
	wg.Wait()
	k, err := kek.LoadOrCreateFile(path, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for i, ct := range cts {
		if pt, err := k.Decrypt(t.Context(), ct); err != nil || !bytes.Equal(pt, []byte{byte(i)}) {
			t.Fatalf("starter %d used a different key: %v", i, err)
		}
	}
}

func TestLoadOrCreateFileRefusesBadFiles(t *testing.T) {
	dir := t.TempDir()
	good := base64.StdEncoding.EncodeToString(make([]byte, 32))
	cases := []struct {
		name, content string
		mode          os.FileMode
	}{
		{"readable by others", good, 0o644},
		{"readable by group", good, 0o640},
		{"short key", base64.StdEncoding.EncodeToString(make([]byte, 16)), 0o600},
		{"not base64", "not a key!", 0o600},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			if err := os.WriteFile(p, []byte(tc.content), tc.mode); err != nil {
				t.Fatal(err)
			}
			os.Chmod(p, tc.mode)
			if _, err := kek.LoadOrCreateFile(p, rand.Reader); errs.KindOf(err) != errs.Invalid {
				t.Fatalf("got %v, want an invalid error", err)
			}
		})
	}
}

func TestOpenKeeperURLs(t *testing.T) {
	raw := make([]byte, 32)
	rand.Read(raw)
	key := base64.URLEncoding.EncodeToString(raw)
	k, err := kek.Open(t.Context(), secret.New("base64key://"+key))
	if err != nil {
		t.Fatalf("open base64key keeper: %v", err)
	}
	k.Close()

	_, err = kek.Open(t.Context(), secret.New("base64key://short"+key[:10]))
	if err == nil {
		t.Fatal("a malformed key opened")
	}
	if strings.Contains(err.Error(), key[:10]) {
		t.Fatalf("error %q reveals key material", err)
	}
	if _, err := kek.Open(t.Context(), secret.New("hashivault://x")); errs.KindOf(err) != errs.Invalid {
		t.Fatalf("unwired scheme: got %v, want invalid", err)
	}
}

// TestAzureKeyVaultOpenerIsWired checks only that the scheme is
// registered; no Key Vault is reachable here, so no key is used.
func TestAzureKeyVaultOpenerIsWired(t *testing.T) {
	_, err := kek.Open(t.Context(), secret.New(
		"azurekeyvault://devmesh.vault.azure.net/keys/kek?algorithm=RSA-OAEP-256"))
	for e := err; e != nil; e = errors.Unwrap(e) {
		if strings.Contains(e.Error(), "no driver registered") {
			t.Fatalf("azurekeyvault is not registered: %v", e)
		}
	}
	t.Logf("open azurekeyvault keeper: %v", err)
}
