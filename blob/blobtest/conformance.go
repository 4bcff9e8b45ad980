// Package blobtest holds conformance suites that every blob backend and
// every DataKeys implementation must pass, so the local disk, Azure Blob
// Storage, S3 and the databases are held to exactly the same contract.
package blobtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/devmesh/devmesh/blob"
	"github.com/devmesh/devmesh/internal/errs"
)

// Fixture is one fresh, empty store under test, with raw access to its
// backing objects that bypasses the store, to simulate corruption.
type Fixture struct {
	Store *blob.Store
	// Raw returns the stored bytes under key.
	Raw func(t *testing.T, key string) []byte
	// Replace overwrites the stored bytes under key, ignoring write-once.
	Replace func(t *testing.T, key string, b []byte)
}

// Run runs the conformance suite. open must return a fresh, empty store
// on every call; it is called once per subtest.
func Run(t *testing.T, open func(t *testing.T) Fixture) {
	t.Run("WriteOnceThenRead", func(t *testing.T) { testWriteOnce(t, open(t)) })
	t.Run("SecondIdenticalPutIsNoop", func(t *testing.T) { testIdenticalNoop(t, open(t)) })
	t.Run("DifferentContentUnderSameDigestRejected", func(t *testing.T) { testDifferentRejected(t, open(t)) })
	t.Run("WrongDigestLeavesNothingVisible", func(t *testing.T) { testWrongDigestInvisible(t, open(t)) })
	t.Run("SwappedObjectFailsDigestCheck", func(t *testing.T) { testSwapped(t, open(t)) })
	t.Run("FlippedByteIsIntegrityError", func(t *testing.T) { testFlipped(t, open(t)) })
	t.Run("TruncatedObjectIsIntegrityError", func(t *testing.T) { testTruncated(t, open(t)) })
	t.Run("MissingIsNotFound", func(t *testing.T) { testMissing(t, open(t)) })
	t.Run("ScopesAreSeparate", func(t *testing.T) { testScopes(t, open(t)) })
	t.Run("SizesAroundSegmentBoundaries", func(t *testing.T) { testSizes(t, open(t)) })
	t.Run("RacingWritersCreateOnce", func(t *testing.T) { testRace(t, open(t)) })
}

// Content returns n random bytes and their digest.
func Content(t testing.TB, n int) ([]byte, blob.Digest) {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b, blob.DigestOf(b)
}

// MustPut stores b under its digest in scope and returns the Info.
func MustPut(t testing.TB, s *blob.Store, scope string, b []byte) blob.Info {
	t.Helper()
	info, err := s.Put(t.Context(), scope, blob.DigestOf(b), bytes.NewReader(b))
	if err != nil {
		t.Fatalf("Put(%s, %d bytes): %v", scope, len(b), err)
	}
	return info
}

// MustGet reads digest d of scope to the end and fails on any error.
func MustGet(t testing.TB, s *blob.Store, scope string, d blob.Digest) []byte {
	t.Helper()
	b, err := s.ReadAll(t.Context(), scope, d, 64<<20)
	if err != nil {
		t.Fatalf("ReadAll(%s, %s): %v", scope, d, err)
	}
	return b
}

