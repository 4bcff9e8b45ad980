package blobtest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/devmesh/devmesh/blob"
)

// RunDataKeys runs the DataKeys conformance suite. open must return a
// fresh, empty store on every call.
func RunDataKeys(t *testing.T, open func(t *testing.T) blob.DataKeys) {
	t.Run("MissingScopeHasNoKey", func(t *testing.T) { testDKMissing(t, open(t)) })
	t.Run("FirstCreateWins", func(t *testing.T) { testDKFirstWins(t, open(t)) })
	t.Run("ConcurrentCreatesAgree", func(t *testing.T) { testDKConcurrent(t, open(t)) })
	t.Run("RewrapIsCompareAndSwap", func(t *testing.T) { testDKRewrap(t, open(t)) })
	t.Run("ShredIsFinal", func(t *testing.T) { testDKShred(t, open(t)) })
	t.Run("ListPagesLiveScopes", func(t *testing.T) { testDKList(t, open(t)) })
}

func wk(id, ct string) blob.WrappedKey {
	return blob.WrappedKey{KEKID: id, Ciphertext: []byte(ct)}
}

func testDKMissing(t *testing.T, k blob.DataKeys) {
	if _, err := k.Get(t.Context(), "nope"); !errors.Is(err, blob.ErrNoDataKey) {
		t.Fatalf("Get of a new scope: got %v, want ErrNoDataKey", err)
	}
}

func testDKFirstWins(t *testing.T, k blob.DataKeys) {
	a, b := wk("k1", "first\x00\xff"), wk("k1", "second")
	got, err := k.Create(t.Context(), "s", a)
	if err != nil || !got.Equal(a) {
		t.Fatalf("first Create = %v, %v; want the key stored", got, err)
	}
	got, err = k.Create(t.Context(), "s", b)
	if err != nil || !got.Equal(a) {
		t.Fatalf("second Create = %v, %v; want the first key back", got, err)
	}
	got, err = k.Get(t.Context(), "s")
	if err != nil || !got.Equal(a) {
		t.Fatalf("Get = %v, %v; want the first key", got, err)
	}
}

func testDKConcurrent(t *testing.T, k blob.DataKeys) {
	const n = 8
	got := make([]blob.WrappedKey, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			got[i], errs[i] = k.Create(t.Context(), "s", wk("k1", fmt.Sprint("key", i)))
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || !got[i].Equal(got[0]) {
			t.Fatalf("writer %d got %v, %v; writer 0 got %v", i, got[i], errs[i], got[0])
		}
	}
}

func testDKRewrap(t *testing.T, k blob.DataKeys) {
	ctx := t.Context()
	old, next := wk("k1", "old"), wk("k2", "new")
	if err := k.Rewrap(ctx, "s", old, next); !errors.Is(err, blob.ErrNoDataKey) {
		t.Fatalf("Rewrap of a missing key: got %v, want ErrNoDataKey", err)
	}
	if _, err := k.Create(ctx, "s", old); err != nil {
		t.Fatal(err)
	}
	if err := k.Rewrap(ctx, "s", wk("k1", "stale"), next); !errors.Is(err, blob.ErrRewrapConflict) {
		t.Fatalf("Rewrap from a stale key: got %v, want ErrRewrapConflict", err)
	}
	if err := k.Rewrap(ctx, "s", wk("k9", "old"), next); !errors.Is(err, blob.ErrRewrapConflict) {
		t.Fatalf("Rewrap naming the wrong KEK: got %v, want ErrRewrapConflict", err)
	}
	if err := k.Rewrap(ctx, "s", old, next); err != nil {
		t.Fatalf("Rewrap: %v", err)
	}
	if got, err := k.Get(ctx, "s"); err != nil || !got.Equal(next) {
		t.Fatalf("after Rewrap, Get = %v, %v; want %v", got, err, next)
	}
	if err := k.Rewrap(ctx, "s", old, wk("k3", "again")); !errors.Is(err, blob.ErrRewrapConflict) {
		t.Fatalf("second Rewrap from the old key: got %v, want ErrRewrapConflict", err)
	}
}

func testDKShred(t *testing.T, k blob.DataKeys) {
	ctx := t.Context()
	if _, err := k.Create(ctx, "s", wk("k1", "secret")); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Create(ctx, "other", wk("k1", "kept")); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := k.Shred(ctx, "s"); err != nil {
			t.Fatalf("Shred #%d: %v", i+1, err)
		}
	}
	if _, err := k.Get(ctx, "s"); !errors.Is(err, blob.ErrShredded) {
		t.Fatalf("Get after Shred: got %v, want ErrShredded", err)
	}
	if _, err := k.Create(ctx, "s", wk("k1", "fresh")); !errors.Is(err, blob.ErrShredded) {
		t.Fatalf("Create after Shred: got %v, want ErrShredded", err)
	}
	if err := k.Rewrap(ctx, "s", wk("k1", "secret"), wk("k2", "x")); !errors.Is(err, blob.ErrShredded) {
		t.Fatalf("Rewrap after Shred: got %v, want ErrShredded", err)
	}
	if got, err := k.Get(ctx, "other"); err != nil || !got.Equal(wk("k1", "kept")) {
		t.Fatalf("another scope after Shred: %v, %v", got, err)
	}
	if err := k.Shred(ctx, "never"); err != nil {
		t.Fatalf("Shred of a scope without key: %v", err)
	}
	if _, err := k.Create(ctx, "never", wk("k1", "late")); !errors.Is(err, blob.ErrShredded) {
		t.Fatalf("Create after shredding a keyless scope: got %v, want ErrShredded", err)
	}
}

func testDKList(t *testing.T, k blob.DataKeys) {
	ctx := t.Context()
	want := []string{"a", "b", "c", "d", "e"}
	for _, s := range []string{"d", "b", "e", "a", "c", "x"} {
		if _, err := k.Create(ctx, s, wk("k1", s)); err != nil {
			t.Fatal(err)
		}
	}
	if err := k.Shred(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	var got []string
	after := ""
	for range 10 {
		page, err := k.List(ctx, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page...)
		if len(page) < 2 {
			break
		}
		after = page[len(page)-1]
	}
	if !slices.Equal(got, want) {
		t.Fatalf("List pages = %v, want %v", got, want)
	}
}
