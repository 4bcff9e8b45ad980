package workspace

import (
	"strings"
	"testing"

	"github.com/devmesh/devmesh/internal/errs"
)

// mustTree builds a tree from path -> content, failing the test on error.
func mustTree(t testing.TB, lim Limits, files map[string]string) *Tree {
	t.Helper()
	tr := NewTree(lim)
	for p, c := range files {
		if err := tr.Put(p, File{Content: c}); err != nil {
			t.Fatalf("Put(%q): %v", p, err)
		}
	}
	return tr
}

func TestPutRejectsFileDirectoryConflicts(t *testing.T) {
	tests := []struct {
		name, existing, put, want string
	}{
		{"file below a file", "a", "a/b", `parent "a" is a file`},
		{"file where a directory is", "a/b", "a", "is a directory"},
		{"deep file below a file", "a/b", "a/b/c/d", `parent "a/b" is a file`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := mustTree(t, Limits{}, map[string]string{tt.existing: "x"})
			err := tr.Put(tt.put, File{Content: "y"})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Put(%q) = %v, want error containing %q",
					tt.put, err, tt.want)
			}
			if tr.Len() != 1 {
				t.Errorf("tree has %d files after failed Put, want 1", tr.Len())
			}
		})
	}
}

func TestPutEnforcesBudgets(t *testing.T) {
	lim := Limits{Files: 2, FileBytes: 10, TotalBytes: 14}
	tests := []struct {
		name    string
		path    string
		content string
		want    string
	}{
		{"file over per-file limit", "c", strings.Repeat("x", 11), "per-file limit"},
		{"total over limit", "a", strings.Repeat("x", 10), "would hold 15 bytes"},
		{"file count over limit", "c", "x", "limit of 2 files"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := mustTree(t, lim, map[string]string{"a": "aaa", "b": "bbbbb"})
			before := tr.Clone()
			err := tr.Put(tt.path, File{Content: tt.content})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Put = %v, want error containing %q", err, tt.want)
			}
			if errs.KindOf(err) != errs.TooLarge {
				t.Errorf("kind = %v, want %v", errs.KindOf(err), errs.TooLarge)
			}
			if !tr.Equal(before) || tr.Size() != before.Size() {
				t.Errorf("tree changed by a failed Put")
			}
		})
	}
}

func TestDeleteRemovesEmptyDirectories(t *testing.T) {
	tr := mustTree(t, Limits{}, map[string]string{"a/b/c": "1", "a/d": "2"})
	if err := tr.Delete("a/b/c"); err != nil {
		t.Fatal(err)
	}
	if tr.IsDir("a/b") {
		t.Errorf("a/b is still a directory after its last file went")
	}
	if !tr.IsDir("a") {
		t.Errorf("a is no longer a directory though a/d remains")
	}
	if err := tr.Put("a/b", File{Content: "now a file"}); err != nil {
		t.Errorf("Put a/b after its directory emptied: %v", err)
	}
}

func TestSubStripsPrefix(t *testing.T) {
	tr := mustTree(t, Limits{}, map[string]string{
		"starter/main.py": "m", "starter/lib/x.py": "x", "starterx": "no",
		"other/y": "no",
	})
	got := tr.Sub("starter")
	want := mustTree(t, Limits{}, map[string]string{"main.py": "m", "lib/x.py": "x"})
	if !got.Equal(want) {
		t.Errorf("Sub = %v %v, want %v", got, got.Paths(), want.Paths())
	}
	if !got.IsDir("lib") {
		t.Errorf("Sub lost directory bookkeeping")
	}
}
