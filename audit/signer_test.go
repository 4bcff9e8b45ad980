package audit

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadOrCreateSigner(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.key")
	s, err := LoadOrCreateSigner(path, "devmesh.example/log")
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	again, err := LoadOrCreateSigner(path, "devmesh.example/log")
	if err != nil || again.VerifierKey() != s.VerifierKey() {
		t.Fatalf("reloaded key %q, %v; want %q", again.VerifierKey(), err, s.VerifierKey())
	}
	if !strings.HasPrefix(s.VerifierKey(), "devmesh.example/log+") {
		t.Errorf("verifier key %q does not name the origin", s.VerifierKey())
	}
}

func TestLoadOrCreateSignerRefuses(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "log.key")
	if _, err := LoadOrCreateSigner(path, "devmesh.example/log"); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateSigner(path, "other.example/log"); err == nil {
		t.Error("a key for another origin was accepted")
	}
	for _, origin := range []string{"", "has space", "a+b"} {
		if _, err := LoadOrCreateSigner(filepath.Join(dir, "x.key"), origin); err == nil {
			t.Errorf("origin %q was accepted", origin)
		}
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadOrCreateSigner(path, "devmesh.example/log")
	if err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable key: %v, want a refusal with a hint", err)
	}
}

// TestSignerNeverPrintsKey: formatting or logging a signer shows only
// the public key.
func TestSignerNeverPrintsKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.key")
	s, err := LoadOrCreateSigner(path, "devmesh.example/log")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	private := strings.TrimSpace(string(raw))
	secretPart := private[strings.LastIndex(private, "+")+1:]
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("x", "signer", s)
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%+v", s), fmt.Sprintf("%#v", *s), logged.String()} {
		if strings.Contains(out, secretPart) || strings.Contains(out, "PRIVATE") {
			t.Errorf("output reveals the private key: %s", out)
		}
	}
}