// read returns what Get streams before its error, and that error.
func read(ctx context.Context, s *blob.Store, scope string, d blob.Digest) ([]byte, error) {
	rc, err := s.Get(ctx, scope, d)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// WantIntegrity fails unless err is an integrity error naming d.
func WantIntegrity(t testing.TB, err error, d blob.Digest) {
	t.Helper()
	if !errors.Is(err, blob.ErrIntegrity) {
		t.Fatalf("got error %v, want ErrIntegrity", err)
	}
	if !strings.Contains(err.Error(), string(d)) {
		t.Fatalf("integrity error %q does not name digest %s", err, d)
	}
}

func key(t testing.TB, scope string, d blob.Digest) string {
	t.Helper()
	k, err := blob.ObjectKey(scope, d)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testWriteOnce(t *testing.T, f Fixture) {
	b, d := Content(t, 1000)
	info := MustPut(t, f.Store, "s1", b)
	if !info.Created || info.Size != 1000 || info.Digest != d {
		t.Fatalf("Put info = %+v, want created, size 1000, digest %s", info, d)
	}
	if got := MustGet(t, f.Store, "s1", d); !bytes.Equal(got, b) {
		t.Fatalf("read back %d bytes, want the %d written", len(got), len(b))
	}
	st, err := f.Store.Stat(t.Context(), "s1", d)
	if err != nil || st.Size != 1000 || st.StoredSize != int64(len(f.Raw(t, info.Key))) {
		t.Fatalf("Stat = %+v, %v; want size 1000 and stored size %d", st, err, len(f.Raw(t, info.Key)))
	}
}

func testIdenticalNoop(t *testing.T, f Fixture) {
	b, d := Content(t, 3000)
	MustPut(t, f.Store, "s1", b)
	before := f.Raw(t, key(t, "s1", d))
	info := MustPut(t, f.Store, "s1", b)
	if info.Created {
		t.Fatal("second Put of the same content: Created = true, want false")
	}
	if !bytes.Equal(f.Raw(t, key(t, "s1", d)), before) {
		t.Fatal("second Put changed the stored bytes")
	}
}

func testDifferentRejected(t *testing.T, f Fixture) {
	b, d := Content(t, 3000)
	MustPut(t, f.Store, "s1", b)
	before := f.Raw(t, key(t, "s1", d))

	other, _ := Content(t, 3000)
	_, err := f.Store.Put(t.Context(), "s1", d, bytes.NewReader(other))
	if !errors.Is(err, blob.ErrDigestMismatch) || errs.KindOf(err) != errs.Invalid {
		t.Fatalf("Put of other content under %s: got %v, want ErrDigestMismatch (invalid)", d, err)
	}
	if !bytes.Equal(f.Raw(t, key(t, "s1", d)), before) {
		t.Fatal("rejected Put changed the stored bytes")
	}
	if got := MustGet(t, f.Store, "s1", d); !bytes.Equal(got, b) {
		t.Fatal("rejected Put changed the content")
	}
}

func testWrongDigestInvisible(t *testing.T, f Fixture) {
	b, _ := Content(t, 200<<10)
	_, claimed := Content(t, 10)
	_, err := f.Store.Put(t.Context(), "s1", claimed, bytes.NewReader(b))
	if !errors.Is(err, blob.ErrDigestMismatch) {
		t.Fatalf("Put under a wrong digest: got %v, want ErrDigestMismatch", err)
	}
	if _, err := f.Store.Stat(t.Context(), "s1", claimed); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("after a refused Put, Stat: got %v, want ErrNotFound", err)
	}
}

func testSwapped(t *testing.T, f Fixture) {
	a, da := Content(t, 5000)
	b, db := Content(t, 5000)
	MustPut(t, f.Store, "s1", a)
	MustPut(t, f.Store, "s1", b)
	f.Replace(t, key(t, "s1", da), f.Raw(t, key(t, "s1", db)))

	_, err := f.Store.ReadAll(t.Context(), "s1", da, 1<<20)
	WantIntegrity(t, err, da)
	_, err = f.Store.Put(t.Context(), "s1", da, bytes.NewReader(a))
	WantIntegrity(t, err, da)
}

func testFlipped(t *testing.T, f Fixture) {
	b, d := Content(t, 150<<10)
	MustPut(t, f.Store, "s1", b)
	k := key(t, "s1", d)
	for _, at := range []int{0, 40, 70 << 10, -1} {
		t.Run(fmt.Sprintf("at%d", at), func(t *testing.T) {
			raw := f.Raw(t, k)
			orig := bytes.Clone(raw)
			i := at
			if i < 0 {
				i = len(raw) - 1
			}
			raw[i] ^= 0x01
			f.Replace(t, k, raw)
			defer f.Replace(t, k, orig)

			got, err := read(t.Context(), f.Store, "s1", d)
			WantIntegrity(t, err, d)
			if len(got) == len(b) && bytes.Equal(got, b) {
				t.Fatal("the whole content was served before the error")
			}
			if _, err := f.Store.ReadAll(t.Context(), "s1", d, 1<<20); !errors.Is(err, blob.ErrIntegrity) {
				t.Fatalf("ReadAll: got %v, want ErrIntegrity", err)
			}
		})
	}
}

func testTruncated(t *testing.T, f Fixture) {
	b, d := Content(t, 130<<10)
	MustPut(t, f.Store, "s1", b)
	k := key(t, "s1", d)
	raw := f.Raw(t, k)
	for _, n := range []int{len(raw) - 1, 64<<10 + 100, 10, 0} {
		t.Run(fmt.Sprintf("to%d", n), func(t *testing.T) {
			f.Replace(t, k, raw[:n])
			_, err := read(t.Context(), f.Store, "s1", d)
			WantIntegrity(t, err, d)
		})
	}
}

func testMissing(t *testing.T, f Fixture) {
	_, d := Content(t, 10)
	MustPut(t, f.Store, "s1", []byte("make the scope exist"))
	for _, scope := range []string{"s1", "never-used"} {
		_, err := f.Store.Get(t.Context(), scope, d)
		if !errors.Is(err, blob.ErrNotFound) || errs.KindOf(err) != errs.NotFound {
			t.Fatalf("Get of a missing digest in %q: got %v, want ErrNotFound", scope, err)
		}
	}
}

func testScopes(t *testing.T, f Fixture) {
	b, d := Content(t, 100)
	MustPut(t, f.Store, "s1", b)
	if _, err := f.Store.Get(t.Context(), "s2", d); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("digest stored in s1, Get in s2: got %v, want ErrNotFound", err)
	}
	if info := MustPut(t, f.Store, "s2", b); !info.Created {
		t.Fatal("same digest in another scope: Created = false, want a separate object")
	}
}

