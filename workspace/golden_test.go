package workspace

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// checkGolden compares got with testdata file name, or rewrites it when
// -update is set.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden file:\ngot:\n%s\nwant:\n%s",
			path, got, want)
	}
}

// dumpTree renders a tree as text: one header line per file, then its
// content quoted.
func dumpTree(tr *Tree) string {
	var b strings.Builder
	for _, p := range tr.Paths() {
		f, _ := tr.Get(p)
		mode := "0644"
		if f.Exec {
			mode = "0755"
		}
		fmt.Fprintf(&b, "%s %s %q\n", mode, p, f.Content)
	}
	return b.String()
}

// TestOpGolden replays each testdata/ops/*.json case (a starting tree and
// a list of ops in their wire form) and pins the canonical re-encoding of
// each op and the resulting tree, or the first error.
func TestOpGolden(t *testing.T) {
	cases, err := filepath.Glob(filepath.Join("testdata", "ops", "*.json"))
	if err != nil || len(cases) == 0 {
		t.Fatalf("no golden op cases: %v", err)
	}
	for _, path := range cases {
		name := strings.TrimSuffix(filepath.Base(path), ".json")
		t.Run(name, func(t *testing.T) {
			checkGolden(t, filepath.Join("ops", name+".golden"),
				replayCase(t, path))
		})
	}
}

func replayCase(t *testing.T, path string) []byte {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Before map[string]string
		Ops    []json.RawMessage
	}
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	tr := mustTree(t, Limits{}, c.Before)
	var out bytes.Buffer
	for i, raw := range c.Ops {
		op, err := DecodeOp(raw)
		if err == nil {
			err = tr.Apply(op)
		}
		enc, _ := json.Marshal(op)
		fmt.Fprintf(&out, "op %d: %s\n", i, enc)
		if err != nil {
			fmt.Fprintf(&out, "error: %v\n", err)
			break
		}
	}
	out.WriteString("tree:\n" + dumpTree(tr))
	return out.Bytes()
}
