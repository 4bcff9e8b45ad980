package workspace

import (
	"fmt"
	"path"
	"strings"
	"unicode/utf8"
)

// CheckPath reports whether p is an acceptable workspace path under lim:
// a non-empty, clean, relative, slash-separated path of valid UTF-8 with
// no "." or ".." component, no NUL, backslash or control character, and
// within the length and depth budgets. The error says which rule failed
// but does not name the path; callers add that.
func CheckPath(p string, lim Limits) error {
	lim = lim.withDefaults()
	switch {
	case p == "":
		return fmt.Errorf("path is empty")
	case len(p) > lim.PathLen:
		return fmt.Errorf("path is %d bytes long, over the limit of %d",
			len(p), lim.PathLen)
	case !utf8.ValidString(p):
		return fmt.Errorf("path is not valid UTF-8")
	case strings.HasPrefix(p, "/"):
		return fmt.Errorf("path is absolute")
	}
	// A backslash is a separator on Windows and in some unpackers; a
	// name that holds one can land somewhere other than it appears to.
	if i := strings.IndexFunc(p, badPathRune); i >= 0 {
		return fmt.Errorf("path contains forbidden character %q", p[i])
	}
	for _, c := range strings.Split(p, "/") {
		if c == "." || c == ".." {
			return fmt.Errorf("path contains a %q component", c)
		}
	}
	if path.Clean(p) != p {
		return fmt.Errorf("path is not clean (want %q)", path.Clean(p))
	}
	if d := strings.Count(p, "/") + 1; d > lim.Depth {
		return fmt.Errorf("path is %d levels deep, over the limit of %d",
			d, lim.Depth)
	}
	return nil
}

// badPathRune reports runes that never belong in a workspace path: NUL
// and other control characters, DEL and backslash.
func badPathRune(r rune) bool {
	return r < 0x20 || r == 0x7f || r == '\\'
}

// parents returns the directories that contain p, outermost first:
// "a/b/c" gives "a" and "a/b".
func parents(p string) []string {
	var dirs []string
	for i := 0; i < len(p); i++ {
		if p[i] == '/' {
			dirs = append(dirs, p[:i])
		}
	}
	return dirs
}
