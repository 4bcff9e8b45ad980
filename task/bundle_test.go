package task

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/devmesh/devmesh/internal/errs"
	"github.com/devmesh/devmesh/workspace"
)

const validManifest = `format: 1
name: demo
version: 0.1.0
runtime: python
prompt: PROMPT.md
starter: starter
tests:
  visible: visible
  hidden: hidden
commands:
  run: [python3, main.py]
  test: [python3, -m, unittest]
rubric:
  - id: correctness
    description: Tests pass.
    weight: 1
`

// validFiles returns the files of a small valid bundle.
func validFiles() map[string]string {
	return map[string]string{
		ManifestFile:                validManifest,
		"PROMPT.md":                 "# Demo\n",
		"starter/main.py":           "print('hi')\n",
		"visible/tests/test_a.py":   "# visible\n",
		"hidden/tests/test_b.py":    "# hidden\n",
		"solutions/notes-for-me.md": "not shipped to candidates\n",
	}
}

func mustTreeOf(t testing.TB, files map[string]string) *workspace.Tree {
	t.Helper()
	tr := workspace.NewTree(BundleLimits())
	for p, c := range files {
		if err := tr.Put(p, workspace.File{Content: c}); err != nil {
			t.Fatalf("Put(%q): %v", p, err)
		}
	}
	return tr
}

// withManifest returns the valid files with the manifest edited: each
// pair of strings is an old and a new text.
func withManifest(t testing.TB, edits ...string) map[string]string {
	t.Helper()
	files := validFiles()
	m := files[ManifestFile]
	for i := 0; i+1 < len(edits); i += 2 {
		if !strings.Contains(m, edits[i]) {
			t.Fatalf("manifest has no %q", edits[i])
		}
		m = strings.Replace(m, edits[i], edits[i+1], 1)
	}
	files[ManifestFile] = m
	return files
}

func TestParseTreeAppliesDefaults(t *testing.T) {
	b, err := ParseTree(mustTreeOf(t, validFiles()))
	if err != nil {
		t.Fatal(err)
	}
	l := b.SandboxLimits()
	if l.WallTime != 30*time.Second || l.MemoryBytes != 512<<20 ||
		l.Processes != 128 {
		t.Errorf("limits = %+v, want defaults", l)
	}
	if d := time.Duration(b.Manifest.SessionDuration); d != 90*time.Minute {
		t.Errorf("session duration = %v, want 90m", d)
	}
	if b.Prompt() != "# Demo\n" {
		t.Errorf("prompt = %q", b.Prompt())
	}
}

func TestStarterHoldsNoHiddenTests(t *testing.T) {
	b, err := ParseTree(mustTreeOf(t, validFiles()))
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(b.Starter().Paths(), " ")
	if want := "main.py tests/test_a.py"; got != want {
		t.Errorf("starter = %q, want %q", got, want)
	}
}

// TestWithHiddenTestsCannotBeShadowedOrBlocked plays a candidate who
// replaces a hidden test and blocks another with a file named like its
// directory.
func TestWithHiddenTestsCannotBeShadowedOrBlocked(t *testing.T) {
	files := validFiles()
	files["hidden/tests/deep/test_c.py"] = "# hidden c\n"
	b, err := ParseTree(mustTreeOf(t, files))
	if err != nil {
		t.Fatal(err)
	}
	ws := b.Starter()
	ws.Put("tests/test_b.py", workspace.File{Content: "# always passes"})
	ws.Put("tests/deep", workspace.File{Content: "blocker"})
	ws.Put("extra/test_b.py/x", workspace.File{Content: "blocker"})
	got, err := b.WithHiddenTests(ws)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{
		"tests/test_b.py":      "# hidden\n",
		"tests/deep/test_c.py": "# hidden c\n",
		"main.py":              "print('hi')\n",
	} {
		if f, _ := got.Get(p); f.Content != want {
			t.Errorf("%s = %q, want %q", p, f.Content, want)
		}
	}
	if _, ok := ws.Get("tests/deep"); !ok {
		t.Errorf("WithHiddenTests modified its input")
	}
}

