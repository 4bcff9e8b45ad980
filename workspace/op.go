package workspace

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/devmesh/devmesh/internal/errs"
)

// OpKind names what an Op does. The values are stored in audit event
// payloads: never rename or reuse one.
type OpKind string

// Op kinds. An Op with an empty kind is an edit.
const (
	OpEdit   OpKind = "edit"
	OpCreate OpKind = "create"
	OpDelete OpKind = "delete"
	OpRename OpKind = "rename"
	OpChmod  OpKind = "chmod"
)

// Op is one editor operation on one file: the payload of an editor.ops
// audit event. The package documentation describes its JSON form.
type Op struct {
	Op      OpKind   `json:"op,omitempty"`
	File    string   `json:"file"`
	Changes []Change `json:"changes,omitempty"`
	Content string   `json:"content,omitempty"`
	Exec    *bool    `json:"exec,omitempty"`
	NewFile string   `json:"new_file,omitempty"`
}

// Change replaces the text between From and To (UTF-16 code units of the
// file before the op) with Insert. From == To is a pure insertion and an
// empty Insert a pure deletion.
type Change struct {
	From   int    `json:"from"`
	To     int    `json:"to"`
	Insert string `json:"insert"`
}

// MaxOpBytes is the largest encoded Op DecodeOp accepts.
const MaxOpBytes = 8 << 20

