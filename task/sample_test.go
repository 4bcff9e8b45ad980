package task

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/devmesh/devmesh/sandbox"
	"github.com/devmesh/devmesh/workspace"
)

func TestSampleParsesAndValidates(t *testing.T) {
	b, err := Sample()
	if err != nil {
		t.Fatal(err)
	}
	if b.Manifest.Name != "run-length-encoding" || b.Manifest.Runtime != "python" {
		t.Errorf("manifest = %+v", b.Manifest)
	}
	fromDir, err := ParseDir("sample")
	if err != nil {
		t.Fatal(err)
	}
	if fromDir.Digest() != b.Digest() {
		t.Errorf("embedded digest %v differs from directory digest %v",
			b.Digest(), fromDir.Digest())
	}
	starter := b.Starter().Paths()
	if want := []string{"main.py", "rle.py", "tests/test_rle.py"}; !slices.Equal(starter, want) {
		t.Errorf("starter = %q, want %q", starter, want)
	}
}

func TestRuntimesExistInSandbox(t *testing.T) {
	for _, r := range Runtimes {
		if _, ok := sandbox.Runtimes[r]; !ok {
			t.Errorf("runtime %q has no sandbox profile", r)
		}
	}
}

// TestSampleReferenceSolution runs the sample's test command on the
// starter (which must fail the hidden tests) and on the reference
// solution kept in testdata (which must pass them).
func TestSampleReferenceSolution(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not installed")
	}
	b, err := Sample()
	if err != nil {
		t.Fatal(err)
	}
	solution, err := os.ReadFile(filepath.Join("testdata", "sample-solution", "rle.py"))
	if err != nil {
		t.Fatal(err)
	}
	starter, err := b.WithHiddenTests(b.Starter())
	if err != nil {
		t.Fatal(err)
	}
	if out, err := runTests(t, b, starter); err == nil {
		t.Errorf("starter passes the hidden tests:\n%s", out)
	}
	solved := b.Starter()
	if err := solved.Put("rle.py", workspace.File{Content: string(solution)}); err != nil {
		t.Fatal(err)
	}
	solved, err = b.WithHiddenTests(solved)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := runTests(t, b, solved); err != nil {
		t.Errorf("reference solution fails: %v\n%s", err, out)
	}
}

// runTests writes ws to a directory and runs the task's test command in
// it, directly on the host: the code is the project's own sample.
func runTests(t *testing.T, b *Bundle, ws *workspace.Tree) ([]byte, error) {
	t.Helper()
	dir := t.TempDir()
	if err := workspace.WriteDir(dir, ws); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	argv := b.Manifest.Commands.Test
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	return cmd.CombinedOutput()
}