func TestParseTreeRejects(t *testing.T) {
	noManifest := validFiles()
	delete(noManifest, ManifestFile)
	nested := validFiles()
	delete(nested, ManifestFile)
	nested["sub/"+ManifestFile] = validManifest
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"missing manifest", noManifest, "devmesh-task.yaml: is missing from the bundle root"},
		{"manifest not at root", nested, "devmesh-task.yaml: is missing"},
		{"unknown field", withManifest(t, "runtime: python", "runtime: python\nlanguage: py"),
			`unknown field "language"`},
		{"unknown nested field", withManifest(t, "  hidden: hidden", "  hidden: hidden\n  secret: x"),
			`unknown field "secret"`},
		{"duplicate key", withManifest(t, "name: demo", "name: demo\nname: other"),
			`"name" already defined`},
		{"two documents", withManifest(t, "format: 1", "format: 1\n---\nformat: 1\n---"),
			"more than one YAML document"},
		{"bad size unit", withManifest(t, "format: 1", "format: 1\nlimits:\n  memory: 12XB"),
			`"12XB": unknown unit`},
		{"unknown runtime", withManifest(t, "runtime: python", "runtime: cobol"),
			`runtime: unknown runtime "cobol"`},
		{"missing runtime", withManifest(t, "runtime: python\n", ""), "runtime: is missing"},
		{"wrong format", withManifest(t, "format: 1", "format: 2"), "format: is 2, want 1"},
		{"bad name", withManifest(t, "name: demo", "name: Demo Task"), `name: "Demo Task"`},
		{"bad version", withManifest(t, "version: 0.1.0", "version: v1"), `version: "v1"`},
		{"absolute prompt", withManifest(t, "prompt: PROMPT.md", "prompt: /etc/passwd"),
			`prompt: "/etc/passwd": path is absolute`},
		{"parent prompt", withManifest(t, "prompt: PROMPT.md", "prompt: ../PROMPT.md"),
			`prompt: "../PROMPT.md": path contains a ".." component`},
		{"parent starter", withManifest(t, "starter: starter", "starter: starter/../.."),
			`starter: "starter/../..": path contains a ".." component`},
		{"missing prompt file", withManifest(t, "prompt: PROMPT.md", "prompt: README.md"),
			`prompt: file "README.md" does not exist`},
		{"starter is a file", withManifest(t, "starter: starter", "starter: PROMPT.md"),
			`starter: directory "PROMPT.md" does not exist`},
		{"missing hidden dir", withManifest(t, "  hidden: hidden", "  hidden: secret"),
			`tests.hidden: directory "secret" does not exist`},
		{"hidden inside starter", withManifest(t, "  hidden: hidden", "  hidden: starter"),
			`tests.hidden: "starter" overlaps starter "starter"`},
		{"hidden inside visible", withManifest(t, "  hidden: hidden", "  hidden: visible/tests"),
			`overlaps tests.visible "visible"`},
		{"visible collides with starter", func() map[string]string {
			f := validFiles()
			f["starter/tests/test_a.py"] = "# clash\n"
			return f
		}(), `tests.visible: file "tests/test_a.py" is already a starter file`},
		{"empty command", withManifest(t, "  run: [python3, main.py]", "  run: []"),
			"commands.run: is missing"},
		{"empty argument", withManifest(t, "  run: [python3, main.py]", `  run: [python3, ""]`),
			"commands.run[1]: is empty"},
		{"memory too large", withManifest(t, "format: 1", "format: 1\nlimits:\n  memory: 64GiB"),
			"limits.memory: 64G is out of range [32M, 4G]"},
		{"wall time too short", withManifest(t, "format: 1", "format: 1\nlimits:\n  wall_time: 10ms"),
			"limits.wall_time: 10ms is out of range [1s, 10m0s]"},
		{"cpu time negative", withManifest(t, "format: 1", "format: 1\nlimits:\n  cpu_time: -5s"),
			"limits.cpu_time: -5s is out of range"},
		{"zero processes", withManifest(t, "format: 1", "format: 1\nlimits:\n  processes: 0"),
			"limits.processes: 0 is out of range [1, 1024]"},
		{"output too small", withManifest(t, "format: 1", "format: 1\nlimits:\n  output: 10"),
			"limits.output: 10 is out of range [1K, 64M]"},
		{"disk too large", withManifest(t, "format: 1", "format: 1\nlimits:\n  disk: 5GiB"),
			"limits.disk: 5G is out of range"},
		{"token budget without models", withManifest(t, "format: 1", "format: 1\nai:\n  token_budget: 100"),
			"ai.models: is empty but ai.token_budget is 100"},
		{"token budget too large", withManifest(t, "format: 1", "format: 1\nai:\n  token_budget: 99999999999\n  models: [m]"),
			"ai.token_budget: 99999999999 is out of range"},
		{"duplicate model", withManifest(t, "format: 1", "format: 1\nai:\n  models: [m, m]"),
			`ai.models[1]: "m" is listed twice`},
		{"empty rubric", withManifest(t, "rubric:\n  - id: correctness\n    description: Tests pass.\n    weight: 1\n", "rubric: []\n"),
			"rubric: is empty"},
		{"zero weight", withManifest(t, "weight: 1", "weight: 0"),
			"rubric[0].weight: 0 is out of range [1, 100]"},
		{"session too long", withManifest(t, "format: 1", "format: 1\nsession_duration: 9h"),
			"session_duration: 9h0m0s is out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseTree(mustTreeOf(t, tt.files))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseTree = %v, want error containing %q", err, tt.want)
			}
			if errs.KindOf(err) != errs.Invalid {
				t.Errorf("kind = %v, want invalid", errs.KindOf(err))
			}
			if !strings.Contains(errs.Message(err), tt.want) {
				t.Errorf("client message %q lacks %q", errs.Message(err), tt.want)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	files := withManifest(t,
		"runtime: python", "runtime: cobol",
		"prompt: PROMPT.md", "prompt: /abs",
		"weight: 1", "weight: 1000",
		"format: 1", "format: 1\nlimits:\n  memory: 1K\n  processes: 5000")
	_, err := ParseTree(mustTreeOf(t, files))
	var verr *ValidationError
	if !asValidation(err, &verr) {
		t.Fatalf("err = %v, want *ValidationError", err)
	}
	var fields []string
	for _, p := range verr.Problems {
		fields = append(fields, p.Field)
	}
	want := "runtime prompt limits.memory limits.processes rubric[0].weight"
	if got := strings.Join(fields, " "); got != want {
		t.Errorf("problem fields = %q, want %q", got, want)
	}
}

