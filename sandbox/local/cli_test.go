package local

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devmesh/devmesh/sandbox"
)

func TestCheckCommandOnLocalDriver(t *testing.T) {
	d := mustDriver(t, Options{})
	var out bytes.Buffer
	if err := sandbox.CheckCommand(t.Context(), d, nil, &out, io.Discard); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if strings.Contains(out.String(), "FAIL") || !strings.Contains(out.String(), "seccomp active") {
		t.Errorf("table:\n%s", out.String())
	}
}

func TestRunCommandOnLocalDriver(t *testing.T) {
	d := mustDriver(t, Options{})
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.py"), []byte("import sys\nprint('ran')\nsys.exit(4)\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := sandbox.RunCommand(t.Context(), d, []string{"--workspace", dir, "--memory", "128M",
		"--time", "10s", "--json", "--", "python3", "main.py"}, &out, io.Discard)
	var re *sandbox.RunError
	if !errors.As(err, &re) {
		t.Fatalf("got %v, want a RunError", err)
	}
	var got struct {
		Outcome  string `json:"outcome"`
		ExitCode int    `json:"exit_code"`
		Stdout   string `json:"stdout"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Outcome != "exit_code" || got.ExitCode != 4 || got.Stdout != "ran\n" {
		t.Errorf("got %+v", got)
	}
}
