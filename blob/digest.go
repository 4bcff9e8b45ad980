package blob

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/devmesh/devmesh/internal/errs"
)

// digestPrefix is the algorithm tag of every Digest. It is stored in keys
// and events: never change it.
const digestPrefix = "sha256:"

// Digest names content by its SHA-256: "sha256:" followed by 64 lowercase
// hex digits. The zero value is not a valid digest.
type Digest string

// DigestOf returns the digest of b.
func DigestOf(b []byte) Digest {
	sum := sha256.Sum256(b)
	return digestFromSum(sum[:])
}

func digestFromSum(sum []byte) Digest {
	return Digest(digestPrefix + hex.EncodeToString(sum))
}

// ParseDigest parses s, which must be exactly "sha256:" and 64 lowercase
// hex digits. Uppercase hex is refused so that one content has exactly
// one name.
func ParseDigest(s string) (Digest, error) {
	hexPart, ok := strings.CutPrefix(s, digestPrefix)
	if !ok || len(hexPart) != 2*sha256.Size || !isLowerHex(hexPart) {
		return "", errs.E(errs.Invalid,
			"invalid digest %q: want sha256: and 64 lowercase hex digits",
			truncate(s, 80))
	}
	return Digest(s), nil
}

// Validate reports whether d is well formed.
func (d Digest) Validate() error {
	_, err := ParseDigest(string(d))
	return err
}

// Hex returns the 64 hex digits of d without the algorithm tag.
func (d Digest) Hex() string { return strings.TrimPrefix(string(d), digestPrefix) }

// String returns d as "sha256:<hex>".
func (d Digest) String() string { return string(d) }

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// truncate bounds how much of a hostile input an error message quotes.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