func asValidation(err error, target **ValidationError) bool {
	v, ok := err.(*ValidationError)
	*target = v
	return ok
}

// writeBundle writes files under a new directory and returns it.
func writeBundle(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, c := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestParseDirRejectsSymlinks(t *testing.T) {
	dir := writeBundle(t, validFiles())
	os.Symlink("/etc/passwd", filepath.Join(dir, "starter", "passwd"))
	_, err := ParseDir(dir)
	if err == nil || !strings.Contains(err.Error(), `"starter/passwd": symbolic links are not allowed`) {
		t.Fatalf("ParseDir = %v, want symlink error", err)
	}
}

func TestParseDirRejectsSymlinkedDirectory(t *testing.T) {
	dir := writeBundle(t, validFiles())
	outside := writeBundle(t, map[string]string{"secret": "x"})
	os.Symlink(outside, filepath.Join(dir, "hidden", "more"))
	_, err := ParseDir(dir)
	if err == nil || !strings.Contains(err.Error(), "symbolic links are not allowed") {
		t.Fatalf("ParseDir = %v, want symlink error", err)
	}
}

func TestParseRejectsFileOverSizeLimit(t *testing.T) {
	files := validFiles()
	files["starter/big.bin"] = strings.Repeat("x", workspace.DefaultFileBytes+1)
	if _, err := ParseDir(writeBundle(t, files)); err == nil ||
		!strings.Contains(err.Error(), `"starter/big.bin"`) ||
		!strings.Contains(err.Error(), "per-file limit") {
		t.Errorf("ParseDir = %v, want per-file limit error", err)
	}
	data := mustTarGz(t, files)
	if _, err := ParseArchive(bytes.NewReader(data)); err == nil ||
		!strings.Contains(err.Error(), "per-file limit") {
		t.Errorf("ParseArchive = %v, want per-file limit error", err)
	}
}

func TestParseRejectsBundleOverTotalLimit(t *testing.T) {
	files := validFiles()
	for i := range 6 {
		files["starter/blob"+string(rune('a'+i))] =
			strings.Repeat("y", workspace.DefaultFileBytes)
	}
	_, err := ParseArchive(bytes.NewReader(mustTarGz(t, files)))
	if err == nil || !strings.Contains(err.Error(), "bytes of files") {
		t.Fatalf("ParseArchive = %v, want total size error", err)
	}
	if errs.KindOf(err) != errs.TooLarge {
		t.Errorf("kind = %v, want too_large", errs.KindOf(err))
	}
}

func TestParseArchiveRejectsTraversal(t *testing.T) {
	files := validFiles()
	files["../escape.py"] = "x"
	_, err := ParseArchive(bytes.NewReader(rawTarGz(t, files)))
	if err == nil || !strings.Contains(err.Error(), `".."`) {
		t.Fatalf("ParseArchive = %v, want traversal error", err)
	}
}

// TestDigestIgnoresHowTheUploadWasMade tars the same bundle with GNU tar
// in two different ways (entry order, mtimes, owners, "./" prefixes) and
// checks the digest matches the directory's.
func TestDigestIgnoresHowTheUploadWasMade(t *testing.T) {
	if _, err := exec.LookPath("tar"); err != nil {
		t.Skip("tar is not installed")
	}
	dir := writeBundle(t, validFiles())
	want, err := ParseDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	runTar := func(args ...string) []byte {
		out, err := exec.CommandContext(t.Context(), "tar", args...).Output()
		if err != nil {
			t.Fatalf("tar %v: %v", args, err)
		}
		return out
	}
	a := runTar("-czf", "-", "-C", dir, "--sort=name", "--owner=7:7",
		"--mtime=2001-02-03", ".")
	// Touch every file to a new mtime and add an empty directory.
	later := time.Now().Add(time.Hour)
	filepath.Walk(dir, func(p string, _ os.FileInfo, _ error) error {
		return os.Chtimes(p, later, later)
	})
	os.Mkdir(filepath.Join(dir, "empty"), 0o755)
	b := runTar("-cf", "-", "-C", dir, "--format=pax", "hidden", "starter",
		"visible", "solutions", "PROMPT.md", ManifestFile, "empty")
	for i, data := range [][]byte{a, b} {
		got, err := ParseArchive(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("upload %d: %v", i, err)
		}
		if got.Digest() != want.Digest() {
			t.Errorf("upload %d digest %v, want %v", i, got.Digest(), want.Digest())
		}
	}
}

func TestArchiveIsCanonical(t *testing.T) {
	b, err := ParseTree(mustTreeOf(t, validFiles()))
	if err != nil {
		t.Fatal(err)
	}
	again, err := ParseArchive(bytes.NewReader(b.Archive()))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Archive(), b.Archive()) || again.Digest() != b.Digest() {
		t.Errorf("re-reading the canonical archive changed it")
	}
	if b.Digest().String() != digestOf(b.Archive()) {
		t.Errorf("digest is not the SHA-256 of the archive")
	}
}
