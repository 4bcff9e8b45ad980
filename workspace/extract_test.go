package workspace

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devmesh/devmesh/internal/errs"
)

// rawEntry is one entry of a hand-built, possibly hostile, tar stream.
type rawEntry struct {
	hdr  tar.Header
	body string
}

func file(name, body string) rawEntry {
	return rawEntry{tar.Header{Name: name, Typeflag: tar.TypeReg,
		Mode: 0o644, Size: int64(len(body))}, body}
}

func dirEntry(name string) rawEntry {
	return rawEntry{hdr: tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755}}
}

func link(name, target string, typ byte) rawEntry {
	return rawEntry{hdr: tar.Header{Name: name, Linkname: target,
		Typeflag: typ, Mode: 0o777}}
}

// mustTar writes entries as a plain tar stream with archive/tar, which
// happily writes what our reader must refuse.
func mustTar(t testing.TB, entries ...rawEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.hdr
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatalf("write header %q: %v", h.Name, err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func TestReadArchiveRejectsHostileEntries(t *testing.T) {
	tests := []struct {
		name    string
		entries []rawEntry
		want    string
	}{
		{"parent traversal", []rawEntry{file("../../etc/passwd", "x")},
			`"../../etc/passwd": path contains a ".." component`},
		{"inner traversal", []rawEntry{file("a/../../b", "x")}, `".."`},
		{"absolute path", []rawEntry{file("/etc/passwd", "x")},
			`"/etc/passwd": path is absolute`},
		{"backslash", []rawEntry{file(`..\..\evil`, "x")}, "forbidden character"},
		{"control character", []rawEntry{file("a\x1bb", "x")}, "forbidden character"},
		{"symlink then file through it", []rawEntry{
			link("lnk", "/etc", tar.TypeSymlink), file("lnk/passwd", "x")},
			`"lnk": symbolic links are not allowed`},
		{"relative symlink", []rawEntry{link("lnk", "../..", tar.TypeSymlink)},
			"symbolic links are not allowed"},
		{"hardlink", []rawEntry{file("a", "x"), link("b", "/etc/shadow", tar.TypeLink)},
			`"b": hard links are not allowed`},
		{"char device", []rawEntry{{hdr: tar.Header{Name: "null",
			Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3}}},
			"device files are not allowed"},
		{"block device", []rawEntry{{hdr: tar.Header{Name: "sda",
			Typeflag: tar.TypeBlock}}}, "device files are not allowed"},
		{"fifo", []rawEntry{{hdr: tar.Header{Name: "p", Typeflag: tar.TypeFifo}}},
			"FIFOs are not allowed"},
		{"setuid", []rawEntry{{tar.Header{Name: "s", Typeflag: tar.TypeReg,
			Mode: 0o4755, Size: 1}, "x"}}, "setuid"},
		{"setgid dir", []rawEntry{{hdr: tar.Header{Name: "d/",
			Typeflag: tar.TypeDir, Mode: 0o2755}}}, "setgid"},
		{"sticky", []rawEntry{{tar.Header{Name: "s", Typeflag: tar.TypeReg,
			Mode: 0o1644, Size: 1}, "x"}}, "sticky"},
		{"duplicate file", []rawEntry{file("a", "1"), file("a", "2")},
			`"a": duplicate entry`},
		{"duplicate via ./", []rawEntry{file("a", "1"), file("./a", "2")},
			`"a": duplicate entry`},
		{"duplicate directory", []rawEntry{dirEntry("d/"), dirEntry("d/")},
			"duplicate entry"},
		{"directory over file", []rawEntry{file("a", "1"), dirEntry("a/")},
			"duplicate entry"},
		{"file below file", []rawEntry{file("a", "1"), file("a/b", "2")},
			`parent "a" is a file`},
		{"file over directory", []rawEntry{file("a/b", "1"), file("a", "2")},
			`duplicate entry`},
		{"too deep", []rawEntry{file(strings.Repeat("d/", 100)+"f", "x")},
			"levels deep"},
		{"path too long", []rawEntry{file(strings.Repeat("n", 5000), "x")},
			"5000 bytes long"},
		{"file over per-file limit", []rawEntry{
			file("big", strings.Repeat("x", DefaultFileBytes+1))},
			"per-file limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := mustTar(t, tt.entries...)
			for _, in := range [][]byte{data, gzipBytes(t, data)} {
				_, err := ReadArchive(bytes.NewReader(in), Limits{})
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("ReadArchive = %v, want error containing %q",
						err, tt.want)
				}
				dir := filepath.Join(t.TempDir(), "x")
				if err := os.Mkdir(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				err = Extract(bytes.NewReader(in), dir, Limits{})
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("Extract = %v, want error containing %q",
						err, tt.want)
				}
				assertNothingEscaped(t, filepath.Dir(dir))
			}
		})
	}
}

