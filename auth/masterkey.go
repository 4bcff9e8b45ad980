package auth

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/devmesh/devmesh/internal/secret"
)

// MasterKeyEnv names the environment variable that may hold the master
// key, base64-encoded, instead of a key file.
const MasterKeyEnv = "DEVMESH_MASTER_KEY"

// MasterKeySize is the length of the master key: an AES-256 key.
const MasterKeySize = 32

// MasterKey returns the master key from the environment variable
// MasterKeyEnv when getenv reports it set, and otherwise from the key file
// at path, creating the file on first start.
func MasterKey(path string, getenv func(string) string) (secret.Bytes, error) {
	if v := strings.TrimSpace(getenv(MasterKeyEnv)); v != "" {
		return parseMasterKey(v)
	}
	return LoadOrCreateMasterKey(path)
}

func parseMasterKey(v string) (secret.Bytes, error) {
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		b, err = base64.RawURLEncoding.DecodeString(v)
	}
	// The value is a secret: name the variable, never quote its content.
	if err != nil {
		return secret.Bytes{}, fmt.Errorf("invalid %s: not base64", MasterKeyEnv)
	}
	if len(b) != MasterKeySize {
		return secret.Bytes{}, fmt.Errorf("invalid %s: %d bytes, want %d",
			MasterKeyEnv, len(b), MasterKeySize)
	}
	return secret.NewBytes(b), nil
}

// LoadOrCreateMasterKey reads the 32-byte master key from the file at
// path, or, if there is no such file, creates it with 32 random bytes and
// mode 0600. It refuses a key file that other users may read or write,
// since whoever reads it can unseal every signing key.
func LoadOrCreateMasterKey(path string) (secret.Bytes, error) {
	key, err := readMasterKey(path)
	if errors.Is(err, fs.ErrNotExist) {
		key, err = createMasterKey(path)
		if errors.Is(err, fs.ErrExist) {
			// Another process created it between our read and create.
			key, err = readMasterKey(path)
		}
	}
	return key, err
}

func readMasterKey(path string) (secret.Bytes, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return secret.Bytes{}, fmt.Errorf("read master key %q: %w", path, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return secret.Bytes{}, fmt.Errorf("read master key %q: mode %04o lets other users read it; "+
			"hint: chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return secret.Bytes{}, fmt.Errorf("read master key %q: %w", path, err)
	}
	if len(b) != MasterKeySize {
		return secret.Bytes{}, fmt.Errorf("read master key %q: %d bytes, want %d",
			path, len(b), MasterKeySize)
	}
	return secret.NewBytes(b), nil
}

func createMasterKey(path string) (secret.Bytes, error) {
	b := make([]byte, MasterKeySize)
	if _, err := rand.Read(b); err != nil {
		return secret.Bytes{}, fmt.Errorf("create master key: %w", err)
	}
	// O_EXCL: never overwrite a key someone else just wrote; a replaced
	// master key would make every sealed signing key unreadable.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return secret.Bytes{}, fmt.Errorf("create master key %q: %w", path, err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return secret.Bytes{}, fmt.Errorf("create master key %q: %w", path, err)
	}
	return secret.NewBytes(b), nil
}
