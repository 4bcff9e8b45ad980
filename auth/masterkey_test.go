package auth

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMasterKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	first, err := LoadOrCreateMasterKey(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 || first.Len() != MasterKeySize {
		t.Fatalf("key file mode %v, key %d bytes, err %v; want 0600 and 32", fi.Mode().Perm(), first.Len(), err)
	}
	again, err := LoadOrCreateMasterKey(path)
	if err != nil || !bytes.Equal(again.Reveal(), first.Reveal()) {
		t.Fatalf("second load returned another key (err %v)", err)
	}
}

func TestMasterKeyFileRefusals(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		content []byte
		mode    os.FileMode
		want    string
	}{
		{"readable by others", bytes.Repeat([]byte{1}, 32), 0o644, "other users"},
		{"too short", []byte("short"), 0o600, "want 32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_"))
			if err := os.WriteFile(path, tt.content, tt.mode); err != nil {
				t.Fatal(err)
			}
			os.Chmod(path, tt.mode)
			_, err := LoadOrCreateMasterKey(path)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}

func TestMasterKeyFromEnvironment(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	env := func(v string) func(string) string {
		return func(name string) string {
			if name == MasterKeyEnv {
				return v
			}
			return ""
		}
	}
	path := filepath.Join(t.TempDir(), "unused.key")
	got, err := MasterKey(path, env(base64.StdEncoding.EncodeToString(key)))
	if err != nil || !bytes.Equal(got.Reveal(), key) {
		t.Fatalf("MasterKey from env: %v", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Error("a key file was created although the environment held the key")
	}
	secretText := base64.StdEncoding.EncodeToString(key[:16])
	_, err = MasterKey(path, env(secretText))
	if err == nil || strings.Contains(err.Error(), secretText) {
		t.Errorf("short env key: got %v, want an error that does not echo the value", err)
	}
	if _, err := MasterKey(path, env("")); err != nil {
		t.Errorf("no env key: %v, want a new key file", err)
	}
}
