package workspace

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/devmesh/devmesh/internal/errs"
)

// mustApply decodes and applies each JSON op, failing on error.
func mustApply(t testing.TB, tr *Tree, ops ...string) {
	t.Helper()
	for _, s := range ops {
		op, err := DecodeOp([]byte(s))
		if err != nil {
			t.Fatalf("DecodeOp(%s): %v", s, err)
		}
		if err := tr.Apply(op); err != nil {
			t.Fatalf("Apply(%s): %v", s, err)
		}
	}
}

func content(t testing.TB, tr *Tree, p string) string {
	t.Helper()
	f, ok := tr.Get(p)
	if !ok {
		t.Fatalf("no file %q", p)
	}
	return f.Content
}

func TestEditCountsUTF16Units(t *testing.T) {
	tests := []struct {
		name, before, op, after string
	}{
		{"ascii replace", "abcdef",
			`{"from":1,"to":3,"insert":"XY"}`, "aXYdef"},
		// "é" is one UTF-16 unit but two UTF-8 bytes.
		{"after two-byte rune", "héllo",
			`{"from":2,"to":4,"insert":"-"}`, "hé-o"},
		// "€" is one unit, three bytes.
		{"after three-byte rune", "a€b",
			`{"from":2,"to":3,"insert":"c"}`, "a€c"},
		// "😀" is a surrogate pair: two units, four bytes.
		{"after astral rune", "x😀y",
			`{"from":3,"to":4,"insert":"z"}`, "x😀z"},
		{"delete astral rune", "x😀y",
			`{"from":1,"to":3,"insert":""}`, "xy"},
		{"insert astral rune", "ab",
			`{"from":1,"to":1,"insert":"𝄞"}`, "a𝄞b"},
		{"append at end", "a😀",
			`{"from":3,"to":3,"insert":"!"}`, "a😀!"},
		{"carriage return is a unit", "a\r\nb",
			`{"from":3,"to":4,"insert":"c"}`, "a\r\nc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := mustTree(t, Limits{}, map[string]string{"f.txt": tt.before})
			mustApply(t, tr,
				`{"file":"f.txt","changes":[`+tt.op+`]}`)
			if got := content(t, tr, "f.txt"); got != tt.after {
				t.Errorf("got %q, want %q", got, tt.after)
			}
		})
	}
}

