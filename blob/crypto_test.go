package blob_test

import (
	"bytes"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/devmesh/devmesh/blob"
	"github.com/devmesh/devmesh/blob/blobtest"
	"github.com/devmesh/devmesh/internal/errs"
)

const (
	segment   = 64 << 10
	sealedSeg = segment + 16
	header    = 32
)

func TestCiphertextDoesNotContainPlaintext(t *testing.T) {
	f := localFixture(t, encrypted(t))
	plain := bytes.Repeat([]byte("candidate-solution-marker "), 10000)
	info := blobtest.MustPut(t, f.Store, "s1", plain)
	raw := f.Raw(t, info.Key)
	if bytes.Contains(raw, []byte("candidate-solution")) {
		t.Fatal("stored bytes contain the plaintext")
	}
	if int64(len(raw)) != info.StoredSize {
		t.Fatalf("stored %d bytes, Info.StoredSize = %d", len(raw), info.StoredSize)
	}

	plainStore := localFixture(t, blob.Options{Plaintext: true})
	pinfo := blobtest.MustPut(t, plainStore.Store, "s1", plain)
	if !bytes.Contains(plainStore.Raw(t, pinfo.Key), []byte("candidate-solution")) {
		t.Fatal("the plaintext store hides the marker: this test could not fail")
	}
}

func TestSameContentEncryptsDifferently(t *testing.T) {
	opts := encrypted(t)
	f := localFixture(t, opts)
	b, _ := blobtest.Content(t, 1000)
	a := f.Raw(t, blobtest.MustPut(t, f.Store, "s1", b).Key)
	c := f.Raw(t, blobtest.MustPut(t, f.Store, "s2", b).Key)
	if bytes.Equal(a[header:], c[header:]) {
		t.Fatal("two scopes store identical ciphertext for the same content")
	}
}

// TestSegmentTampering rearranges whole, individually valid segments:
// only the nonce counter and the last-segment flag can catch it.
func TestSegmentTampering(t *testing.T) {
	f := localFixture(t, encrypted(t))
	b, d := blobtest.Content(t, 3*segment+100)
	info := blobtest.MustPut(t, f.Store, "s1", b)
	raw := f.Raw(t, info.Key)
	seg := func(i int) []byte {
		end := min(header+(i+1)*sealedSeg, len(raw))
		return raw[header+i*sealedSeg : end]
	}
	join := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	hdr := raw[:header]

	cases := []struct {
		name string
		raw  []byte
	}{
		{"swapped segments", join(hdr, seg(1), seg(0), seg(2), seg(3))},
		{"dropped last segment", join(hdr, seg(0), seg(1), seg(2))},
		{"dropped middle segment", join(hdr, seg(0), seg(2), seg(3))},
		{"duplicated segment", join(hdr, seg(0), seg(0), seg(1), seg(2), seg(3))},
		{"appended bytes", join(raw, []byte{0})},
		{"header from another object", join(make([]byte, header), raw[header:])},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.Replace(t, info.Key, tc.raw)
			_, err := f.Store.ReadAll(t.Context(), "s1", d, 1<<20)
			blobtest.WantIntegrity(t, err, d)
		})
	}
}

// TestCiphertextBoundToScope copies an object's bytes into another scope
// that shares nothing but the digest: the additional data names the
// scope, so it must not decrypt there.
func TestCiphertextBoundToScope(t *testing.T) {
	opts := encrypted(t)
	f := localFixture(t, opts)
	b, d := blobtest.Content(t, 500)
	src := blobtest.MustPut(t, f.Store, "s1", b)
	other, _ := blobtest.Content(t, 10)
	blobtest.MustPut(t, f.Store, "s2", other) // gives s2 a data key

	dst, err := blob.ObjectKey("s2", d)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(f.Store.Backend().(*blob.LocalBackend).Path("v1/s2"), 0o750)
	f.Replace(t, dst, f.Raw(t, src.Key))
	_, err = f.Store.ReadAll(t.Context(), "s2", d, 1<<20)
	blobtest.WantIntegrity(t, err, d)
}

