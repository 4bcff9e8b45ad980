package workspace

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/devmesh/devmesh/internal/errs"
)

// Digest is the SHA-256 of a workspace's deterministic .tar.gz bytes. Its
// text form is "sha256:" followed by 64 lowercase hex digits; that form is
// stored and sent to clients.
type Digest [sha256.Size]byte

const digestPrefix = "sha256:"

// String returns the text form, "sha256:<hex>".
func (d Digest) String() string {
	return digestPrefix + hex.EncodeToString(d[:])
}

// ParseDigest parses the text form of a digest.
func ParseDigest(s string) (Digest, error) {
	var d Digest
	h, ok := strings.CutPrefix(s, digestPrefix)
	if !ok || len(h) != 2*len(d) || strings.ToLower(h) != h {
		return d, errs.E(errs.Invalid,
			"invalid digest %q: want sha256: and 64 lowercase hex digits", s)
	}
	if _, err := hex.Decode(d[:], []byte(h)); err != nil {
		return d, errs.E(errs.Invalid, "invalid digest %q: %v", s, err)
	}
	return d, nil
}

// MarshalText implements encoding.TextMarshaler with the text form.
func (d Digest) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Digest) UnmarshalText(b []byte) error {
	v, err := ParseDigest(string(b))
	if err != nil {
		return fmt.Errorf("unmarshal digest: %w", err)
	}
	*d = v
	return nil
}