func TestEditPositionsReferToOriginalDocument(t *testing.T) {
	tr := mustTree(t, Limits{}, map[string]string{"f": "0123456789"})
	mustApply(t, tr, `{"file":"f","changes":[
		{"from":0,"to":2,"insert":"AAAA"},
		{"from":5,"to":5,"insert":"B"},
		{"from":5,"to":5,"insert":"C"},
		{"from":8,"to":10,"insert":""}]}`)
	if got, want := content(t, tr, "f"), "AAAA234BC567"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestApplyRejectsAndLeavesTreeUnchanged(t *testing.T) {
	tests := []struct {
		name, op, want string
		kind           errs.Kind
	}{
		{"from beyond end", `{"file":"a.py","changes":[{"from":7,"to":7,"insert":""}]}`,
			`"a.py": changes[0].from: 7 is beyond the end (length 6)`, errs.Invalid},
		{"to beyond end", `{"file":"a.py","changes":[{"from":0,"to":1},{"from":2,"to":99,"insert":""}]}`,
			`changes[1].to: 99 is beyond the end`, errs.Invalid},
		{"inside surrogate pair", `{"file":"a.py","changes":[{"from":3,"to":3,"insert":"x"}]}`,
			`changes[0].from: 3 splits a surrogate pair`, errs.Invalid},
		{"overlapping", `{"file":"a.py","changes":[{"from":0,"to":3},{"from":2,"to":4}]}`,
			`changes[1].from: 2 overlaps`, errs.Invalid},
		{"reversed", `{"file":"a.py","changes":[{"from":3,"to":1}]}`,
			`changes[0].to: 1 is before from 3`, errs.Invalid},
		{"negative", `{"file":"a.py","changes":[{"from":-1,"to":1}]}`,
			`changes[0].from: -1 is negative`, errs.Invalid},
		{"edit missing file", `{"file":"b.py","changes":[{"from":0,"to":0,"insert":"x"}]}`,
			`"b.py": file: no such file`, errs.Invalid},
		{"edit binary file", `{"file":"bin","changes":[{"from":0,"to":0,"insert":"x"}]}`,
			`not UTF-8 text`, errs.Invalid},
		{"edit over file budget", `{"file":"a.py","changes":[{"from":0,"to":0,"insert":"` +
			strings.Repeat("x", 60) + `"}]}`, "per-file limit of 64", errs.TooLarge},
		{"create existing", `{"op":"create","file":"a.py"}`,
			`"a.py": file: already exists`, errs.Invalid},
		{"create absolute", `{"op":"create","file":"/etc/passwd"}`,
			`"/etc/passwd": file: path is absolute`, errs.Invalid},
		{"create traversal", `{"op":"create","file":"../../etc/passwd"}`,
			`file: path contains a ".." component`, errs.Invalid},
		{"create NUL", `{"op":"create","file":"a\u0000b"}`,
			`forbidden character`, errs.Invalid},
		{"create below a file", `{"op":"create","file":"a.py/x"}`,
			`parent "a.py" is a file`, errs.Invalid},
		{"create over file count", `{"op":"create","file":"c"}`,
			`limit of 3 files`, errs.TooLarge},
		{"delete missing", `{"op":"delete","file":"nope"}`,
			`"nope": file: no such file`, errs.Invalid},
		{"rename onto existing", `{"op":"rename","file":"a.py","new_file":"bin"}`,
			`new_file: "bin" already exists`, errs.Invalid},
		{"rename outside", `{"op":"rename","file":"a.py","new_file":"../a.py"}`,
			`new_file: path contains a ".." component`, errs.Invalid},
		{"rename onto directory", `{"op":"rename","file":"a.py","new_file":"d"}`,
			`is a directory`, errs.Invalid},
		{"chmod missing", `{"op":"chmod","file":"nope","exec":true}`,
			`no such file`, errs.Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lim := Limits{Files: 3, FileBytes: 64}
			tr := NewTree(lim)
			for p, c := range map[string]string{
				"a.py": "ab😀cd", "bin": "\xff\xfe", "d/x": "x",
			} {
				if err := tr.Put(p, File{Content: c}); err != nil {
					t.Fatal(err)
				}
			}
			before := tr.Clone()
			var op Op
			if err := json.Unmarshal([]byte(tt.op), &op); err != nil {
				t.Fatal(err)
			}
			err := tr.Apply(op)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Apply = %v, want error containing %q", err, tt.want)
			}
			if errs.KindOf(err) != tt.kind {
				t.Errorf("kind = %v, want %v", errs.KindOf(err), tt.kind)
			}
			if !tr.Equal(before) || tr.Size() != before.Size() ||
				len(tr.dirs) != len(before.dirs) {
				t.Errorf("tree changed by a failed op")
			}
		})
	}
}

