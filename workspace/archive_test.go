package workspace

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"io"
	"os/exec"
	"strings"
	"testing"
)

// sampleTree is a small tree that exercises every archive rule: nested
// directories, an exec file, an empty file, binary content, a name that
// needs PAX (non-ASCII) and one that needs the USTAR prefix field.
func sampleTree(t testing.TB) *Tree {
	t.Helper()
	tr := NewTree(Limits{})
	long := strings.Repeat("d", 60) + "/" + strings.Repeat("f", 60) + ".py"
	for p, f := range map[string]File{
		"src/main.py":         {Content: "print('hi')\n"},
		"src/pkg/__init__.py": {},
		"run.sh":              {Content: "#!/bin/sh\nexec python3 src/main.py\n", Exec: true},
		"data/blob.bin":       {Content: "\x00\x01\xff\xfe"},
		"docs/naïve-😀.md":     {Content: "# ünïcödé\n"},
		long:                  {Content: "x = 1\n"},
		"README":              {Content: strings.Repeat("readme ", 100)},
		"a-b":                 {Content: "sorts before a/"},
		"a/z":                 {Content: "z"},
	} {
		if err := tr.Put(p, f); err != nil {
			t.Fatalf("Put(%q): %v", p, err)
		}
	}
	return tr
}

// TestArchiveGolden pins the exact archive bytes, so that any change in
// archive/tar, compress/flate or our own rules is noticed: such a change
// would give every stored workspace a new digest.
func TestArchiveGolden(t *testing.T) {
	data, d, err := Archive(sampleTree(t))
	if err != nil {
		t.Fatal(err)
	}
	if got := sha256.Sum256(data); got != d {
		t.Errorf("digest %v is not the SHA-256 of the bytes", d)
	}
	checkGolden(t, "sample.tar.gz", data)
	checkGolden(t, "sample.digest", []byte(d.String()+"\n"))
}

func TestArchiveIgnoresInsertionOrder(t *testing.T) {
	a := sampleTree(t)
	b := NewTree(Limits{})
	paths := a.Paths()
	for i := len(paths) - 1; i >= 0; i-- {
		f, _ := a.Get(paths[i])
		if err := b.Put(paths[i], f); err != nil {
			t.Fatal(err)
		}
	}
	_, da, _ := Archive(a)
	_, db, _ := Archive(b)
	if da != db {
		t.Errorf("digest depends on insertion order: %v vs %v", da, db)
	}
	// And on nothing else: one changed bit of content or mode changes it.
	f, _ := b.Get("run.sh")
	f.Exec = false
	if err := b.Put("run.sh", f); err != nil {
		t.Fatal(err)
	}
	if _, dc, _ := Archive(b); dc == da {
		t.Errorf("digest ignores the exec bit")
	}
}

func TestArchiveHeaders(t *testing.T) {
	data, _, err := Archive(sampleTree(t))
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if zr.Name != "" || zr.Comment != "" || !zr.ModTime.IsZero() || zr.OS != 255 {
		t.Errorf("gzip header = %+v, want no name, comment or time, OS 255",
			zr.Header)
	}
	tr := tar.NewReader(zr)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		checkHeader(t, h)
	}
	want := []string{"README", "a-b", "a/", "a/z", "data/", "data/blob.bin",
		strings.Repeat("d", 60) + "/", strings.Repeat("d", 60) + "/" +
			strings.Repeat("f", 60) + ".py",
		"docs/", "docs/naïve-😀.md", "run.sh", "src/", "src/main.py",
		"src/pkg/", "src/pkg/__init__.py"}
	if strings.Join(names, "\n") != strings.Join(want, "\n") {
		t.Errorf("entries:\n%q\nwant:\n%q", names, want)
	}
}

func checkHeader(t *testing.T, h *tar.Header) {
	t.Helper()
	wantMode := int64(0o644)
	switch {
	case h.Typeflag == tar.TypeDir, h.Name == "run.sh":
		wantMode = 0o755
	case h.Typeflag != tar.TypeReg:
		t.Errorf("%q: type %q, want file or directory", h.Name, h.Typeflag)
	}
	if h.Mode != wantMode {
		t.Errorf("%q: mode %o, want %o", h.Name, h.Mode, wantMode)
	}
	if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" ||
		h.ModTime.Unix() != 0 {
		t.Errorf("%q: owner %d/%d %q/%q mtime %v, want zeros",
			h.Name, h.Uid, h.Gid, h.Uname, h.Gname, h.ModTime)
	}
	wantFormat := tar.FormatUSTAR
	if strings.ContainsRune(h.Name, '😀') {
		wantFormat = tar.FormatPAX
	}
	if h.Format != wantFormat {
		t.Errorf("%q: format %v, want %v", h.Name, h.Format, wantFormat)
	}
}

func TestArchiveRoundTrip(t *testing.T) {
	want := sampleTree(t)
	data, _, err := Archive(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadArchive(bytes.NewReader(data), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(want) {
		t.Errorf("round trip:\n%s\nwant:\n%s", dumpTree(got), dumpTree(want))
	}
}

// TestArchiveReadableByGNUTar checks the archive against an independent
// reader when one is installed.
func TestArchiveReadableByGNUTar(t *testing.T) {
	if _, err := exec.LookPath("tar"); err != nil {
		t.Skip("tar is not installed")
	}
	data, _, err := Archive(sampleTree(t))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cmd := exec.CommandContext(t.Context(), "tar", "-xzf", "-", "-C", dir)
	cmd.Stdin = bytes.NewReader(data)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tar -x: %v\n%s", err, out)
	}
	got, err := ReadDir(dir, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if want := sampleTree(t); !got.Equal(want) {
		t.Errorf("tar extracted:\n%s\nwant:\n%s", dumpTree(got), dumpTree(want))
	}
}

func TestParseDigest(t *testing.T) {
	_, d, err := Archive(NewTree(Limits{}))
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseDigest(d.String())
	if err != nil || back != d {
		t.Fatalf("ParseDigest(%q) = %v, %v", d, back, err)
	}
	for _, bad := range []string{
		"", "sha256:", "sha256:" + strings.Repeat("A", 64),
		"sha512:" + strings.Repeat("a", 64), "sha256:" + strings.Repeat("g", 64),
		strings.Repeat("a", 64),
	} {
		if _, err := ParseDigest(bad); err == nil {
			t.Errorf("ParseDigest(%q) succeeded, want error", bad)
		}
	}
}
