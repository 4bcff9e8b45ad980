package datadir

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestOpenCreatesPrivateLayout(t *testing.T) {
	root := filepath.Join(t.TempDir(), "data")
	d, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, p := range []string{root, d.Path(Blobs), d.Path(Keys)} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != 0o700 {
			t.Errorf("%s mode = %o, want 700", p, got)
		}
	}
}

func TestSecondOpenIsLocked(t *testing.T) {
	root := t.TempDir()
	d, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(root); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
	d.Close()
	d2, err := Open(root)
	if err != nil {
		t.Fatalf("Open after Close = %v, want success", err)
	}
	d2.Close()
}

func TestWriteFileOnce(t *testing.T) {
	p := filepath.Join(t.TempDir(), "key")
	wrote, err := WriteFileOnce(p, []byte("first"))
	if err != nil || !wrote {
		t.Fatalf("first write = %v, %v", wrote, err)
	}
	wrote, err = WriteFileOnce(p, []byte("second"))
	if err != nil || wrote {
		t.Fatalf("second write = %v, %v; want false, nil", wrote, err)
	}
	b, _ := os.ReadFile(p)
	fi, _ := os.Stat(p)
	if string(b) != "first" || fi.Mode().Perm() != 0o600 {
		t.Fatalf("file = %q mode %o, want first, 600", b, fi.Mode().Perm())
	}
}
