package workspace

import (
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

// benchTree builds files source-like files totalling about size bytes:
// lines of words drawn from a small vocabulary, so that they compress
// like code rather than like zeros or noise.
func benchTree(b testing.TB, files int, size int) *Tree {
	b.Helper()
	words := strings.Fields("def return if else for in while import from " +
		"class self None True False print len range x y z value result " +
		"items count name data = == + - ( ) : [ ] { } , 0 1 2 10 100")
	rng := rand.New(rand.NewPCG(1, 2))
	tr := NewTree(Limits{})
	per := size / files
	for i := range files {
		var sb strings.Builder
		for sb.Len() < per {
			for range 1 + rng.IntN(12) {
				sb.WriteString(words[rng.IntN(len(words))])
				sb.WriteByte(' ')
			}
			sb.WriteByte('\n')
		}
		p := fmt.Sprintf("pkg%02d/mod%03d.py", i%10, i)
		if err := tr.Put(p, File{Content: sb.String()}); err != nil {
			b.Fatal(err)
		}
	}
	return tr
}

// BenchmarkWriteArchive measures building and compressing a 200-file,
// 2 MiB workspace; MB/s is of file content.
func BenchmarkWriteArchive(b *testing.B) {
	tr := benchTree(b, 200, 2<<20)
	b.SetBytes(tr.Size())
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := WriteArchive(io.Discard, tr); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadArchive measures reading the same workspace back with
// every check in force.
func BenchmarkReadArchive(b *testing.B) {
	tr := benchTree(b, 200, 2<<20)
	data, _, err := Archive(tr)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(tr.Size())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ReadArchive(strings.NewReader(string(data)), Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}
