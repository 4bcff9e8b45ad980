// Package workspace turns a candidate's editor operations into files, the
// files into a deterministic tarball addressed by its SHA-256, and
// untrusted tarballs back into files, safely.
//
// # Editor operations
//
// The payload of an editor.ops audit event is one JSON object, an Op, that
// changes one file. Its "op" member says what it does; when absent it is
// "edit". Unknown members are errors.
//
// An edit is a CodeMirror-style change set on an existing text file:
//
//	{"file":"src/main.py","changes":[{"from":0,"to":3,"insert":"abc"}]}
//
// Each change replaces the text between from and to with insert. Every
// position refers to the file as it was before the op (not after earlier
// changes of the same op), and changes must be in order and must not
// overlap: from <= to, and each from is at least the previous to. Two
// insertions at the same position apply in the order given.
//
// Positions count UTF-16 code units, as JavaScript strings (and so
// CodeMirror) count them: "é" is one unit, "😀" (U+1F600, outside the
// Basic Multilingual Plane) is two. A position inside a surrogate pair is
// an error, as is an edit of a file that is not valid UTF-8. Line breaks
// count as they are stored, so "\r\n" is two units; the editor must keep
// the file's own line breaks (CodeMirror: set EditorState.lineSeparator
// to "\n" so that "\r" stays an ordinary character).
//
// The whole-file operations are:
//
//	{"op":"create","file":"run.sh","content":"#!/bin/sh\n","exec":true}
//	{"op":"delete","file":"old.py"}
//	{"op":"rename","file":"a.py","new_file":"lib/a.py"}
//	{"op":"chmod","file":"run.sh","exec":false}
//
// create fails if the file exists (content and exec may be omitted: an
// empty, non-executable file); delete, rename and chmod fail if it does
// not; rename fails if new_file exists. Fields that do not belong to the
// op are errors. The golden files in testdata/ops pin this format.
//
// # Trees and budgets
//
// A Tree maps clean relative paths to file contents and an exec bit.
// Paths never hold "..", ".", an absolute prefix, NUL, a backslash or a
// control character, and no path is both a file and a directory. Limits
// bound the file count, each file's size, the total size, path length and
// depth. Tree.Apply checks an op completely before changing anything, so
// a failed op leaves the tree as it was, and its error names the file and
// the field at fault.
//
// # Archives
//
// WriteArchive writes a tree as a .tar.gz whose bytes depend on the files
// alone (see its documentation for the exact rules), and returns the
// Digest: "sha256:" and the hex SHA-256 of those bytes. ReadArchive and
// Extract read untrusted .tar.gz or tar streams, counting every budget as
// bytes arrive, so a gzip bomb or a million-entry archive stops at its
// budget after reading little.
package workspace
