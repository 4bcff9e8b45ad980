package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// recordingDriver is a fake for the command-line tests: it records the
// job it gets and returns a fixed result. It isolates nothing.
type recordingDriver struct {
	job       Job
	workspace []byte
	res       Result
	probes    []ProbeResult
	probeErr  error
}

func (d *recordingDriver) Preflight(context.Context) ([]ProbeResult, error) {
	return d.probes, d.probeErr
}

func (d *recordingDriver) Run(_ context.Context, j Job) (Result, error) {
	d.job = j
	if j.Workspace != nil {
		d.workspace, _ = io.ReadAll(j.Workspace)
	}
	if j.Output != nil {
		j.Output(Stdout, d.res.Stdout)
		j.Output(Stderr, d.res.Stderr)
	}
	return d.res, nil
}

func TestRunCommandParsesLimitsAndCommand(t *testing.T) {
	d := &recordingDriver{res: Result{Outcome: OK, Stdout: []byte("hi\n")}}
	var out, errOut bytes.Buffer
	err := RunCommand(t.Context(), d, []string{"--runtime", "node", "--memory", "256M",
		"--time", "10s", "--", "node", "-e", "1"}, &out, &errOut)
	if err != nil {
		t.Fatal(err)
	}
	j := d.job
	if j.Runtime != "node" || j.Limits.MemoryBytes != 256*MiB || j.Limits.WallTime != 10*time.Second ||
		strings.Join(j.Command, " ") != "node -e 1" {
		t.Errorf("job %+v", j)
	}
	if out.String() != "hi\n" || !strings.Contains(errOut.String(), "outcome: ok exit_code=0") {
		t.Errorf("stdout %q stderr %q", out.String(), errOut.String())
	}
}

func TestRunCommandJSON(t *testing.T) {
	d := &recordingDriver{res: Result{Outcome: ExitCode, ExitCode: 3, Stdout: []byte("o"),
		Stderr: []byte("e"), Duration: 1500 * time.Millisecond}}
	var out bytes.Buffer
	err := RunCommand(t.Context(), d, []string{"--json", "--", "false"}, &out, io.Discard)
	var re *RunError
	if !errors.As(err, &re) || re.Result.ExitCode != 3 {
		t.Fatalf("got %v, want a RunError with exit code 3", err)
	}
	var got map[string]any
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"outcome": "exit_code", "exit_code": 3.0, "stdout": "o",
		"stderr": "e", "duration_ms": 1500.0}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

func TestRunCommandRejectsBadInput(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown unit", []string{"--memory", "12XB", "--", "true"}, `invalid memory limit "12XB": unknown unit`},
		{"unknown flag gets a hint", []string{"--bogus", "--", "true"}, "hint: run 'devmesh sandbox run --help'"},
		{"missing command", []string{"--json"}, "missing command after --"},
		{"unknown runtime", []string{"--runtime", "cobol", "--", "x"}, `unknown runtime "cobol"`},
		{"memory out of range", []string{"--memory", "1K", "--", "x"}, "memory limit 1K out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := RunCommand(t.Context(), &recordingDriver{}, tt.args, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want error containing %q", err, tt.want)
			}
		})
	}
}

func TestRunCommandHelp(t *testing.T) {
	var errOut bytes.Buffer
	err := RunCommand(t.Context(), &recordingDriver{}, []string{"--help"}, io.Discard, &errOut)
	if !errors.Is(err, flag.ErrHelp) || !strings.Contains(errOut.String(), "usage: devmesh sandbox run") {
		t.Errorf("got %v and %q", err, errOut.String())
	}
}

func TestRunCommandPacksWorkspace(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.py"), []byte("print(1)\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d := &recordingDriver{res: Result{Outcome: OK}}
	if err := RunCommand(t.Context(), d, []string{"--workspace", dir, "--", "python3", "main.py"},
		io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	if len(d.workspace) < 2 || d.workspace[0] != 0x1f || d.workspace[1] != 0x8b {
		t.Errorf("workspace is not a gzip stream: % x", d.workspace[:min(len(d.workspace), 4)])
	}
}

func TestCheckCommandPrintsTableAndFails(t *testing.T) {
	d := &recordingDriver{
		probes: []ProbeResult{
			{Name: "no network", OK: true, Detail: "fine"},
			{Name: "seccomp active", OK: false, Detail: "mode 0"},
		},
		probeErr: errors.New("probe seccomp active failed"),
	}
	var out bytes.Buffer
	err := CheckCommand(t.Context(), d, nil, &out, io.Discard)
	if err == nil {
		t.Fatal("got nil error with a failing probe")
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], "no network") || !strings.Contains(lines[1], "ok") ||
		!strings.Contains(lines[2], "FAIL") || !strings.Contains(lines[2], "mode 0") {
		t.Errorf("table:\n%s", out.String())
	}
}

func TestCheckCommandUnknownFlagHint(t *testing.T) {
	err := CheckCommand(t.Context(), &recordingDriver{}, []string{"-x"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "hint: run 'devmesh sandbox check --help'") {
		t.Errorf("got %v", err)
	}
}
