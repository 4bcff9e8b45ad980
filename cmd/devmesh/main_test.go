package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/devmesh/devmesh/app"
	"github.com/devmesh/devmesh/audit"
	"github.com/devmesh/devmesh/config"
	"github.com/devmesh/devmesh/datadir"
)

func runCLI(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(t.Context(), args, strings.NewReader(stdin), &out, &errb, func(string) string { return "" })
	code = exitCode(err, &errb)
	return out.String(), errb.String(), code
}

func TestHelpListsEveryCommand(t *testing.T) {
	out, _, code := runCLI(t, "", "--help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, c := range commands() {
		if !strings.Contains(out, c.name) {
			t.Errorf("help does not mention %q", c.name)
		}
	}
}

func TestEachCommandHasHelp(t *testing.T) {
	for _, c := range commands() {
		out, errOut, code := runCLI(t, "", c.name, "--help")
		if code != 0 || !strings.Contains(out, "devmesh "+c.name) {
			t.Errorf("devmesh %s --help: exit %d, stdout %q, stderr %q", c.name, code, out, errOut)
		}
	}
}

func TestMistakesGetAHint(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown command", []string{"upp"}, "did you mean up"},
		{"unknown flag", []string{"up", "--dta", "x"}, "devmesh up --help"},
		{"unknown admin command", []string{"admin", "drop-everything"}, "create-recruiter"},
		{"missing flags", []string{"admin", "create-recruiter"}, "--org"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errOut, code := runCLI(t, "", tt.args...)
			if code != 2 || !strings.Contains(errOut, "hint:") || !strings.Contains(errOut, tt.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and a hint mentioning %q", code, errOut, tt.want)
			}
		})
	}
}

