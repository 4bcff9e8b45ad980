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
			// ASCII is one byte and one UTF-16 unit: the common case
			// needs no decoding.
			if s[b] < utf8.RuneSelf {
				n := asciiRun(s[b:min(len(s), b+p-units)])
				units += n
				b += n
				continue
			}
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

// asciiRun returns the length of the ASCII prefix of s, reading eight
// bytes at a time where it can.
func asciiRun(s string) int {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		if w&0x8080808080808080 != 0 {
			break
		}
	}
	for ; i < len(s) && s[i] < utf8.RuneSelf; i++ {
	}
	return i
}
