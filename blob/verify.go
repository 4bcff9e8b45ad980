package blob

import (
	"crypto/sha256"
	"errors"
	"hash"
	"io"

	"github.com/devmesh/devmesh/internal/errs"
)

// digestReader hashes what passes through it and, at the end of the
// stream, replaces io.EOF with an error when the sum differs from want.
// A consumer that stops at the first error therefore never commits bytes
// that do not match their digest.
type digestReader struct {
	r        io.Reader
	h        hash.Hash
	n        int64
	want     Digest
	mismatch func(got Digest) error
	err      error // sticky: once decided, always the same answer
}

func newDigestReader(r io.Reader, want Digest, mismatch func(got Digest) error) *digestReader {
	return &digestReader{r: r, h: sha256.New(), want: want, mismatch: mismatch}
}

func (v *digestReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	if errors.Is(err, io.EOF) {
		err = io.EOF
		if got := digestFromSum(v.h.Sum(nil)); got != v.want {
			err = v.mismatch(got)
		}
	}
	if err != nil {
		v.err = err
	}
	return n, err
}

// verified reports whether the whole stream was read and matched.
func (v *digestReader) verified() bool { return v.err == io.EOF }

// putMismatch is the error for content handed to Put under a wrong digest.
func putMismatch(scope string, want Digest) func(Digest) error {
	return func(got Digest) error {
		return fail(errs.Invalid, ErrDigestMismatch,
			"content for %s in scope %q hashes to %s", want, scope, got)
	}
}

// readMismatch is the error for stored content under a wrong digest.
func readMismatch(scope string, want Digest) func(Digest) error {
	return func(got Digest) error {
		return integrityError(scope, want, "stored content hashes to "+string(got))
	}
}

// readCloser joins a verifying reader with the close of its source.
type readCloser struct {
	io.Reader
	io.Closer
}
