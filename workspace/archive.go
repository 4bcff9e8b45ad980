package workspace

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"slices"
	"time"
)

// The fixed values that make an archive depend on the files alone. They
// are part of every stored digest: changing one changes every digest.
var (
	// archiveTime is every entry's modification time. The gzip header
	// stores no time at all (MTIME 0 means "none").
	archiveTime = time.Unix(0, 0).UTC()
)

const (
	// archiveLevel is the deflate level. Measured on source code, level
	// 5 is about twice as fast as gzip's default 6 for output about 2%
	// larger, and an archive is written on every run.
	archiveLevel = 5
	// gzipOSUnknown is the OS byte of the gzip header (255, "unknown").
	gzipOSUnknown = 255
)

// WriteArchive streams t to w as a deterministic .tar.gz and returns its
// digest and its size in bytes. The same files always give the same bytes
// (for a given compressor; the golden test notices when it changes):
//
//   - entries are the files and the directories that contain them, in
//     byte order of their names, directories with a trailing slash;
//   - files have mode 0644, or 0755 with the exec bit; directories 0755;
//   - modification time 1970-01-01T00:00:00Z, uid and gid 0, no user or
//     group names, no links, devices or other entry types;
//   - USTAR headers when a name fits USTAR (ASCII, short enough), PAX
//     headers otherwise;
//   - gzip at level 5 with no file name, comment or time, OS byte 255.
func WriteArchive(w io.Writer, t *Tree) (Digest, int64, error) {
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(w, h)}
	if err := writeTarGz(cw, t); err != nil {
		return Digest{}, 0, err
	}
	return sum(h), cw.n, nil
}

// Archive returns t's deterministic .tar.gz bytes and their digest.
func Archive(t *Tree) ([]byte, Digest, error) {
	var buf bytes.Buffer
	d, _, err := WriteArchive(&buf, t)
	if err != nil {
		return nil, Digest{}, err
	}
	return buf.Bytes(), d, nil
}

func writeTarGz(w io.Writer, t *Tree) error {
	zw, err := gzip.NewWriterLevel(w, archiveLevel)
	if err != nil {
		return fmt.Errorf("write archive: %w", err)
	}
	zw.OS = gzipOSUnknown
	if err := writeTar(zw, t); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("write archive: %w", err)
	}
	return nil
}

func writeTar(w io.Writer, t *Tree) error {
	tw := tar.NewWriter(w)
	for _, name := range entryNames(t) {
		if err := writeEntry(tw, t, name); err != nil {
			return fmt.Errorf("write archive entry %q: %w", name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("write archive: %w", err)
	}
	return nil
}

// entryNames lists the archive's entry names in order: every file and
// every directory (with a trailing slash). Byte order puts a directory
// before everything inside it.
func entryNames(t *Tree) []string {
	names := make([]string, 0, len(t.files)+len(t.dirs))
	for p := range t.files {
		names = append(names, p)
	}
	for d := range t.dirs {
		names = append(names, d+"/")
	}
	slices.Sort(names)
	return names
}

func writeEntry(tw *tar.Writer, t *Tree, name string) error {
	hdr := &tar.Header{
		Name:     name,
		Typeflag: tar.TypeDir,
		Mode:     0o755,
		ModTime:  archiveTime,
	}
	f, isFile := t.files[name]
	if isFile {
		hdr.Typeflag = tar.TypeReg
		hdr.Size = int64(len(f.Content))
		if !f.Exec {
			hdr.Mode = 0o644
		}
	}
	if err := writeHeader(tw, hdr); err != nil {
		return err
	}
	if isFile {
		if _, err := io.WriteString(tw, f.Content); err != nil {
			return err
		}
	}
	return nil
}

// writeHeader writes hdr as USTAR when USTAR can hold it and as PAX
// otherwise. Only the name can push an entry out of USTAR (non-ASCII or
// too long), since budgets keep sizes far below USTAR's 8 GiB; a header
// USTAR cannot hold is refused before anything is written.
func writeHeader(tw *tar.Writer, hdr *tar.Header) error {
	hdr.Format = tar.FormatUSTAR
	if tw.WriteHeader(hdr) == nil {
		return nil
	}
	hdr.Format = tar.FormatPAX
	return tw.WriteHeader(hdr)
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func sum(h hash.Hash) Digest {
	var d Digest
	h.Sum(d[:0])
	return d
}