// assertNothingEscaped checks that extraction into parent/x wrote nothing
// beside x.
func assertNothingEscaped(t *testing.T, parent string) {
	t.Helper()
	names, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 1 {
		t.Errorf("extraction wrote outside its directory: %v", names)
	}
}

func TestReadArchiveAcceptsCommonToolOutput(t *testing.T) {
	// "tar -czf b.tgz -C dir ." writes "./" and "./name" entries, and git
	// archive writes a PAX global header; both are fine.
	data := mustTar(t,
		rawEntry{hdr: tar.Header{Typeflag: tar.TypeXGlobalHeader,
			PAXRecords: map[string]string{"comment": "abc"}}},
		dirEntry("./"), dirEntry("./src/"), file("./src/a.py", "a"),
		rawEntry{tar.Header{Name: "./run", Typeflag: tar.TypeReg,
			Mode: 0o700, Size: 2}, "ok"},
		dirEntry("./empty/"))
	got, err := ReadArchive(bytes.NewReader(data), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	want := NewTree(Limits{})
	want.Put("src/a.py", File{Content: "a"})
	want.Put("run", File{Content: "ok", Exec: true})
	if !got.Equal(want) {
		t.Errorf("got\n%swant\n%s", dumpTree(got), dumpTree(want))
	}
}

// repeatReader yields head once, then body n times, then EOF, counting
// the bytes handed out: a multi-gigabyte stream with no memory behind it.
type repeatReader struct {
	head, body []byte
	n          int
	cur        []byte
	read       int64
}

func (r *repeatReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		switch {
		case r.head != nil:
			r.cur, r.head = r.head, nil
		case r.n > 0:
			r.cur, r.n = r.body, r.n-1
		default:
			return 0, io.EOF
		}
	}
	k := copy(p, r.cur)
	r.cur = r.cur[k:]
	r.read += int64(k)
	return k, nil
}

// gzipBomb returns a reader of about 10 MB of concatenated gzip members
// that inflate to a tar header announcing one 10 GiB file and then
// 10 GiB of zeros.
func gzipBomb(t testing.TB) *repeatReader {
	var hdr bytes.Buffer
	tw := tar.NewWriter(&hdr)
	if err := tw.WriteHeader(&tar.Header{Name: "bomb", Typeflag: tar.TypeReg,
		Mode: 0o644, Size: 10 << 30}); err != nil {
		t.Fatal(err)
	}
	tw.Flush()
	return &repeatReader{
		head: gzipBytes(t, hdr.Bytes()),
		body: gzipBytes(t, make([]byte, 1<<20)),
		n:    10 << 10,
	}
}

func TestGzipBombStopsAtHeaderClaim(t *testing.T) {
	bomb := gzipBomb(t)
	_, err := ReadArchive(bomb, Limits{})
	if err == nil || !strings.Contains(err.Error(), "per-file limit") {
		t.Fatalf("ReadArchive = %v, want per-file limit error", err)
	}
	if bomb.read > 64<<10 {
		t.Errorf("read %d compressed bytes before refusing", bomb.read)
	}
}