func testSizes(t *testing.T, f Fixture) {
	const seg = 64 << 10
	for _, n := range []int{0, 1, seg - 1, seg, seg + 1, 2 * seg, 3*seg + 7} {
		b, d := Content(t, n)
		info := MustPut(t, f.Store, "s1", b)
		if info.Size != int64(n) {
			t.Fatalf("size %d: Info.Size = %d", n, info.Size)
		}
		if got := MustGet(t, f.Store, "s1", d); !bytes.Equal(got, b) {
			t.Fatalf("size %d: read back %d different bytes", n, len(got))
		}
		st, err := f.Store.Stat(t.Context(), "s1", d)
		if err != nil || st.Size != int64(n) {
			t.Fatalf("size %d: Stat = %+v, %v", n, st, err)
		}
	}
}

// raceRounds and raceWriters bound the race test: enough rounds to make
// a lost race likely to show, few enough to stay fast on real servers.
const (
	raceRounds  = 8
	raceWriters = 4
)

func testRace(t *testing.T, f Fixture) {
	for round := range raceRounds {
		b, d := Content(t, 70<<10)
		var wg sync.WaitGroup
		infos := make([]blob.Info, raceWriters)
		errsOut := make([]error, raceWriters)
		for w := range raceWriters {
			wg.Go(func() {
				infos[w], errsOut[w] = f.Store.Put(t.Context(), "race", d, bytes.NewReader(b))
			})
		}
		wg.Wait()
		created := 0
		for w := range raceWriters {
			if errsOut[w] != nil {
				t.Fatalf("round %d writer %d: %v", round, w, errsOut[w])
			}
			if infos[w].Created {
				created++
			}
		}
		if created != 1 {
			t.Fatalf("round %d: %d writers created the object, want exactly 1", round, created)
		}
		if got := MustGet(t, f.Store, "race", d); !bytes.Equal(got, b) {
			t.Fatalf("round %d: content corrupted by the race", round)
		}
	}
}
