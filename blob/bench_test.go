package blob_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"testing"

	"github.com/devmesh/devmesh/blob"
)

var benchSizes = []struct {
	name string
	n    int
}{
	{"1KiB", 1 << 10}, {"64KiB", 64 << 10}, {"1MiB", 1 << 20}, {"8MiB", 8 << 20},
}

// BenchmarkPutGet stores a new object and reads it back through every
// check, on the local driver, plain and encrypted in the same run so
// their ratio is the cost of encryption. Each iteration writes distinct
// content (a counter in the first bytes), so every Put creates and syncs
// a file.
func BenchmarkPutGet(b *testing.B) {
	benchModes(b, func(b *testing.B) string { return b.TempDir() })
}

// BenchmarkPutGetTmpfs is BenchmarkPutGet on a memory file system, where
// fsync is free: it isolates the CPU cost of encryption from the disk's
// sync latency, which varies far more than encryption costs.
func BenchmarkPutGetTmpfs(b *testing.B) {
	if fi, err := os.Stat("/dev/shm"); err != nil || !fi.IsDir() {
		b.Skip("no /dev/shm")
	}
	benchModes(b, func(b *testing.B) string {
		dir, err := os.MkdirTemp("/dev/shm", "devmesh-bench-")
		if err != nil {
			b.Skip(err)
		}
		b.Cleanup(func() { os.RemoveAll(dir) })
		return dir
	})
}

func benchModes(b *testing.B, dir func(*testing.B) string) {
	for _, sz := range benchSizes {
		for _, mode := range []string{"plain", "encrypted"} {
			b.Run(sz.name+"/"+mode, func(b *testing.B) {
				opts := blob.Options{Plaintext: true}
				if mode == "encrypted" {
					opts = encrypted(b)
				}
				s := mustStore(b, mustLocal(b, dir(b)), opts)
				benchPutGet(b, s, sz.n)
			})
		}
	}
}

func benchPutGet(b *testing.B, s *blob.Store, n int) {
	content := bytes.Repeat([]byte{0x5a}, n)
	b.SetBytes(int64(n))
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		binary.BigEndian.PutUint64(content, uint64(i))
		d := blob.DigestOf(content)
		info, err := s.Put(b.Context(), "bench", d, bytes.NewReader(content))
		if err != nil || !info.Created {
			b.Fatalf("Put: %+v, %v", info, err)
		}
		rc, err := s.Get(b.Context(), "bench", d)
		if err != nil {
			b.Fatal(err)
		}
		if m, err := io.Copy(io.Discard, rc); err != nil || m != int64(n) {
			b.Fatalf("Get: %d bytes, %v", m, err)
		}
		rc.Close()
	}
}

// BenchmarkPutWorkspace2MiB is the store's share of saving a workspace
// tarball: hash, encrypt, write, sync and link 2 MiB on the local driver.
func BenchmarkPutWorkspace2MiB(b *testing.B) {
	s := mustStore(b, mustLocal(b, b.TempDir()), encrypted(b))
	content := bytes.Repeat([]byte("tarball "), (2<<20)/8)
	b.SetBytes(int64(len(content)))
	for i := 0; b.Loop(); i++ {
		copy(content, fmt.Sprintf("%016d", i))
		d := blob.DigestOf(content)
		if _, err := s.Put(b.Context(), "sub-1", d, bytes.NewReader(content)); err != nil {
			b.Fatal(err)
		}
	}
}
