package audit

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"

	"github.com/devmesh/devmesh/internal/secret"
	"golang.org/x/mod/sumdb/note"
)

// Signer signs checkpoints with the log's Ed25519 note key. Its verifier
// key is public: receipts are checked against it.
type Signer struct {
	signer      note.Signer
	origin      string
	verifierKey string
}

// LoadOrCreateSigner reads the note signer key at path, or, when the file
// does not exist, generates a new key for origin and writes it there with
// mode 0600. The key's name is the origin, the first line of every
// checkpoint: a schema-less URL such as "devmesh.example.com/log". A key
// file whose name is not origin, or that others may read, is an error.
func LoadOrCreateSigner(path, origin string) (*Signer, error) {
	if err := checkOrigin(origin); err != nil {
		return nil, err
	}
	skey, err := readKeyFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		skey, err = createKeyFile(path, origin)
	}
	if err != nil {
		return nil, err
	}
	s, err := NewSigner(skey)
	if err != nil {
		return nil, fmt.Errorf("load log key %q: %w", path, err)
	}
	if s.origin != origin {
		return nil, fmt.Errorf("load log key %q: key is for origin %q, not %q", path, s.origin, origin)
	}
	return s, nil
}

// NewSigner returns a Signer for an encoded note signer key
// ("PRIVATE+KEY+<origin>+<hash>+<key>").
func NewSigner(skey secret.String) (*Signer, error) {
	ns, err := note.NewSigner(skey.Reveal())
	if err != nil {
		// The error of note.NewSigner does not include the key.
		return nil, fmt.Errorf("invalid signer key: %w", err)
	}
	// "PRIVATE+KEY+<name>+<hash>+<base64>": the base64 may hold '+'.
	parts := strings.SplitN(skey.Reveal(), "+", 5)
	raw, err := base64.StdEncoding.DecodeString(parts[len(parts)-1])
	if err != nil || len(raw) != 1+ed25519.SeedSize {
		return nil, errors.New("invalid signer key: not an Ed25519 key")
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(ns.Name(), pub)
	if err != nil {
		return nil, err
	}
	return &Signer{signer: ns, origin: ns.Name(), verifierKey: vkey}, nil
}

// Origin returns the log's origin line, the name of its key.
func (s *Signer) Origin() string { return s.origin }

// VerifierKey returns the public verifier key in note format
// ("<origin>+<hash>+<key>"), which receipts are checked against.
func (s *Signer) VerifierKey() string { return s.verifierKey }

func readKeyFile(path string) (secret.String, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return secret.String{}, err
	}
	// The key signs every checkpoint: a key others can read lets them
	// sign a forged history that verifies.
	if fi.Mode().Perm()&0o077 != 0 {
		return secret.String{}, fmt.Errorf("log key %q is readable by others (mode %o)\nhint: chmod 600 %s",
			path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return secret.String{}, fmt.Errorf("read log key: %w", err)
	}
	return secret.New(strings.TrimSpace(string(b))), nil
}

func createKeyFile(path, origin string) (secret.String, error) {
	skey, _, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		return secret.String{}, fmt.Errorf("generate log key: %w", err)
	}
	// O_EXCL: two processes starting at once must not both write a key.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return readKeyFile(path)
	}
	if err != nil {
		return secret.String{}, fmt.Errorf("create log key: %w", err)
	}
	if _, err := f.WriteString(skey + "\n"); err != nil {
		f.Close()
		return secret.String{}, fmt.Errorf("write log key %q: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return secret.String{}, fmt.Errorf("write log key %q: %w", path, err)
	}
	return secret.New(skey), f.Close()
}

// checkOrigin accepts what a note key name may hold: no spaces, no '+'.
func checkOrigin(origin string) error {
	if origin == "" {
		return errors.New("log origin is empty")
	}
	for _, r := range origin {
		if r <= ' ' || r == '+' || r >= 0x7f {
			return fmt.Errorf("invalid log origin %q: only printable ASCII without spaces or '+'", origin)
		}
	}
	return nil
}

// String names the key without revealing it.
func (s *Signer) String() string { return "log signer " + s.verifierKey }

// LogValue implements slog.LogValuer with the public key only.
func (s *Signer) LogValue() slog.Value { return slog.StringValue(s.String()) }
