package task

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkIngest measures what an upload costs the server: read a
// 5 MiB .tar.gz bundle, validate it and compute its canonical archive
// and digest. MB/s is of file content.
func BenchmarkIngest(b *testing.B) {
	files := validFiles()
	rng := rand.New(rand.NewPCG(3, 4))
	total := 0
	for i := 0; total < 5<<20; i++ {
		buf := make([]byte, 64<<10)
		for j := range buf {
			buf[j] = "abcdefgh ijk\n"[rng.IntN(13)]
		}
		files[fmt.Sprintf("starter/data/f%03d.txt", i)] = string(buf)
		total += len(buf)
	}
	data := mustTarGz(b, files)
	b.SetBytes(int64(total))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseArchive(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}