// DecodeOp parses one JSON-encoded Op strictly: unknown fields, trailing
// data, a kind it does not know and fields that do not belong to the kind
// are errors. It checks the op's shape only; Tree.Apply checks it against
// the files.
func DecodeOp(data []byte) (Op, error) {
	if len(data) > MaxOpBytes {
		return Op{}, errs.E(errs.TooLarge,
			"editor op is %d bytes, over the limit of %d",
			len(data), MaxOpBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var op Op
	if err := dec.Decode(&op); err != nil {
		return Op{}, errs.E(errs.Invalid, "decode editor op: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Op{}, errs.E(errs.Invalid,
			"decode editor op: unexpected data after the op")
	}
	if err := op.Check(); err != nil {
		return Op{}, err
	}
	return op, nil
}

// Kind returns the op's kind, OpEdit when it is empty.
func (op Op) Kind() OpKind {
	if op.Op == "" {
		return OpEdit
	}
	return op.Op
}

// Check validates the op's shape without a tree: the kind is known, the
// fields the kind needs are present, the others absent, and the changes
// of an edit are in order. Paths are checked by Apply, against the tree's
// budgets.
func (op Op) Check() error {
	if op.File == "" {
		return op.errorf("file", "is missing")
	}
	var err error
	switch op.Kind() {
	case OpEdit:
		err = op.checkEdit()
	case OpCreate:
		err = op.only("content", "exec")
	case OpDelete:
		err = op.only()
	case OpRename:
		err = op.only("new_file")
		if err == nil && op.NewFile == "" {
			err = op.errorf("new_file", "is missing")
		}
	case OpChmod:
		err = op.only("exec")
		if err == nil && op.Exec == nil {
			err = op.errorf("exec", "is missing")
		}
	default:
		err = op.errorf("op", "unknown kind %q", op.Op)
	}
	return err
}

// checkEdit validates the changes of an edit.
func (op Op) checkEdit() error {
	if err := op.only("changes"); err != nil {
		return err
	}
	if len(op.Changes) == 0 {
		return op.errorf("changes", "is empty")
	}
	prev := 0
	for i, c := range op.Changes {
		switch {
		case c.From < 0:
			return op.errorf(fmt.Sprintf("changes[%d].from", i),
				"%d is negative", c.From)
		case c.To < c.From:
			return op.errorf(fmt.Sprintf("changes[%d].to", i),
				"%d is before from %d", c.To, c.From)
		case c.From < prev:
			return op.errorf(fmt.Sprintf("changes[%d].from", i),
				"%d overlaps or precedes the previous change ending at %d",
				c.From, prev)
		}
		prev = c.To
	}
	return nil
}

// only reports the first field that is set but not in allowed.
func (op Op) only(allowed ...string) error {
	set := map[string]bool{
		"changes":  op.Changes != nil,
		"content":  op.Content != "",
		"exec":     op.Exec != nil,
		"new_file": op.NewFile != "",
	}
	for _, name := range []string{"changes", "content", "exec", "new_file"} {
		if set[name] && !contains(allowed, name) {
			return op.errorf(name, "is not allowed in a %s op", op.Kind())
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// errorf returns an Invalid error naming the op's file and field.
func (op Op) errorf(field, format string, args ...any) error {
	return errs.E(errs.Invalid, "editor op on %q: %s: %s",
		clip(op.File), field, fmt.Sprintf(format, args...))
}

// Apply applies op to the tree. On any error the tree is unchanged. The
// error names the file and the field at fault.
func (t *Tree) Apply(op Op) error {
	if err := op.Check(); err != nil {
		return err
	}
	if err := CheckPath(op.File, t.lim); err != nil {
		return op.errorf("file", "%v", err)
	}
	switch op.Kind() {
	case OpEdit:
		return t.applyEdit(op)
	case OpCreate:
		return t.applyCreate(op)
	case OpDelete:
		return t.applyDelete(op)
	case OpRename:
		return t.applyRename(op)
	default:
		return t.applyChmod(op)
	}
}

func (t *Tree) applyEdit(op Op) error {
	f, ok := t.files[op.File]
	if !ok {
		return op.errorf("file", "no such file")
	}
	// Positions count UTF-16 code units of text; a file that is not
	// UTF-8 has no such positions.
	if !utf8.ValidString(f.Content) {
		return op.errorf("file", "is not UTF-8 text and cannot be edited")
	}
	pos := make([]int, 0, 2*len(op.Changes))
	for _, c := range op.Changes {
		pos = append(pos, c.From, c.To)
	}
	off, bad, err := byteOffsets(f.Content, pos)
	if err != nil {
		field := fmt.Sprintf("changes[%d].from", bad/2)
		if bad%2 == 1 {
			field = fmt.Sprintf("changes[%d].to", bad/2)
		}
		return op.errorf(field, "%v", err)
	}
	size := int64(len(f.Content))
	for i, c := range op.Changes {
		size += int64(len(c.Insert) - (off[2*i+1] - off[2*i]))
	}
	if size > t.lim.FileBytes {
		return errs.E(errs.TooLarge, "editor op on %q: changes: the file "+
			"would be %d bytes, over the per-file limit of %d",
			clip(op.File), size, t.lim.FileBytes)
	}
	var b strings.Builder
	b.Grow(int(size))
	last := 0
	for i, c := range op.Changes {
		b.WriteString(f.Content[last:off[2*i]])
		b.WriteString(c.Insert)
		last = off[2*i+1]
	}
	b.WriteString(f.Content[last:])
	return t.Put(op.File, File{Content: b.String(), Exec: f.Exec})
}

func (t *Tree) applyCreate(op Op) error {
	if _, ok := t.files[op.File]; ok {
		return op.errorf("file", "already exists")
	}
	f := File{Content: op.Content, Exec: op.Exec != nil && *op.Exec}
	return t.Put(op.File, f)
}

func (t *Tree) applyDelete(op Op) error {
	if _, ok := t.files[op.File]; !ok {
		return op.errorf("file", "no such file")
	}
	t.remove(op.File)
	return nil
}

func (t *Tree) applyRename(op Op) error {
	f, ok := t.files[op.File]
	if !ok {
		return op.errorf("file", "no such file")
	}
	if err := CheckPath(op.NewFile, t.lim); err != nil {
		return op.errorf("new_file", "%v", err)
	}
	if _, ok := t.files[op.NewFile]; ok {
		return op.errorf("new_file", "%q already exists", clip(op.NewFile))
	}
	t.remove(op.File)
	if err := t.Put(op.NewFile, f); err != nil {
		t.put(op.File, f)
		return err
	}
	return nil
}

func (t *Tree) applyChmod(op Op) error {
	f, ok := t.files[op.File]
	if !ok {
		return op.errorf("file", "no such file")
	}
	f.Exec = *op.Exec
	t.files[op.File] = f
	return nil
}
