package blob_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devmesh/devmesh/blob"
	"github.com/devmesh/devmesh/blob/blobtest"
	"github.com/devmesh/devmesh/internal/errs"
)

func TestValidateScopeRefusesPathTricks(t *testing.T) {
	bad := []string{
		"", ".", "..", "../x", "x/..", "a/b", "/abs", `a\b`, ".hidden",
		"-flag", "_x", "a b", "a\x00b", "a%2fb", "a..b", "tasks/", "ａ",
		"é", "a\nb", strings.Repeat("a", 65),
	}
	for _, s := range bad {
		if err := blob.ValidateScope(s); err == nil || errs.KindOf(err) != errs.Invalid {
			t.Errorf("ValidateScope(%q) = %v, want an invalid error", s, err)
		}
	}
}

func TestValidateScopeAcceptsIDs(t *testing.T) {
	good := []string{"tasks", "0198c2d4-7f3a-7b1e-9c55-3e0f7a1b2c3d",
		"01J9Z8X7W6V5T4S3R2Q1P0N9M8", "sub_42", strings.Repeat("a", 64)}
	for _, s := range good {
		if err := blob.ValidateScope(s); err != nil {
			t.Errorf("ValidateScope(%q) = %v, want nil", s, err)
		}
	}
}

// TestStoreRefusesTraversal tries hostile scopes through every method
// and checks that nothing was created outside the store's root.
func TestStoreRefusesTraversal(t *testing.T) {
	f := localFixture(t, encrypted(t))
	root := f.Store.Backend().(*blob.LocalBackend).Root()
	b, d := blobtest.Content(t, 10)
	for _, scope := range []string{"../escape", "..", "a/../../b", "/etc"} {
		if _, err := f.Store.Put(t.Context(), scope, d, strings.NewReader(string(b))); errs.KindOf(err) != errs.Invalid {
			t.Errorf("Put in scope %q: got %v, want invalid", scope, err)
		}
		if _, err := f.Store.Get(t.Context(), scope, d); errs.KindOf(err) != errs.Invalid {
			t.Errorf("Get in scope %q: got %v, want invalid", scope, err)
		}
		if _, err := f.Store.Stat(t.Context(), scope, d); errs.KindOf(err) != errs.Invalid {
			t.Errorf("Stat in scope %q: got %v, want invalid", scope, err)
		}
		if err := f.Store.Shred(t.Context(), scope); errs.KindOf(err) != errs.Invalid {
			t.Errorf("Shred of scope %q: got %v, want invalid", scope, err)
		}
	}
	if _, err := f.Store.Put(t.Context(), "s1", blob.Digest("sha256:../../x"), strings.NewReader("")); errs.KindOf(err) != errs.Invalid {
		t.Errorf("Put under digest with a path: got %v, want invalid", err)
	}
	entries, err := os.ReadDir(filepath.Dir(root))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if filepath.Join(filepath.Dir(root), e.Name()) != root {
			t.Errorf("%s appeared beside the store root", e.Name())
		}
	}
}

func TestParseDigest(t *testing.T) {
	good := blob.DigestOf([]byte("hello"))
	if got, err := blob.ParseDigest(string(good)); err != nil || got != good {
		t.Fatalf("ParseDigest(%q) = %q, %v", good, got, err)
	}
	if good.String() != "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824" {
		t.Fatalf("DigestOf(hello) = %s, want the well-known SHA-256", good)
	}
	bad := []string{"", "sha256:", "sha256:abc", "SHA256:" + good.Hex(),
		"sha256:" + strings.ToUpper(good.Hex()), "md5:" + good.Hex(),
		string(good) + "0", "sha256:" + strings.Repeat("g", 64), " " + string(good)}
	for _, s := range bad {
		if _, err := blob.ParseDigest(s); err == nil || errs.KindOf(err) != errs.Invalid {
			t.Errorf("ParseDigest(%q) = %v, want an invalid error", s, err)
		}
	}
}

func FuzzParseDigest(f *testing.F) {
	f.Add(string(blob.DigestOf(nil)))
	f.Add("sha256:../../etc/passwd")
	f.Fuzz(func(t *testing.T, s string) {
		d, err := blob.ParseDigest(s)
		if err != nil {
			return
		}
		if string(d) != s || "sha256:"+d.Hex() != s || len(d.Hex()) != 64 {
			t.Fatalf("ParseDigest(%q) accepted a non-canonical digest", s)
		}
		if _, err := blob.ObjectKey("tasks", d); err != nil {
			t.Fatalf("ObjectKey of accepted digest %q: %v", s, err)
		}
	})
}

func FuzzValidateScope(f *testing.F) {
	for _, s := range []string{"tasks", "..", "a/b", "sub-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if blob.ValidateScope(s) != nil {
			return
		}
		if strings.ContainsAny(s, "./\\\x00 ") || s == "" || len(s) > 64 {
			t.Fatalf("ValidateScope accepted %q", s)
		}
		key, err := blob.ObjectKey(s, blob.DigestOf(nil))
		if err != nil || strings.Count(key, "/") != 2 {
			t.Fatalf("ObjectKey(%q) = %q, %v: want three segments", s, key, err)
		}
	})
}

// FuzzStoredObject feeds arbitrary bytes to the decrypting reader as a
// stored object: it must either return exactly the original content or
// an integrity error, never anything else.
func FuzzStoredObject(f *testing.F) {
	f.Add([]byte{}, 0, byte(0))
	f.Add([]byte("DMB\x01"), 4, byte(1))
	f.Fuzz(func(t *testing.T, tail []byte, cut int, flip byte) {
		fx := bucketFixture(t, mustBucket(t, "mem://"), encrypted(t))
		plain := bytes.Repeat([]byte("x"), 70<<10)
		info := blobtest.MustPut(t, fx.Store, "s1", plain)
		raw := fx.Raw(t, info.Key)
		if cut < 0 {
			cut = -cut
		}
		cut %= len(raw) + 1
		mut := append(bytes.Clone(raw[:cut]), tail...)
		if len(mut) > 0 {
			mut[int(flip)%len(mut)] ^= flip
		}
		fx.Replace(t, info.Key, mut)
		got, err := fx.Store.ReadAll(t.Context(), "s1", info.Digest, 1<<20)
		if err != nil {
			if !errors.Is(err, blob.ErrIntegrity) {
				t.Fatalf("got %v, want ErrIntegrity", err)
			}
			return
		}
		if !bytes.Equal(got, plain) {
			t.Fatal("tampered object served as valid with different content")
		}
	})
}
