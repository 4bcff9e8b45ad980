package store

import (
	"encoding/base32"
	"fmt"
	"io"
)

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewID returns prefix + "_" + 128 random bits in lowercase base32, such as
// "sub_7m3q...". IDs are opaque; nothing may parse them.
func (db *DB) NewID(prefix string) string {
	var b [16]byte
	if _, err := io.ReadFull(db.rand, b[:]); err != nil {
		// The random source is crypto/rand outside tests; it does not fail.
		panic(fmt.Sprintf("read random source: %v", err))
	}
	return prefix + "_" + idEncoding.EncodeToString(b[:])
}
