package workspace

import (
	"fmt"
	"unicode/utf8"
)

// utf16Len returns the length of s in UTF-16 code units, as a JavaScript
// string of the same text would report it. s must be valid UTF-8.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += runeUnits(r)
	}
	return n
}

// runeUnits is the number of UTF-16 code units that encode r: two for
// the astral planes (a surrogate pair), one otherwise.
func runeUnits(r rune) int {
	if r >= 0x10000 {
		return 2
	}
	return 1
}

// byteOffsets converts UTF-16 positions, which must be in ascending
// order, into byte offsets of s. A position past the end or inside a
// surrogate pair is an error; the int result is then the index of the
// offending position.
func byteOffsets(s string, pos []int) ([]int, int, error) {
	out := make([]int, len(pos))
	units, b := 0, 0
	for i, p := range pos {
		for units < p && b < len(s) {
			r, size := utf8.DecodeRuneInString(s[b:])
			units += runeUnits(r)
			b += size
		}
		if units < p {
			return nil, i, fmt.Errorf("%d is beyond the end (length %d)",
				p, utf16Len(s))
		}
		if units > p {
			return nil, i, fmt.Errorf("%d splits a surrogate pair", p)
		}
		out[i] = b
	}
	return out, -1, nil
}
