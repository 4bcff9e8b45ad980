package blob

import (
	"github.com/devmesh/devmesh/internal/errs"
)

// ScopeTasks is the scope that holds task bundles.
const ScopeTasks = "tasks"

// maxScopeLen bounds a scope; a UUID or a ULID fits with room to spare.
const maxScopeLen = 64

// keyVersion prefixes every object key. It names the key layout and the
// object format, and is stored: a new format gets a new prefix.
const keyVersion = "v1"

// ValidateScope reports whether scope may name a namespace of objects.
//
// A scope becomes one path segment of an object key, and on the local
// driver one directory name, so it is held to a strict alphabet: ASCII
// letters, digits, '-' and '_', 1 to 64 bytes, starting with a letter or
// digit. This refuses every path trick by construction: no '/', no '\',
// no '.', so no "..", no hidden names, no absolute paths, no NUL, no
// percent-encoding and no Unicode look-alikes.
func ValidateScope(scope string) error {
	if scope == "" || len(scope) > maxScopeLen {
		return errs.E(errs.Invalid, "invalid scope %q: want 1 to %d characters",
			truncate(scope, 80), maxScopeLen)
	}
	for i := 0; i < len(scope); i++ {
		c := scope[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if alnum || (i > 0 && (c == '-' || c == '_')) {
			continue
		}
		return errs.E(errs.Invalid,
			"invalid scope %q: only letters, digits, '-' and '_' are allowed, starting with a letter or digit",
			truncate(scope, 80))
	}
	return nil
}

// objectKey returns the storage key of digest in scope. Both must have
// been validated.
func objectKey(scope string, d Digest) string {
	return keyVersion + "/" + scope + "/" + d.Hex()
}

// ObjectKey returns the storage key under which digest is kept in scope,
// such as "v1/tasks/<64 hex digits>". Operators and tests use it to find
// the raw object.
func ObjectKey(scope string, d Digest) (string, error) {
	if err := ValidateScope(scope); err != nil {
		return "", err
	}
	if err := d.Validate(); err != nil {
		return "", err
	}
	return objectKey(scope, d), nil
}