func TestKEKRotationRewrapsWithoutTouchingBlobs(t *testing.T) {
	oldKEK, newKEK := mustKEK(t, "kek-2026a"), mustKEK(t, "kek-2026b")
	keys := &blob.MemDataKeys{}
	f := localFixture(t, blob.Options{Keys: mustKeyring(t, oldKEK), DataKeys: keys})
	dir := f.Store.Backend().(*blob.LocalBackend)

	type obj struct {
		scope string
		plain []byte
		raw   []byte
		mtime time.Time
		info  blob.Info
	}
	var objs []obj
	for _, scope := range []string{"a", "b", "c"} {
		p, _ := blobtest.Content(t, 100<<10)
		info := blobtest.MustPut(t, f.Store, scope, p)
		fi, err := os.Stat(dir.Path(info.Key))
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, obj{scope, p, f.Raw(t, info.Key), fi.ModTime(), info})
	}

	backend := mustLocal(t, dir.Root())
	rotating := mustStore(t, backend, blob.Options{
		Keys: mustKeyring(t, newKEK, oldKEK), DataKeys: keys,
	})
	n, err := rotating.Rewrap(t.Context())
	if err != nil || n != 3 {
		t.Fatalf("Rewrap = %d, %v; want 3 keys rewrapped", n, err)
	}
	if n, err := rotating.Rewrap(t.Context()); err != nil || n != 0 {
		t.Fatalf("second Rewrap = %d, %v; want 0", n, err)
	}

	// The old KEK is retired: a store that only knows the new one reads.
	retired := mustStore(t, mustLocal(t, dir.Root()), blob.Options{
		Keys: mustKeyring(t, newKEK), DataKeys: keys,
	})
	for _, o := range objs {
		if got := blobtest.MustGet(t, retired, o.scope, o.info.Digest); !bytes.Equal(got, o.plain) {
			t.Fatalf("scope %s: read back different bytes after rotation", o.scope)
		}
		fi, err := os.Stat(dir.Path(o.info.Key))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(f.Raw(t, o.info.Key), o.raw) || !fi.ModTime().Equal(o.mtime) {
			t.Fatalf("scope %s: rotation changed the stored object", o.scope)
		}
	}

	// And one that only knows the old KEK no longer can: the keys moved.
	stale := mustStore(t, mustLocal(t, dir.Root()), blob.Options{
		Keys: mustKeyring(t, oldKEK), DataKeys: keys,
	})
	if _, err := stale.ReadAll(t.Context(), "a", objs[0].info.Digest, 1<<20); err == nil {
		t.Fatal("a store with only the retired KEK still reads: nothing was rewrapped")
	}
}

func TestShreddedScopeIsUnreadable(t *testing.T) {
	opts := encrypted(t)
	f := localFixture(t, opts)
	gone, dGone := blobtest.Content(t, 5000)
	kept, dKept := blobtest.Content(t, 5000)
	infoGone := blobtest.MustPut(t, f.Store, "sub-1", gone)
	blobtest.MustPut(t, f.Store, "sub-2", kept)
	rawBefore := f.Raw(t, infoGone.Key)

	if err := f.Store.Shred(t.Context(), "sub-1"); err != nil {
		t.Fatal(err)
	}
	fresh := mustStore(t, mustLocal(t, f.Store.Backend().(*blob.LocalBackend).Root()), opts)
	for name, s := range map[string]*blob.Store{"same store": f.Store, "fresh store": fresh} {
		_, err := s.Get(t.Context(), "sub-1", dGone)
		if !errors.Is(err, blob.ErrShredded) || errs.KindOf(err) != errs.Conflict {
			t.Fatalf("%s: Get in shredded scope: got %v, want ErrShredded", name, err)
		}
		_, err = s.Put(t.Context(), "sub-1", dGone, bytes.NewReader(gone))
		if !errors.Is(err, blob.ErrShredded) {
			t.Fatalf("%s: Put in shredded scope: got %v, want ErrShredded", name, err)
		}
		if got := blobtest.MustGet(t, s, "sub-2", dKept); !bytes.Equal(got, kept) {
			t.Fatalf("%s: another scope was damaged by the shred", name)
		}
	}
	if !bytes.Equal(f.Raw(t, infoGone.Key), rawBefore) {
		t.Fatal("shredding rewrote the blob; it must only destroy the key")
	}
}

// TestShredReachesOtherProcessesAfterTTL shows the bound on how long a
// store that cached a key keeps using it after another one shredded it.
func TestShredReachesOtherProcessesAfterTTL(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	opts := encrypted(t)
	opts.KeyCacheTTL = time.Minute
	opts.Now = func() time.Time { return now }
	f := localFixture(t, opts)
	b, d := blobtest.Content(t, 100)
	blobtest.MustPut(t, f.Store, "s1", b)

	other := mustStore(t, mustLocal(t, f.Store.Backend().(*blob.LocalBackend).Root()), opts)
	if err := other.Shred(t.Context(), "s1"); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Minute)
	if _, err := f.Store.Get(t.Context(), "s1", d); !errors.Is(err, blob.ErrShredded) {
		t.Fatalf("after the cache TTL: got %v, want ErrShredded", err)
	}
}

// TestWrappedKeyBoundToScope moves scope a's wrapped key into scope b's
// row: unwrapping must refuse it rather than hand out a's key.
func TestWrappedKeyBoundToScope(t *testing.T) {
	opts := encrypted(t)
	keys := opts.DataKeys.(*blob.MemDataKeys)
	f := localFixture(t, opts)
	b, _ := blobtest.Content(t, 100)
	blobtest.MustPut(t, f.Store, "a", b)
	wa, err := keys.Get(t.Context(), "a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Create(t.Context(), "b", wa); err != nil {
		t.Fatal(err)
	}
	_, err = f.Store.Put(t.Context(), "b", blob.DigestOf(b), bytes.NewReader(b))
	if err == nil {
		t.Fatal("a data key wrapped for scope a was accepted for scope b")
	}
}