func TestDecodeOpRejectsMalformed(t *testing.T) {
	tests := []struct {
		name, json, want string
	}{
		{"unknown field", `{"file":"a","changes":[{"from":0,"to":0}],"x":1}`, `unknown field "x"`},
		{"unknown change field", `{"file":"a","changes":[{"from":0,"to":0,"text":""}]}`, `unknown field "text"`},
		{"unknown kind", `{"op":"truncate","file":"a"}`, `op: unknown kind "truncate"`},
		{"missing file", `{"changes":[{"from":0,"to":0}]}`, `file: is missing`},
		{"edit without changes", `{"file":"a"}`, `changes: is empty`},
		{"edit with content", `{"file":"a","changes":[{"from":0,"to":0}],"content":"x"}`,
			`content: is not allowed in a edit op`},
		{"delete with content", `{"op":"delete","file":"a","content":"x"}`, `content: is not allowed`},
		{"create with changes", `{"op":"create","file":"a","changes":[]}`, `changes: is not allowed`},
		{"rename without target", `{"op":"rename","file":"a"}`, `new_file: is missing`},
		{"chmod without exec", `{"op":"chmod","file":"a"}`, `exec: is missing`},
		{"trailing data", `{"op":"delete","file":"a"} {}`, `unexpected data`},
		{"not an object", `[1]`, `decode editor op`},
		{"wrong type", `{"file":3}`, `decode editor op`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeOp([]byte(tt.json))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("DecodeOp = %v, want error containing %q", err, tt.want)
			}
			if errs.KindOf(err) != errs.Invalid {
				t.Errorf("kind = %v, want invalid", errs.KindOf(err))
			}
		})
	}
}

func TestWholeFileOps(t *testing.T) {
	tr := NewTree(Limits{})
	mustApply(t, tr,
		`{"op":"create","file":"run.sh","content":"#!/bin/sh\n","exec":true}`,
		`{"op":"create","file":"empty"}`,
		`{"op":"rename","file":"run.sh","new_file":"bin/run.sh"}`,
		`{"op":"chmod","file":"empty","exec":true}`,
		`{"op":"chmod","file":"empty","exec":false}`,
		`{"op":"delete","file":"empty"}`,
	)
	if got := tr.Paths(); len(got) != 1 || got[0] != "bin/run.sh" {
		t.Fatalf("paths = %q, want [bin/run.sh]", got)
	}
	if f, _ := tr.Get("bin/run.sh"); !f.Exec || f.Content != "#!/bin/sh\n" {
		t.Errorf("renamed file = %+v, want exec script", f)
	}
	// A file may be renamed into a directory named like itself.
	mustApply(t, tr, `{"op":"rename","file":"bin/run.sh","new_file":"bin/run.sh/x"}`)
	if _, ok := tr.Get("bin/run.sh/x"); !ok {
		t.Errorf("rename into own name as directory failed")
	}
}

func FuzzDecodeOp(f *testing.F) {
	f.Add([]byte(`{"file":"src/main.py","changes":[{"from":0,"to":3,"insert":"abc"}]}`))
	f.Add([]byte(`{"op":"create","file":"a/b","content":"x😀","exec":true}`))
	f.Add([]byte(`{"op":"rename","file":"a","new_file":"b"}`))
	f.Add([]byte(`{"op":"chmod","file":"a","exec":false}`))
	f.Add([]byte(`{"file":"a","changes":[{"from":1,"to":2,"insert":""},{"from":2,"to":9}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		op, err := DecodeOp(data)
		if err != nil {
			return
		}
		// A decoded op re-encodes to an op that decodes to the same.
		enc, err := json.Marshal(op)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		op2, err := DecodeOp(enc)
		if err != nil {
			t.Fatalf("re-decode %s: %v", enc, err)
		}
		enc2, _ := json.Marshal(op2)
		if string(enc) != string(enc2) {
			t.Fatalf("round trip changed op: %s vs %s", enc, enc2)
		}
		// Applying it never panics, and failure leaves the tree alone.
		tr := mustTree(t, Limits{FileBytes: 1 << 10}, map[string]string{
			"a": "héllo 😀 wörld", "src/main.py": "print(1)\n", "b": "\xff",
		})
		before := tr.Clone()
		if err := tr.Apply(op); err != nil && !tr.Equal(before) {
			t.Fatalf("failed Apply changed the tree: %v", err)
		}
	})
}

func TestErrorsClipLongNames(t *testing.T) {
	long := strings.Repeat("n", 1<<20)
	op := Op{Op: OpCreate, File: long}
	err := NewTree(Limits{}).Apply(op)
	if err == nil || len(err.Error()) > 1024 {
		t.Fatalf("error for a 1 MiB name is %d bytes long", len(err.Error()))
	}
}
