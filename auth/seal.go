package auth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"fmt"

	"github.com/devmesh/devmesh/internal/secret"
)

// sealLabel starts the associated data of every sealed signing key; with
// the kid after it, it binds a sealed key to its row, so a sealed key
// copied to another kid does not open. Stored: never change it.
const sealLabel = "devmesh signing key v1\x00"

func newAEAD(master secret.Bytes) (cipher.AEAD, error) {
	if master.Len() != MasterKeySize {
		return nil, fmt.Errorf("master key is %d bytes, want %d", master.Len(), MasterKeySize)
	}
	block, err := aes.NewCipher(master.Reveal())
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// seal encrypts plain for the key kid: base64url(nonce || ciphertext).
func seal(aead cipher.AEAD, kid string, plain []byte) (string, error) {
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal signing key: %w", err)
	}
	out := aead.Seal(nonce, nonce, plain, []byte(sealLabel+kid))
	return base64.RawURLEncoding.EncodeToString(out), nil
}

// unseal reverses seal; it fails if the master key, the kid or a single
// byte of the sealed text differs.
func unseal(aead cipher.AEAD, kid, sealed string) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil || len(b) < aead.NonceSize()+aead.Overhead() {
		return nil, fmt.Errorf("unseal signing key %q: malformed", kid)
	}
	n := aead.NonceSize()
	plain, err := aead.Open(nil, b[:n], b[n:], []byte(sealLabel+kid))
	if err != nil {
		return nil, fmt.Errorf("unseal signing key %q: wrong master key or altered key", kid)
	}
	return plain, nil
}