func TestCreateRecruiterReadsThePasswordFromStdin(t *testing.T) {
	dir := t.TempDir()
	args := []string{"admin", "create-recruiter", "--data", dir, "--org", "Acme", "--email", "ada@acme.example", "--role", "owner"}
	out, errOut, code := runCLI(t, "correct horse battery staple\n", args...)
	if code != 0 || !strings.Contains(out, "created owner ada@acme.example") || !strings.Contains(out, `created organisation "Acme"`) {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	_, errOut, code = runCLI(t, "short\n", append(args[:len(args)-4], "--email", "bob@acme.example", "--role", "viewer")...)
	if code == 0 || !strings.Contains(errOut, "password must be") {
		t.Fatalf("short password: exit %d, stderr %q", code, errOut)
	}
	_, errOut, code = runCLI(t, "", args...)
	if code == 0 || !strings.Contains(errOut, "no password on standard input") {
		t.Fatalf("no password: exit %d, stderr %q", code, errOut)
	}
}

func TestUpRefusesALockedDataDirectoryWithAHint(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	d, err := datadir.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	err = run(ctx, []string{"up", "--data", dir, "--addr", "127.0.0.1:0"}, strings.NewReader(""), &out, &errb, func(string) string { return "" })
	code := exitCode(err, &errb)
	if code == 0 || !strings.Contains(errb.String(), "data directory is locked") ||
		!strings.Contains(errb.String(), "hint: is another devmesh running with --data") {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
}

func TestKeysRotateAddsANewKeyEachTime(t *testing.T) {
	dir := t.TempDir()
	if _, errOut, code := runCLI(t, "", "migrate", "--data", dir); code != 0 {
		t.Fatalf("migrate: exit %d, %s", code, errOut)
	}
	out1, errOut, code := runCLI(t, "", "keys", "rotate", "--data", dir)
	if code != 0 || !strings.Contains(out1, "new signing key") {
		t.Fatalf("first rotate: exit %d, %q %q", code, out1, errOut)
	}
	out2, _, code := runCLI(t, "", "keys", "rotate", "--data", dir)
	if code != 0 || out2 == out1 {
		t.Fatalf("second rotate: exit %d, %q; want a different key than %q", code, out2, out1)
	}
}

func TestAuditAndReceiptVerifyOnAnEmbeddedDataDirectory(t *testing.T) {
	dir := t.TempDir()
	cfg := config.DefaultConfig()
	cfg.DataDir = dir
	ctx := t.Context()
	a, err := app.Open(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	var entries []audit.Entry
	for i := range 50 {
		entries = append(entries, audit.Entry{SubmissionID: "sub_cli", Kind: audit.KindTerminalInput,
			Actor: audit.ActorCandidate, Payload: []byte(fmt.Sprintf(`{"data":"ls %d"}`, i))})
	}
	if _, err := a.Audit.Append(ctx, entries...); err != nil {
		t.Fatal(err)
	}
	cp, err := a.Audit.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := audit.EventAt(ctx, a.DB, 7)
	if err != nil {
		t.Fatal(err)
	}
	rcpt, err := a.Audit.Receipt(ctx, ev, cp)
	if err != nil {
		t.Fatal(err)
	}
	vkey := a.LogSigner.VerifierKey()
	a.Close()

	out, errOut, code := runCLI(t, "", "audit", "verify", "--data", dir)
	if code != 0 || !strings.Contains(out, "ok: 50 events verified") {
		t.Fatalf("audit verify: exit %d, %q %q", code, out, errOut)
	}

	b, _ := json.Marshal(rcpt)
	file := filepath.Join(dir, "receipt.json")
	keyFile := filepath.Join(dir, "log.pub")
	os.WriteFile(file, b, 0o600)
	os.WriteFile(keyFile, []byte(vkey+"\n"), 0o600)
	out, errOut, code = runCLI(t, "", "receipt", "verify", file, "--key", keyFile)
	if code != 0 || !strings.Contains(out, "ok: 1 receipts verified") {
		t.Fatalf("receipt verify: exit %d, %q %q", code, out, errOut)
	}
	tampered := bytes.Replace(b, []byte("ls 7"), []byte("rm 7"), 1)
	if bytes.Equal(tampered, b) {
		t.Fatal("test did not tamper with the receipt")
	}
	os.WriteFile(file, tampered, 0o600)
	out, _, code = runCLI(t, "", "receipt", "verify", file, "--key", keyFile)
	if code == 0 || !strings.Contains(out, "FAIL") {
		t.Fatalf("tampered receipt: exit %d, %q; want a failure", code, out)
	}
}

func TestDemoDrivesAWholeAssessment(t *testing.T) {
	if os.Getuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("the demo needs root for the local sandbox, and CI runs as root")
		}
		t.Skip("the demo needs root for the local sandbox")
	}
	out, errOut, code := runCLI(t, "", "demo")
	if code != 0 || !strings.Contains(out, "every step checked") {
		t.Fatalf("demo: exit %d\n%s\n%s", code, out, errOut)
	}
	if strings.Contains(out, "FAIL") {
		t.Fatalf("demo printed a failed step:\n%s", out)
	}
}

func TestKeysRotateBlobKEK(t *testing.T) {
	dir := t.TempDir()
	if _, errOut, code := runCLI(t, "", "migrate", "--data", dir); code != 0 {
		t.Fatalf("migrate: exit %d, %s", code, errOut)
	}
	out, errOut, code := runCLI(t, "", "keys", "rotate-blob-kek", "--data", dir)
	if code != 0 || !strings.Contains(out, "local-2 now wraps") {
		t.Fatalf("rotate-blob-kek: exit %d, %q %q", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "keys", "blob-kek-2.key")); err != nil {
		t.Fatalf("new key file: %v", err)
	}
}

func TestRemoteDriversRefusePlaceholderImages(t *testing.T) {
	for _, driver := range []string{"kubernetes", "aca"} {
		env := map[string]string{"DEVMESH_SANDBOX_DRIVER": driver}
		var out, errb bytes.Buffer
		err := run(t.Context(), []string{"sandbox", "check"}, strings.NewReader(""), &out, &errb,
			func(k string) string { return env[k] })
		code := exitCode(err, &errb)
		if code == 0 || !strings.Contains(errb.String(), "sandbox.images: pin an image by digest for runtime go, node, python") {
			t.Errorf("%s: exit %d, stderr %q; want a refusal naming sandbox.images", driver, code, errb.String())
		}
	}
}
