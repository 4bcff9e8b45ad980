package workspace

import (
	"strings"
	"testing"
)

func TestCheckPathAccepts(t *testing.T) {
	for _, p := range []string{
		"a", "src/main.py", "a/b/c/d.txt", ".hidden", "dir/.gitignore",
		"naïve/ünïcödé.py", "😀.txt", "a..b", "...",
	} {
		if err := CheckPath(p, Limits{}); err != nil {
			t.Errorf("CheckPath(%q) = %v, want nil", p, err)
		}
	}
}

func TestCheckPathRejects(t *testing.T) {
	tests := []struct {
		name, path, want string
	}{
		{"empty", "", "empty"},
		{"absolute", "/etc/passwd", "absolute"},
		{"parent", "../../etc/passwd", `".."`},
		{"inner parent", "a/../b", `".."`},
		{"trailing parent", "a/..", `".."`},
		{"dot", ".", `"."`},
		{"dot component", "a/./b", `"."`},
		{"leading dot slash", "./a", `"."`},
		{"double slash", "a//b", "not clean"},
		{"trailing slash", "a/", "not clean"},
		{"NUL", "a\x00b", "forbidden character"},
		{"backslash", `a\..\b`, "forbidden character"},
		{"newline", "a\nb", "forbidden character"},
		{"DEL", "a\x7f", "forbidden character"},
		{"invalid UTF-8", "a\xffb", "UTF-8"},
		{"too long", strings.Repeat("a", DefaultPathLen+1), "bytes long"},
		{"too deep", strings.Repeat("a/", DefaultDepth) + "f", "levels deep"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckPath(tt.path, Limits{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("CheckPath(%q) = %v, want error containing %q",
					tt.path, err, tt.want)
			}
		})
	}
}
