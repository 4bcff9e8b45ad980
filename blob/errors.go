package blob

import (
	"errors"
	"fmt"

	"github.com/devmesh/devmesh/internal/errs"
)

// Sentinel causes. Errors returned by this package carry an errs kind for
// the client and one of these as their cause, so callers can test with
// errors.Is.
var (
	// ErrNotFound: no object with that digest in that scope.
	ErrNotFound = errors.New("blob not found")
	// ErrIntegrity: stored bytes do not decrypt, or do not hash to the
	// digest they are stored under. Never served silently.
	ErrIntegrity = errors.New("blob integrity check failed")
	// ErrDigestMismatch: the content handed to Put does not hash to the
	// digest the caller claimed for it.
	ErrDigestMismatch = errors.New("content does not match its digest")
	// ErrShredded: the scope's data key was destroyed; its objects can
	// never be read again.
	ErrShredded = errors.New("data key shredded")
	// ErrExists is what a Backend returns when its put-if-absent finds the
	// key taken.
	ErrExists = errors.New("object already exists")
)

// fail builds an error of kind whose client message is the formatted text
// and whose cause is the sentinel.
func fail(kind errs.Kind, sentinel error, format string, args ...any) error {
	return &errs.Error{Kind: kind, Msg: fmt.Sprintf(format, args...), Cause: sentinel}
}

// integrityError names the digest and scope whose stored bytes are bad.
// Its kind is Internal: corrupt storage is the server's problem, not the
// client's, and it must reach a person.
func integrityError(scope string, d Digest, why string) error {
	return fail(errs.Internal, ErrIntegrity,
		"integrity check failed for %s in scope %q: %s", d, scope, why)
}

func notFound(scope string, d Digest) error {
	return fail(errs.NotFound, ErrNotFound, "blob %s not found in scope %q", d, scope)
}

func shredded(scope string) error {
	return fail(errs.Conflict, ErrShredded,
		"data key of scope %q was shredded: its blobs are unreadable", scope)
}
