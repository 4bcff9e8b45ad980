package task

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/devmesh/devmesh/workspace"
)

// mustTarGz returns the canonical archive of files.
func mustTarGz(t testing.TB, files map[string]string) []byte {
	t.Helper()
	tr := workspace.NewTree(workspace.Limits{FileBytes: 1 << 30, TotalBytes: 1 << 30})
	for p, c := range files {
		if err := tr.Put(p, workspace.File{Content: c}); err != nil {
			t.Fatal(err)
		}
	}
	data, _, err := workspace.Archive(tr)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// rawTarGz writes files with archive/tar as given, unsafe names included.
func rawTarGz(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for p, c := range files {
		h := &tar.Header{Name: p, Typeflag: tar.TypeReg, Mode: 0o644,
			Size: int64(len(c))}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(c))
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}
