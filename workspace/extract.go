package workspace

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/devmesh/devmesh/internal/errs"
)

// An archive from outside (an upload, a stored blob) is hostile until
// proven otherwise. entryReader walks a tar stream and hands out only
// regular files and directories whose names pass CheckPath, counting
// every budget as bytes arrive instead of trusting what headers claim.

// errStream marks a stream that ran past its byte budget.
var errStream = errors.New("archive is over its decompressed size budget")

// entry is one accepted archive entry.
type entry struct {
	name string    // checked path, without "./" or a trailing slash
	dir  bool      // a directory; r is nil
	exec bool      // a file with any executable bit
	r    io.Reader // the file's content, capped at the per-file budget
}

type entryReader struct {
	lim     Limits
	src     io.Reader // the capped, decompressed stream below tr
	tr      *tar.Reader
	entries int
	files   int
	total   int64
	seen    map[string]bool // path -> is a directory
}

// newEntryReader sniffs r for gzip and returns a reader over its tar
// entries with every budget of lim in force.
func newEntryReader(r io.Reader, lim Limits) (*entryReader, error) {
	lim = lim.withDefaults()
	br := bufio.NewReader(r)
	var src io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 &&
		magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, errs.E(errs.Invalid, "read archive: %v", err)
		}
		src = zr
	}
	// The cap sits on the decompressed bytes, below the tar reader, so
	// headers, PAX records and padding count as much as file data.
	capped := &capReader{r: src, left: lim.StreamBytes}
	return &entryReader{
		lim:  lim,
		src:  capped,
		tr:   tar.NewReader(capped),
		seen: map[string]bool{},
	}, nil
}

// next returns the next accepted entry, or io.EOF at the end.
func (er *entryReader) next() (entry, error) {
	for {
		hdr, err := er.tr.Next()
		if err == io.EOF {
			return entry{}, er.finish()
		}
		if err != nil {
			return entry{}, readError(err)
		}
		er.entries++
		if er.entries > er.lim.Entries {
			return entry{}, errs.E(errs.TooLarge,
				"archive entry %q: over the limit of %d entries",
				clip(hdr.Name), er.lim.Entries)
		}
		e, skip, err := er.accept(hdr)
		if err != nil || !skip {
			return e, err
		}
	}
}

// finish reads what follows the tar end marker, to the budget: zero
// padding is fine, anything else is an error, and reaching the end lets
// gzip verify its checksum, so a corrupted archive is not half-accepted.
func (er *entryReader) finish() error {
	buf := make([]byte, 32<<10)
	for {
		n, err := er.src.Read(buf)
		for _, c := range buf[:n] {
			if c != 0 {
				return errs.E(errs.Invalid,
					"read archive: data after the end of the archive")
			}
		}
		if err == io.EOF {
			return io.EOF
		}
		if err != nil {
			return readError(err)
		}
	}
}

// accept checks one header. skip reports an entry that carries no file
// (the "./" root, a PAX global header).
func (er *entryReader) accept(hdr *tar.Header) (e entry, skip bool, err error) {
	if err := checkType(hdr); err != nil {
		return entry{}, false, err
	}
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return entry{}, true, nil
	}
	name, err := entryName(hdr, er.lim)
	if name == "" || err != nil {
		return entry{}, err == nil, err
	}
	dir := hdr.Typeflag == tar.TypeDir
	if err := er.claim(name, dir); err != nil {
		return entry{}, false, err
	}
	if dir {
		return entry{name: name, dir: true}, false, nil
	}
	if err := er.countFile(hdr); err != nil {
		return entry{}, false, err
	}
	r := &fileReader{er: er, name: name, r: er.tr,
		left: er.lim.FileBytes}
	return entry{name: name, exec: hdr.Mode&0o111 != 0, r: r}, false, nil
}

// checkType accepts regular files, directories and PAX global headers,
// and refuses set-id and sticky bits on any of them.
func checkType(hdr *tar.Header) error {
	var rule string
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeDir, tar.TypeXGlobalHeader:
	case tar.TypeSymlink:
		rule = "symbolic links are not allowed"
	case tar.TypeLink:
		rule = "hard links are not allowed"
	case tar.TypeChar, tar.TypeBlock:
		rule = "device files are not allowed"
	case tar.TypeFifo:
		rule = "FIFOs are not allowed"
	default:
		rule = fmt.Sprintf("entry type %q is not allowed", hdr.Typeflag)
	}
	if rule == "" && hdr.Mode&0o7000 != 0 {
		rule = "setuid, setgid and sticky bits are not allowed"
	}
	if rule != "" {
		return errs.E(errs.Invalid, "archive entry %q: %s",
			clip(hdr.Name), rule)
	}
	return nil
}

