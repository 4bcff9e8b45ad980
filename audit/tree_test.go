package audit

import (
	"bytes"
	"fmt"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

// memHashes is a tlog.HashReader over a slice, to check the frontier
// against tlog's own implementation.
type memHashes []tlog.Hash

func (m memHashes) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		if x >= int64(len(m)) {
			return nil, fmt.Errorf("no hash %d", x)
		}
		out[i] = m[x]
	}
	return out, nil
}

func TestFrontierMatchesTlog(t *testing.T) {
	var f frontier
	var stored memHashes
	rows := map[int64][]byte{}
	for n := int64(0); n < 300; n++ {
		data := []byte(fmt.Sprintf("leaf %d", n))
		want, err := tlog.StoredHashes(n, data, stored)
		if err != nil {
			t.Fatal(err)
		}
		got := f.push(tlog.RecordHash(data))
		if !bytes.Equal(joinHashes(got), joinHashes(want)) {
			t.Fatalf("leaf %d: stored hashes differ from tlog.StoredHashes", n)
		}
		stored = append(stored, want...)
		rows[n] = joinHashes(got)
		root, err := tlog.TreeHash(n+1, stored)
		if err != nil || root != f.root() {
			t.Fatalf("size %d: root %v, tlog says %v (%v)", n+1, f.root(), root, err)
		}
		g, err := newFrontier(n+1, rows)
		if err != nil || g.root() != root {
			t.Fatalf("size %d: frontier rebuilt from rows has root %v, want %v (%v)", n+1, g.root(), root, err)
		}
	}
	for i := range int64(len(stored)) {
		leaf, level := storageLocation(i)
		h, err := hashAt(rows[leaf], leaf, level)
		if err != nil || h != stored[i] {
			t.Fatalf("storage index %d: located at leaf %d level %d, got %v, want %v", i, leaf, level, h, stored[i])
		}
	}
}
