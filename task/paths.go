package task

import (
	"strings"
	"unicode/utf8"

	"github.com/devmesh/devmesh/workspace"
)

// paths checks every path the manifest names: relative and clean, inside
// the bundle, present with the right type, and laid out so that hidden
// tests can never reach the candidate.
func (v *validator) paths(m *Manifest) {
	v.file("prompt", m.Prompt)
	v.dir("starter", m.Starter, true)
	v.dir("tests.visible", m.Tests.Visible, false)
	v.dir("tests.hidden", m.Tests.Hidden, true)
	if f, ok := v.files.Get(m.Prompt); ok {
		if len(f.Content) > MaxPromptBytes || !utf8.ValidString(f.Content) {
			v.add("prompt", "%q must be UTF-8 text of at most %d bytes",
				m.Prompt, MaxPromptBytes)
		}
	}
	// The hidden tests must not sit inside what the candidate receives,
	// nor contain it: either would hand hidden tests to the candidate.
	shown := []struct{ field, path string }{
		{"prompt", m.Prompt}, {"starter", m.Starter},
		{"tests.visible", m.Tests.Visible},
	}
	for _, s := range shown {
		if overlaps(s.path, m.Tests.Hidden) {
			v.add("tests.hidden", "%q overlaps %s %q",
				m.Tests.Hidden, s.field, s.path)
		}
	}
	if overlaps(m.Starter, m.Tests.Visible) {
		v.add("tests.visible", "%q overlaps starter %q",
			m.Tests.Visible, m.Starter)
	}
	v.starter(m)
}

// file checks that p names a regular file of the bundle.
func (v *validator) file(field, p string) {
	if !v.checkPath(field, p, true) {
		return
	}
	if _, ok := v.files.Get(p); !ok {
		v.add(field, "file %q does not exist in the bundle", p)
	}
}

// dir checks that p names a directory of the bundle holding files.
func (v *validator) dir(field, p string, required bool) {
	if !v.checkPath(field, p, required) {
		return
	}
	if !v.files.IsDir(p) {
		v.add(field, "directory %q does not exist in the bundle "+
			"or holds no files", p)
	}
}

// checkPath reports whether p is present and a valid bundle path, adding
// a problem if not. An absent optional path is fine but not checked on.
func (v *validator) checkPath(field, p string, required bool) bool {
	if p == "" {
		if required {
			v.add(field, "is missing")
		}
		return false
	}
	if err := workspace.CheckPath(p, v.files.Limits()); err != nil {
		v.add(field, "%q: %v", p, err)
		return false
	}
	if p == ManifestFile {
		v.add(field, "%q is the manifest itself", p)
		return false
	}
	return true
}

// starter builds the candidate's starting workspace, reporting a visible
// test file that would replace a starter file or clash with one of its
// directories: the bundle would be ambiguous.
func (v *validator) starter(m *Manifest) {
	if m.Starter == "" || overlaps(m.Starter, m.Tests.Visible) {
		return
	}
	ws := workspace.NewTree(workspace.Limits{})
	if err := overlay(ws, v.files.Sub(m.Starter), false); err != nil {
		v.add("starter", "%v", err)
		return
	}
	if m.Tests.Visible != "" {
		err := overlay(ws, v.files.Sub(m.Tests.Visible), false)
		if err != nil {
			v.add("tests.visible", "%v", err)
			return
		}
	}
	v.start = ws
}

// overlaps reports whether a and b are the same path or one contains
// the other. Empty paths overlap nothing.
func overlaps(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	return a == b || strings.HasPrefix(a, b+"/") || strings.HasPrefix(b, a+"/")
}