// entryName returns the entry's checked path. It strips one leading "./"
// and, for directories, the trailing slash, as common tar tools write
// them; it returns "" for the archive root itself.
func entryName(hdr *tar.Header, lim Limits) (string, error) {
	name := strings.TrimPrefix(hdr.Name, "./")
	if hdr.Typeflag == tar.TypeDir {
		name = strings.TrimSuffix(name, "/")
	}
	if name == "" || name == "." {
		if hdr.Typeflag == tar.TypeDir {
			return "", nil
		}
	}
	if strings.ContainsRune(hdr.Name, 0) {
		return "", errs.E(errs.Invalid,
			"archive entry %q: name contains NUL", clip(hdr.Name))
	}
	if err := CheckPath(name, lim); err != nil {
		return "", errs.E(errs.Invalid, "archive entry %q: %v",
			clip(hdr.Name), err)
	}
	return name, nil
}

// claim records name, refusing a second entry with the same name, a file
// below a file, and a directory where a file is.
func (er *entryReader) claim(name string, dir bool) error {
	if _, dup := er.seen[name]; dup {
		return errs.E(errs.Invalid, "archive entry %q: duplicate entry", name)
	}
	for _, d := range parents(name) {
		if isDir, ok := er.seen[d]; ok && !isDir {
			return errs.E(errs.Invalid,
				"archive entry %q: parent %q is a file", name, d)
		}
		er.seen[d] = true
	}
	er.seen[name] = dir
	return nil
}

// countFile checks the file budgets against the header before any data
// is read. The data is counted again as it streams (fileReader), since
// the header's size is only a claim.
func (er *entryReader) countFile(hdr *tar.Header) error {
	er.files++
	if er.files > er.lim.Files {
		return errs.E(errs.TooLarge,
			"archive entry %q: over the limit of %d files",
			hdr.Name, er.lim.Files)
	}
	if hdr.Size > er.lim.FileBytes {
		return errs.E(errs.TooLarge,
			"archive entry %q: %d bytes, over the per-file limit of %d",
			hdr.Name, hdr.Size, er.lim.FileBytes)
	}
	if er.total+hdr.Size > er.lim.TotalBytes {
		return errs.E(errs.TooLarge,
			"archive entry %q: archive holds over %d bytes of files",
			hdr.Name, er.lim.TotalBytes)
	}
	return nil
}

// readError classifies an error from the tar or gzip layer.
func readError(err error) error {
	if errors.Is(err, errStream) {
		return errs.Wrap(errs.TooLarge, err, "read archive")
	}
	return errs.E(errs.Invalid, "read archive: %v", err)
}

// fileReader streams one file's content, counting it against the
// per-file and total budgets as it arrives.
type fileReader struct {
	er   *entryReader
	name string
	r    io.Reader
	left int64
}

func (f *fileReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	f.left -= int64(n)
	f.er.total += int64(n)
	switch {
	case f.left < 0:
		return n, errs.E(errs.TooLarge,
			"archive entry %q: over the per-file limit of %d bytes",
			f.name, f.er.lim.FileBytes)
	case f.er.total > f.er.lim.TotalBytes:
		return n, errs.E(errs.TooLarge,
			"archive entry %q: archive holds over %d bytes of files",
			f.name, f.er.lim.TotalBytes)
	case err != nil && err != io.EOF:
		return n, fmt.Errorf("archive entry %q: %w", f.name, readError(err))
	}
	return n, err
}

// capReader fails once more than left bytes have been read.
type capReader struct {
	r    io.Reader
	left int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.left < 0 {
		return 0, errStream
	}
	// Ask for at most one byte past the budget: getting it proves the
	// stream is over, and a stream of exactly the budget still ends.
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if c.left < 0 {
		return 0, errStream
	}
	return n, err
}

// clip shortens an untrusted name for an error message: a PAX name can be
// a megabyte long.
func clip(name string) string {
	const max = 128
	if len(name) <= max {
		return name
	}
	return strings.ToValidUTF8(name[:max], "") + "..."
}