// TestGzipBombStopsAtStreamBudget lifts every file budget so that only the
// decompressed-bytes budget stands between the reader and 10 GiB.
func TestGzipBombStopsAtStreamBudget(t *testing.T) {
	lim := Limits{FileBytes: 1 << 40, TotalBytes: 1 << 40, StreamBytes: 4 << 20}
	for _, extract := range []bool{false, true} {
		bomb := gzipBomb(t)
		var err error
		if extract {
			err = Extract(bomb, t.TempDir(), lim)
		} else {
			_, err = ReadArchive(bomb, lim)
		}
		if err == nil || !strings.Contains(err.Error(), "decompressed size budget") {
			t.Fatalf("extract=%v: err = %v, want stream budget error", extract, err)
		}
		if errs.KindOf(err) != errs.TooLarge {
			t.Errorf("kind = %v, want too_large", errs.KindOf(err))
		}
		// 4 MiB of zeros is about 4 KiB compressed; allow for buffering.
		if bomb.read > 64<<10 {
			t.Errorf("extract=%v: read %d compressed bytes for a 4 MiB budget",
				extract, bomb.read)
		}
	}
}

// manyEntries streams a tar of n entries made by mk, stopping early when
// the reader goes away.
func manyEntries(n int, mk func(i int) *tar.Header) (*io.PipeReader, func()) {
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		tw := tar.NewWriter(pw)
		for i := 0; i < n; i++ {
			if tw.WriteHeader(mk(i)) != nil {
				return
			}
		}
		pw.CloseWithError(tw.Close())
	}()
	return pr, func() { pr.Close(); <-done }
}

func TestMillionEntriesStopAtBudget(t *testing.T) {
	tests := []struct {
		name string
		mk   func(i int) *tar.Header
		want string
	}{
		{"files", func(i int) *tar.Header {
			return &tar.Header{Name: fmt.Sprintf("f%07d", i),
				Typeflag: tar.TypeReg, Mode: 0o644}
		}, fmt.Sprintf("limit of %d files", DefaultFiles)},
		{"directories", func(i int) *tar.Header {
			return &tar.Header{Name: fmt.Sprintf("d%07d/", i),
				Typeflag: tar.TypeDir, Mode: 0o755}
		}, fmt.Sprintf("limit of %d entries", DefaultEntries)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, stop := manyEntries(1_000_000, tt.mk)
			defer stop()
			_, err := ReadArchive(r, Limits{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ReadArchive = %v, want error containing %q", err, tt.want)
			}
		})
	}
}

func TestExtractWritesTree(t *testing.T) {
	want := sampleTree(t)
	data, _, err := Archive(want)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := Extract(bytes.NewReader(data), dir, Limits{}); err != nil {
		t.Fatal(err)
	}
	got, err := ReadDir(dir, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(want) {
		t.Errorf("extracted\n%swant\n%s", dumpTree(got), dumpTree(want))
	}
	info, err := os.Stat(filepath.Join(dir, "run.sh"))
	if err != nil || info.Mode().Perm()&0o100 == 0 {
		t.Errorf("run.sh mode = %v, %v; want executable", info.Mode(), err)
	}
}

func TestExtractRefusesNonEmptyDirectory(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "keep"), []byte("x"), 0o644)
	err := Extract(bytes.NewReader(mustTar(t, file("keep", "y"))), dir, Limits{})
	if err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("Extract = %v, want not-empty error", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "keep")); string(b) != "x" {
		t.Errorf("existing file overwritten")
	}
}

