package kek

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"gocloud.dev/secrets"
	"gocloud.dev/secrets/localsecrets"

	"github.com/devmesh/devmesh/internal/errs"
)

// keyFileMode is the only mode a key file may have: a key readable by
// other users is a key that has leaked.
const keyFileMode = 0o600

// LoadOrCreateFile returns a keeper over the 32-byte key in path,
// creating the file (mode 0600, base64 text) with a key from rand if it
// does not exist. It refuses a key file that group or others can access,
// and one that does not hold exactly 32 bytes of key.
func LoadOrCreateFile(path string, rand io.Reader) (*secrets.Keeper, error) {
	key, err := readKeyFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key, err = createKeyFile(path, rand)
	}
	if err != nil {
		return nil, err
	}
	return localsecrets.NewKeeper(key), nil
}

func readKeyFile(path string) ([32]byte, error) {
	var key [32]byte
	fi, err := os.Stat(path)
	if err != nil {
		return key, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return key, errs.E(errs.Invalid,
			"key file %q has mode %v: want %v (hint: chmod 600 %s)",
			path, fi.Mode().Perm(), fs.FileMode(keyFileMode), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return key, fmt.Errorf("read key file %q: %w", path, err)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	clear(b)
	if err != nil || len(raw) != len(key) {
		return key, errs.E(errs.Invalid, "key file %q: want 32 bytes in base64", path)
	}
	copy(key[:], raw)
	clear(raw)
	return key, nil
}

// createKeyFile writes a new key to a temporary file and links it into
// place, so two processes starting at once cannot each use a different
// key, and neither can read a half-written file: the loser of the link
// reads the winner's key.
func createKeyFile(path string, rand io.Reader) ([32]byte, error) {
	var key [32]byte
	if _, err := io.ReadFull(rand, key[:]); err != nil {
		return key, fmt.Errorf("create key file %q: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-key-*")
	if err != nil {
		return key, fmt.Errorf("create key file %q: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	err = tmp.Chmod(keyFileMode)
	if err == nil {
		_, err = tmp.WriteString(base64.StdEncoding.EncodeToString(key[:]) + "\n")
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(tmp.Name(), path)
	}
	if errors.Is(err, fs.ErrExist) {
		return readKeyFile(path)
	}
	if err != nil {
		return key, fmt.Errorf("create key file %q: %w", path, err)
	}
	return key, nil
}