// TestWriteEntryDoesNotFollowPlantedSymlink plants symlinks in the target
// as a concurrent attacker could, and checks that the os.Root and O_EXCL
// defences keep writes inside the directory.
func TestWriteEntryDoesNotFollowPlantedSymlink(t *testing.T) {
	parent := t.TempDir()
	outside := filepath.Join(parent, "outside")
	dir := filepath.Join(parent, "x")
	for _, d := range []string{outside, dir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.Symlink(outside, filepath.Join(dir, "dirlink"))
	os.Symlink(filepath.Join(outside, "f"), filepath.Join(dir, "filelink"))
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	for _, name := range []string{"dirlink/f", "filelink", "dirlink/sub/f"} {
		e := entry{name: name, r: strings.NewReader("pwned")}
		if err := writeEntryTo(root, e); err == nil {
			t.Errorf("writeEntryTo(%q) through a symlink succeeded", name)
		}
	}
	if names, _ := os.ReadDir(outside); len(names) != 0 {
		t.Errorf("write escaped into %s: %v", outside, names)
	}
}

func TestReadDirRejectsSymlink(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a"), []byte("x"), 0o644)
	os.Symlink("/etc/passwd", filepath.Join(dir, "passwd"))
	_, err := ReadDir(dir, Limits{})
	if err == nil || !strings.Contains(err.Error(), `"passwd": symbolic links`) {
		t.Fatalf("ReadDir = %v, want symlink error", err)
	}
}

func FuzzReadArchive(f *testing.F) {
	sample, _, _ := Archive(sampleTree(f))
	f.Add(sample)
	f.Add(mustTar(f, file("a", "1"), dirEntry("d/"), file("d/b", "2")))
	f.Add(mustTar(f, link("l", "/etc", tar.TypeSymlink)))
	f.Add([]byte{0x1f, 0x8b})
	lim := Limits{Files: 64, FileBytes: 1 << 16, TotalBytes: 1 << 18,
		Entries: 128, StreamBytes: 1 << 20}
	f.Fuzz(func(t *testing.T, data []byte) {
		tr, err := ReadArchive(bytes.NewReader(data), lim)
		if err != nil {
			return
		}
		// What was accepted survives a round trip unchanged, and its
		// archive is a fixed point.
		a1, d1, err := Archive(tr)
		if err != nil {
			t.Fatalf("Archive: %v", err)
		}
		back, err := ReadArchive(bytes.NewReader(a1), lim)
		if err != nil {
			t.Fatalf("re-read own archive: %v", err)
		}
		if !back.Equal(tr) {
			t.Fatalf("round trip changed the tree")
		}
		if _, d2, _ := Archive(back); d2 != d1 {
			t.Fatalf("archive is not a fixed point")
		}
	})
}

func FuzzArchiveRoundTrip(f *testing.F) {
	f.Add("a/b.py", "print(1)", true, "c", "")
	f.Add("naïve/😀", "\x00\xff", false, strings.Repeat("x", 150), "y")
	f.Fuzz(func(t *testing.T, p1, c1 string, x bool, p2, c2 string) {
		tr := NewTree(Limits{})
		if tr.Put(p1, File{Content: c1, Exec: x}) != nil {
			return
		}
		tr.Put(p2, File{Content: c2})
		data, _, err := Archive(tr)
		if err != nil {
			t.Fatalf("Archive: %v", err)
		}
		got, err := ReadArchive(bytes.NewReader(data), Limits{})
		if err != nil {
			t.Fatalf("ReadArchive of own archive: %v", err)
		}
		if !got.Equal(tr) {
			t.Fatalf("round trip:\n%s\nwant\n%s", dumpTree(got), dumpTree(tr))
		}
	})
}

func TestReadArchiveRejectsCorruptOrTrailingData(t *testing.T) {
	good := mustTar(t, file("a", "hello"))
	corrupt := gzipBytes(t, good)
	corrupt[len(corrupt)-6] ^= 0xff // CRC-32 in the gzip trailer
	padded := append(bytes.Clone(good), make([]byte, 9216)...)
	trailing := append(bytes.Clone(good), "junk"...)
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"gzip checksum", corrupt, "checksum"},
		{"data after end", trailing, "data after the end"},
		{"gzip data after end", gzipBytes(t, trailing), "data after the end"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadArchive(bytes.NewReader(tt.data), Limits{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ReadArchive = %v, want error containing %q", err, tt.want)
			}
		})
	}
	// Zero padding to a record boundary, as GNU tar writes, is fine.
	if _, err := ReadArchive(bytes.NewReader(gzipBytes(t, padded)), Limits{}); err != nil {
		t.Errorf("zero-padded archive: %v", err)
	}
}
